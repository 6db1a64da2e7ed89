"""`cgman list [GROUP...] [--json]`, libcgroup's lscgroup as a tree of cgman's groups.

Every cgroup below cgman's base (or below each GROUP), in every hierarchy,
shown once with the controllers it has: on cgroup v1 those of the
hierarchies it exists in, on cgroup v2 those enabled for it (its
cgroup.controllers). Groups the configuration declares are marked; the
others were made by hand or by `cgman create`, or are kept because they
hold processes. cgman's own leaves at the top (anchor, supervisor) are left
out.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Dict, List, Set

    from cgmand.roots import Roots

from cgmand.errors import CgmanError, ExitCode
from cgmand.verbs import UsageError, guarded, options

USAGE = """usage: cgman [ROOT OPTIONS] list [--json] [GROUP...]

Show cgman's groups (or those at and below each GROUP) as a tree, with the
controllers each has; groups the configuration declares are marked "*"."""


def main(argv: List[str], roots: Roots) -> int:
    return guarded("list", USAGE, lambda: _list(argv, roots))


def _list(argv: List[str], roots: Roots) -> int:
    as_json = "--json" in argv  # flags may follow the groups here: nothing is run after them
    groups, _given, rest = options([a for a in argv if a != "--json"], {})
    if groups:
        raise UsageError("list takes group paths, not -g", hint="cgman list web")
    found = collect(roots, rest)
    if as_json:
        import json

        print(json.dumps({"groups": found}, indent=2))
    else:
        print(render(found))
    return ExitCode.OK


def collect(roots: Roots, tops: List[str]) -> List[dict]:
    """[{"group", "controllers", "declared"}] in tree order; ``tops``: subtrees to show."""
    from cgmand.kernel import attach
    from cgmand.kernel.cgroupfs import CgroupFS
    from cgmand.model import RESERVED_TOP
    from cgmand.paths import join, validate_group_name
    from cgmand.verbs.execute import host

    here = host(roots)
    try:
        names = [validate_group_name(top) for top in tops]
    except ValueError as err:
        raise UsageError(f"invalid group path: {err}") from None
    controllers: Dict[str, Set[str]] = {}
    for hierarchy in here.hierarchies:
        fs = CgroupFS(hierarchy)
        for top in names or [""]:
            start = join(here.base, top) if top else here.base
            if not fs.exists(start):
                continue
            for path in fs.subtree(start):
                name = path[len(here.base):].lstrip("/") if here.base != "/" else path.lstrip("/")
                if not name or name.split("/")[0] in RESERVED_TOP or "/." in "/" + name:
                    continue  # cgman's own leaves, systemd's .control
                have = controllers.setdefault(name, set())
                if hierarchy.version == 1:
                    have.update(hierarchy.controllers)
                else:
                    have.update(fs.read(path, "cgroup.controllers").split())
    missing = [top for top in names if top not in controllers]
    if missing:
        raise attach.AttachError(f"no group {join(here.base, missing[0])} in any hierarchy",
                                 reference="group-missing")
    declared = _declared(roots)
    return [{"group": name, "controllers": sorted(controllers[name]), "declared": name in declared}
            for name in sorted(controllers, key=lambda n: n.split("/"))]


def _declared(roots: Roots) -> Set[str]:
    from cgmand import configcache

    try:
        return set(configcache.for_verbs(roots).groups)
    except CgmanError:  # an invalid configuration declares nothing; list still lists
        return set()


def render(found: List[dict]) -> str:
    if not found:
        return "No groups."
    lines = []
    for row in found:
        depth = row["group"].count("/")
        leaf = row["group"].rsplit("/", 1)[-1]
        mark = "*" if row["declared"] else " "
        lines.append(f"{mark} {'  ' * depth}{leaf}  [{' '.join(row['controllers'])}]")
    return "\n".join(lines)
