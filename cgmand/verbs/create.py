"""`cgman create [-a U:G] [-t U:G] [-d MODE] [-f MODE] [-s MODE] -g CONTROLLERS:PATH...`, cgcreate.

The group is made in the hierarchies of the controllers named (and its
mirrors), with its missing ancestors, through the same layout and planner as
the configuration: on cgroup v2 each parent gets `+controller` in its
cgroup.subtree_control top-down (never a `-`: create takes nothing away from
other groups), and on v1 new cpusets get their parent's cpus and mems. The
ownership options are cgconfig's `perm`, read as a `[group.X.perm]` table
would be (user and group names or numbers; octal modes): -a owns the group
and its files, -t the files that take processes, -d/-f/-s the modes of the
directory, the files and the process files.

A group made this way is not cgman's to remove: the record of what cgman
created (which `apply` and cgmand remove when the configuration no longer
has them) does not list it. `cgman delete` removes it.
"""

from __future__ import annotations

import sys
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Dict, List, Tuple

    from cgmand.roots import Roots

from cgmand.errors import ConfigErrors, ExitCode
from cgmand.verbs import UsageError, guarded, options

USAGE = """usage: cgman [ROOT OPTIONS] create [-a USER:GROUP] [-t USER:GROUP] [-d MODE] [-f MODE] [-s MODE]
                                    -g CONTROLLERS:PATH [-g ...]

Create groups (and missing ancestors) in the hierarchies of CONTROLLERS. -a: owner of
the group and its files; -t: owner of the files that take processes; -d, -f, -s:
modes of the directory, its files, and the process files (octal, as chmod)."""

VALUED = {"-a": "admin", "-t": "task", "-d": "dperm", "-f": "fperm", "-s": "tperm"}


def main(argv: List[str], roots: Roots) -> int:
    return guarded("create", USAGE, lambda: _create(argv, roots))


def parse(argv: List[str]) -> Tuple[List[str], Dict[str, str]]:
    """(-g specs, ownership options by name)."""
    given: Dict[str, str] = {}
    rest: List[str] = []
    index = 0
    while index < len(argv):  # the valued options first; -g and the rest as the other verbs
        arg = argv[index]
        if arg in VALUED:
            if index + 1 == len(argv):
                raise UsageError(f"{arg} needs a value")
            given[VALUED[arg]] = argv[index + 1]
            index += 2
            continue
        if arg[:2] in VALUED and len(arg) > 2:  # joined, as getopt takes it: -a0:0, -d755
            given[VALUED[arg[:2]]] = arg[2:]
            index += 1
            continue
        rest.append(arg)
        index += 1
    groups, _flags, extra = options(rest, {})
    if extra:
        raise UsageError(f"unexpected argument {extra[0]}", hint="name groups with -g CONTROLLERS:PATH")
    if not groups:
        raise UsageError("no group given", hint="cgman create -g cpu,memory:web")
    return groups, given


def _perm_toml(given: Dict[str, str]) -> str:
    """The ownership options as a TOML perm table's body (validated by config.parse)."""
    import json

    def owner(text: str, option: str) -> Dict[str, object]:
        user, colon, group = text.partition(":")
        if not colon:
            raise UsageError(f"-{option} {text}: expected USER:GROUP (either may be empty)")
        out: Dict[str, object] = {}
        for key, value in (("uid", user), ("gid", group)):
            if value:
                out[key] = int(value) if value.isdigit() else value
        return out

    admin = owner(given["admin"], "a") if "admin" in given else {}
    task = owner(given["task"], "t") if "task" in given else {}
    for key, option, table in (("dperm", "dperm", admin), ("fperm", "fperm", admin), ("tperm", "fperm", task)):
        if key in given:
            table[option] = given[key]

    def inline(table: Dict[str, object]) -> str:
        return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in table.items()) + " }"

    parts = [f"admin = {inline(admin)}" if admin else "", f"task = {inline(task)}" if task else ""]
    return ", ".join(p for p in parts if p)


def desired_of(specs, given: Dict[str, str], host, roots: Roots):
    """The groups to create, read as a configuration file would read them."""
    from cgmand import config
    from cgmand.model import DesiredState

    perm = _perm_toml(given)
    lines = []
    for spec in specs:
        if not spec.group:
            raise UsageError("cgman's base is not a group to create")
        # "*": every hierarchy. On cgroup2 that is the group itself (every group is
        # mirrored there), not every controller the root offers.
        names = spec.controllers if spec.controllers is not None else \
            {c for h in host.hierarchies if h.version == 1 for c in h.controllers}
        lines.append(f'[group."{spec.group}"]\n' + "".join(f"{c} = {{}}\n" for c in sorted(names))
                     + (f"perm = {{ {perm} }}\n" if perm else ""))
    fragment = config.parse("".join(lines), "command line")
    if fragment.errors:
        raise UsageError("\n".join(e.render() for e in fragment.errors))
    from cgmand import configcache

    manager = configcache.for_verbs(roots).manager
    return DesiredState(manager, {g.name: g for g in fragment.groups})


def _create(argv: List[str], roots: Roots) -> int:
    from cgmand import configcache, plan as planner, reconcile, targets
    from cgmand.hierarchy import layout
    from cgmand.kernel import hostinfo, record

    texts, given = parse(argv)
    specs = [targets.parse(text) for text in texts]
    manager = configcache.for_verbs(roots).manager
    host = hostinfo.detect(manager, roots)
    desired = desired_of(specs, given, host, roots)
    try:
        laid = layout.build(desired, host)
    except ConfigErrors as err:
        raise UsageError("\n".join(e.render() for e in err.errors)) from None
    with record.locked(roots.run_root):
        fss = reconcile.filesystems(host)
        made = planner.make(laid, reconcile.observe(laid, {}, fss), {})
        # Never a controller taken away: the partial view sees only these groups.
        made.actions = [a for a in made.actions if a.verb != planner.DISABLE]
        report = reconcile.apply(reconcile.check(made, fss, applying=True), fss, {})
    problems = [f"{o.action.describe()}: {o.message}" for o in report.outcomes if o.status != reconcile.OK]
    problems += [f"{n.hierarchy}:{n.path}: {n.message}" for n in report.notices]
    for problem in problems:
        print(f"cgman create: {problem}", file=sys.stderr)
    return ExitCode.FAILED if problems else ExitCode.OK
