"""`cgman delete [-r] [-g] CONTROLLERS:PATH...`, libcgroup's cgdelete, without its bug.

The group goes from every hierarchy the -g names (with `*`, every one it is
in) and from its mirrors: libcgroup 2.0.2 removes only the first listed
controller's and exits 0 (research/libcgroup.md §3.2). Processes in it move
to the parent first, as cgdelete does; with -r its child groups go too,
deepest first, their processes moving up to the group's parent. Without -r,
a group with child groups is refused. On cgroup v2 a parent that enables
domain controllers for its children cannot hold processes (the
no-internal-process rule; threaded controllers are exempt only while no
child group holds processes): the group is then kept and the reason given.

A group the configuration declares is refused: cgman keeps the kernel equal
to the files, so the way to delete it is to remove it from them (cgmand, or
cgman apply, then removes it once it is empty). Each hierarchy is handled on
its own; one failure never stops the others.
"""

from __future__ import annotations

import errno
import sys
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import List

    from cgmand.roots import Roots

from cgmand.errors import CgmanError, ExitCode
from cgmand.verbs import UsageError, guarded, options

USAGE = """usage: cgman [ROOT OPTIONS] delete [-r] [-g] CONTROLLERS:PATH...

Remove the group from the hierarchies of CONTROLLERS ("*": all it is in) and
its mirrors; its processes move to the parent. -r: its child groups too."""


def main(argv: List[str], roots: Roots) -> int:
    return guarded("delete", USAGE, lambda: _delete(argv, roots))


def parse(argv: List[str]):
    """(specs, -r); cgdelete takes the specs with or without -g, and options anywhere."""
    recursive = any(arg in ("-r", "--recursive") for arg in argv)
    groups: List[str] = []
    rest = [a for a in argv if a not in ("-r", "--recursive")]
    while rest:
        found, _given, rest = options(rest, {})
        groups += found
        if rest:  # a bare spec, then maybe more options
            groups.append(rest.pop(0))
    if not groups:
        raise UsageError("no group given", hint="cgman delete cpu,memory:web")
    return groups, recursive


def _delete(argv: List[str], roots: Roots) -> int:
    from cgmand import targets
    from cgmand.verbs.execute import host

    texts, recursive = parse(argv)
    specs = [targets.parse(text) for text in texts]
    declared = _declared(roots)
    for spec in specs:
        inside = sorted(name for name in declared if name == spec.group or name.startswith(spec.group + "/"))
        if spec.group and inside:
            raise CgmanError(f"{inside[0]} is declared in {declared[inside[0]]}: cgman keeps it",
                             reference="group-declared",
                             hint="remove it from the configuration; cgmand (or cgman apply) then removes it "
                                  "once it is empty")
        if not spec.group:
            raise UsageError("cgman's base is not a group to delete")
    here = host(roots)
    # One writer at a time: apply or cgmand must not plan against a tree this is removing.
    # A user (deleting a v1 group cgman create gave them) cannot take root's lock: goes on.
    import contextlib
    import os

    from cgmand.kernel import record

    with record.locked(roots.run_root) if os.geteuid() == 0 else contextlib.nullcontext():
        return _remove_all(specs, here, recursive)


def _remove_all(specs, here, recursive: bool) -> int:
    from cgmand import targets

    failed = False
    for spec in specs:
        chosen = [t for t in targets.resolve(here, [spec]) if _exists(t)]
        if not chosen:
            print(f"cgman delete: no group {spec.group} in any hierarchy -g {spec.text} names", file=sys.stderr)
            failed = True
        # Without -r, a child group anywhere refuses the whole group: not deleted in half
        # of its hierarchies.
        busy = [] if recursive else [t for t in chosen if _children(t)]
        for target in busy:
            shown = ", ".join(p.rsplit("/", 1)[1] for p in _children(target)[:3])
            print(f"cgman delete: {target.path} ({target.hierarchy.key}) has child groups ({shown}); use -r",
                  file=sys.stderr)
        for target in [] if busy else chosen:
            problem = remove(target)
            if problem:
                print(f"cgman delete: {problem}", file=sys.stderr)
        failed = failed or bool(busy) or any(_exists(t) for t in chosen)
    return ExitCode.FAILED if failed else ExitCode.OK


def _children(target) -> List[str]:
    from cgmand.kernel.cgroupfs import CgroupFS

    return CgroupFS(target.hierarchy).children(target.path)


def _exists(target) -> bool:
    from cgmand.kernel.cgroupfs import CgroupFS

    return CgroupFS(target.hierarchy).exists(target.path)


def remove(target) -> str:
    """Remove one group and what is below it in one hierarchy; "" when done, else why not."""
    from cgmand.errors import KernelError, ProcessGone
    from cgmand.kernel.cgroupfs import CgroupFS
    from cgmand.paths import parent_of

    fs = CgroupFS(target.hierarchy)
    below = fs.subtree(target.path)
    parent = parent_of(target.path)
    for path in reversed(below):  # deepest first
        try:
            for pid in fs.pids(path):
                try:
                    fs.write(parent, "cgroup.procs", str(pid))
                except ProcessGone:
                    continue
            fs.rmdir(path)
        except KernelError as err:
            if target.hierarchy.version == 2 and err.op == "write" and err.errno == errno.EBUSY:
                return (f"cannot move the processes of {path} ({target.hierarchy.key}) to {parent}: it enables "
                        "controllers for its children, so it holds no processes (no-internal-process rule); "
                        "move or stop them first")
            return f"cannot remove {path} ({target.hierarchy.key}): {err.message}"
    return ""


def _declared(roots: Roots) -> dict:
    from cgmand import configcache

    try:
        groups = configcache.for_verbs(roots).groups
    except CgmanError:  # an invalid configuration: no group is protected by it
        return {}
    return {name: spec.source for name, spec in groups.items()}
