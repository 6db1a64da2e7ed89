"""`cgman set [--force] (-r KNOB=VALUE)... GROUP...`, libcgroup's cgset, through cgman's own path.

Each -r is read exactly as the same key in a TOML file would be: the same
knob table, the same value types and errors, the same conversions (`-r
cpu.shares=512` on cgroup v2 writes `cpu.weight = 50`), and the same
planner orders the writes (v1 cpuset, CFS quota/period and memsw rules) and
guards them (lowering a memory limit below use needs --force). VALUE is a
number if it looks like one, else text, as it would be written in TOML.

set changes values only: a group missing in a hierarchy the knob needs, or
one whose parent does not enable the knob's controller for it (cgroup v2),
is refused, not created or enabled. A value set on a group the configuration
declares is applied, with a warning: cgmand puts the configured value back
at its next drift check (or reload).
"""

from __future__ import annotations

import sys
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import List, Tuple

    from cgmand.roots import Roots

from cgmand.errors import CgmanError, ConfigErrors, ExitCode
from cgmand.verbs import UsageError, guarded

USAGE = """usage: cgman [ROOT OPTIONS] set [--force] -r KNOB=VALUE [-r ...] GROUP...

Set knobs of existing groups, validated and converted as in /etc/cgman
(-r cpu.shares=512 writes cpu.weight = 50 on cgroup v2). --force: allow a
memory limit below current use."""


def main(argv: List[str], roots: Roots) -> int:
    return guarded("set", USAGE, lambda: _set(argv, roots))


def parse(argv: List[str]) -> Tuple[List[Tuple[str, str]], List[str], bool]:
    """(KNOB, VALUE) pairs, groups, --force; options in any order."""
    from cgmand.verbs import Help

    pairs: List[Tuple[str, str]] = []
    groups: List[str] = []
    force = False
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "-r":
            if index + 1 == len(argv):
                raise UsageError("-r needs KNOB=VALUE")
            knob, eq, value = argv[index + 1].partition("=")
            if not eq or not knob or value == "":
                raise UsageError(f"-r {argv[index + 1]}: expected KNOB=VALUE, such as cpu.weight=200")
            if any(knob == known for known, _ in pairs):
                raise UsageError(f"-r {knob} is given twice")
            pairs.append((knob, value))
            index += 2
            continue
        if arg == "--force":
            force = True
        elif arg in ("-h", "--help"):
            raise Help()
        elif arg == "--copy-from":
            raise UsageError("--copy-from is not supported yet", hint="name the knobs with -r")
        elif arg.startswith("-"):
            raise UsageError(f"unknown option {arg}")
        else:
            groups.append(arg)
        index += 1
    if not pairs:
        raise UsageError("no -r KNOB=VALUE given")
    if not groups:
        raise UsageError("no group given", hint="cgman set -r cpu.weight=200 web")
    return pairs, groups, force


def _literal(value: str) -> str:
    """VALUE as TOML would hold it: an integer or a boolean when it is one, else a string."""
    import json

    text = value.strip()
    digits = text[1:] if text.startswith("-") else text
    if digits.isascii() and digits.isdigit():
        return str(int(text))  # 0100 is 100, as a shell user means it (TOML has no leading zeros)
    if text in ("true", "false"):
        return text
    return json.dumps(value)


def desired_of(pairs, groups, roots: Roots):
    """The groups with these knobs, validated as a configuration file would be."""
    from cgmand import config, configcache
    from cgmand.model import DesiredState

    from cgmand.paths import validate_group_name

    for group in groups:
        try:
            validate_group_name(group)
        except ValueError as err:
            raise UsageError(f"invalid group path {group}: {err}") from None
    text = "".join(f"[group.{_quoted(g)}]\n" + "".join(f"{_quoted(k)} = {_literal(v)}\n" for k, v in pairs)
                   for g in groups)
    fragment = config.parse(text, "command line")
    if fragment.errors:
        raise UsageError("\n".join(e.render() for e in fragment.errors))
    manager = configcache.load(roots.config_dir, f"{roots.run_root}/cgman").manager
    return DesiredState(manager, {g.name: g for g in fragment.groups})


def _quoted(knob: str) -> str:
    import json

    return json.dumps(knob)  # a quoted TOML key: "cpu.weight", not a dotted cpu.weight table


def _set(argv: List[str], roots: Roots) -> int:
    from cgmand import plan as planner, reconcile
    from cgmand.hierarchy import layout
    from cgmand.kernel import hostinfo, record, snapshot

    pairs, groups, force = parse(argv)
    desired = desired_of(pairs, groups, roots)
    host = hostinfo.detect(desired.manager, roots)
    try:
        laid = layout.build(desired, host)
    except ConfigErrors as err:
        raise UsageError("\n".join(e.render() for e in err.errors)) from None
    # Only the hierarchies the knobs live in: the layout also mirrors every group in the
    # cgroup2 mount (with nothing to set there), and set creates nothing.
    laid.targets = [t for t in laid.targets if any(n.group and n.settings for n in t.nodes.values())]
    fss = reconcile.filesystems(host)
    paths = {node.path for target in laid.targets for node in target.nodes.values() if node.group}
    for target in laid.targets:
        for node in target.nodes.values():
            if node.group and not fss[target.hierarchy.key].exists(node.path):
                raise _missing(node.path, target.hierarchy.key)
    with record.locked(roots.run_root):
        made = _writes_only(planner.make(laid, reconcile.observe(laid, {}, fss), {}, force=force), paths)
        report = reconcile.apply(reconcile.check(made, fss, applying=True), fss, {})
        if report.outcomes:
            snapshot.forget(roots)
    _warn_declared(desired, roots)
    problems = [f"{o.action.describe()}: {o.message}" for o in report.outcomes if o.status != reconcile.OK]
    problems += [f"{n.hierarchy}:{n.path}: {n.message}" for n in report.notices]
    for problem in problems:
        print(f"cgman set: {problem}", file=sys.stderr)
    return ExitCode.FAILED if problems else ExitCode.OK


def _writes_only(made, paths):
    """The plan's writes to the named groups. The layout holds only these groups, so the
    planner also plans their cgroup.subtree_control as if they had no children, and
    their parents' as if these were their only ones: none of that is set's business.
    A write that waits on a mkdir or a controller enable means the group lacks what
    the knob needs: refused."""
    from cgmand import plan as planner

    writes = [a for a in made.actions if a.verb == planner.WRITE and a.path in paths]
    needed = {a.id for a in made.actions if a.verb in (planner.MKDIR, planner.ENABLE, planner.EVACUATE)}
    if any(needed.intersection(a.after) for a in writes) or any(
            a.verb == planner.ENABLE and a.path not in paths for a in made.actions if a.id in needed):
        raise CgmanError("the group's parent does not enable the controller of a knob given for it; "
                         "set changes values only", reference="controller-not-enabled",
                         hint="declare the group in /etc/cgman with that knob, then cgman apply")
    made.actions = writes
    made.notices = [n for n in made.notices if n.path in paths]
    return made


def _missing(path: str, key: str) -> CgmanError:
    from cgmand.kernel.attach import AttachError

    return AttachError(f"no group {path} in the {key} hierarchy, which the knobs given need",
                       reference="group-missing", hint="set changes values only: create the group there first")


def _warn_declared(desired, roots: Roots) -> None:
    from cgmand import configcache

    try:
        declared = configcache.load(roots.config_dir, f"{roots.run_root}/cgman").groups
    except CgmanError:
        return
    for name in desired.groups:
        if name in declared:
            print(f"cgman set: warning: {name} is declared in {declared[name].source}; cgmand puts its "
                  "configured values back at the next drift check or reload", file=sys.stderr)
