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

import os
import sys
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import List, Tuple

    from cgmand.roots import Roots

from cgmand.errors import CgmanError, ConfigErrors, ExitCode
from cgmand.verbs import UsageError, guarded

USAGE = """usage: cgman [ROOT OPTIONS] set [--force] [-R] -r KNOB=VALUE [-r ...] GROUP...
       cgman [ROOT OPTIONS] set [--force] [-R] --copy-from SOURCE GROUP...

Set knobs of existing groups, validated and converted as in /etc/cgman
(-r cpu.shares=512 writes cpu.weight = 50 on cgroup v2). --copy-from: every
knob SOURCE has, at its value. -R: the groups below too. --force: allow a
memory limit below current use."""


def main(argv: List[str], roots: Roots) -> int:
    return guarded("set", USAGE, lambda: _set(argv, roots))


class Command:
    """What a set command line asks: (KNOB, VALUE) pairs or a group to copy from,
    the groups, --force, -R."""

    __slots__ = ("pairs", "groups", "force", "source", "recursive")

    def __init__(self, pairs, groups, force=False, source=None, recursive=False):
        self.pairs, self.groups, self.force, self.source, self.recursive = pairs, groups, force, source, recursive

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Command) and all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __repr__(self) -> str:
        return "Command(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__) + ")"


def parse(argv: List[str]) -> Command:
    """Options in any order; -r KNOB=VALUE also joined (-rKNOB=VALUE), as getopt takes it."""
    from cgmand.verbs import Help

    pairs: List[Tuple[str, str]] = []
    groups: List[str] = []
    force = recursive = False
    source = None
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg in ("-r", "--copy-from") or arg.startswith("-r") or arg.startswith("--copy-from="):
            if arg in ("-r", "--copy-from"):
                if index + 1 == len(argv):
                    raise UsageError("-r needs KNOB=VALUE" if arg == "-r" else "--copy-from needs a group")
                value, index = argv[index + 1], index + 2
            else:
                value, index = arg[2:] if arg.startswith("-r") else arg.partition("=")[2], index + 1
            if arg.startswith("--copy-from"):
                if source is not None:
                    raise UsageError("--copy-from is given twice")
                source = value
                continue
            knob, eq, setting = value.partition("=")
            if not eq or not knob or setting == "":
                raise UsageError(f"-r {value}: expected KNOB=VALUE, such as cpu.weight=200")
            if any(knob == known for known, _ in pairs):
                raise UsageError(f"-r {knob} is given twice")
            pairs.append((knob, setting))
            continue
        if arg == "--force":
            force = True
        elif arg in ("-R", "--recursive"):
            recursive = True
        elif arg in ("-h", "--help"):
            raise Help()
        elif arg.startswith("-"):
            raise UsageError(f"unknown option {arg}")
        else:
            groups.append(arg)
        index += 1
    if pairs and source is not None:
        raise UsageError("-r and --copy-from exclude each other (as in cgset)")
    if not pairs and source is None:
        raise UsageError("no -r KNOB=VALUE given", hint="or --copy-from GROUP")
    if not groups:
        raise UsageError("no group given", hint="cgman set -r cpu.weight=200 web")
    return Command(pairs, groups, force, source, recursive)


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
    manager = configcache.for_verbs(roots).manager
    return DesiredState(manager, {g.name: g for g in fragment.groups})


def _quoted(knob: str) -> str:
    import json

    return json.dumps(knob)  # a quoted TOML key: "cpu.weight", not a dotted cpu.weight table


def _set(argv: List[str], roots: Roots) -> int:
    from cgmand import configcache, plan as planner, reconcile
    from cgmand.hierarchy import layout
    from cgmand.kernel import hostinfo, record, snapshot

    command = parse(argv)
    if command.source is not None:
        host = hostinfo.detect(configcache.for_verbs(roots).manager, roots)
        desired = copied(command.source, command.groups, host, roots)
    else:
        desired = desired_of(command.pairs, command.groups, roots)
        host = hostinfo.detect(desired.manager, roots)
    if command.recursive:
        desired = _with_descendants(desired, host)
    force = command.force
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


# Another view of a knob copied anyway: cpu.weight.nice is cpu.weight in nice steps
# (cgroup-v2.rst), and writing it after cpu.weight would round that.
DERIVED = {"cpu.weight.nice"}


def copied(source: str, groups: List[str], host, roots: Roots):
    """cgset --copy-from: the groups with every knob of the configuration's table that
    ``source`` has on this host, at its value there (in each hierarchy it exists in).
    A knob a group has no file for (not in that hierarchy; on cgroup v2, its controller
    not enabled for it) is left out, with a note."""
    from cgmand import configcache, knobs, reconcile
    from cgmand.model import DesiredState, GroupSpec
    from cgmand.paths import join, validate_group_name

    for name in [source] + groups:
        try:
            validate_group_name(name)
        except ValueError as err:
            raise UsageError(f"invalid group path {name}: {err}") from None
    fss = reconcile.filesystems(host)
    values: dict = {}  # knob -> (hierarchy key, value)
    skipped: list = []
    for key, fs in fss.items():
        path = join(host.base, source)
        if not fs.exists(path):
            continue
        for name in sorted(fs.files(path)):
            known = knobs.lookup(name)
            if known is None or known[1] not in (0, fs.hierarchy.version) or name in values or name in DERIVED:
                continue  # 0: a knob with the same name in both versions
            # The kernel's spelling is read as the planner reads it ("default 500" in
            # io.weight), by the file's own type where the table has one.
            reader = knobs.reset_setting(name, fs.hierarchy.version, os.sysconf("SC_PAGE_SIZE"))
            try:
                values[name] = (key, (reader.vtype if reader is not None else known[2]).read(fs.read(path, name)))
            except (CgmanError, ValueError) as err:
                skipped.append(f"{name} ({err})")
    if not values:
        if not any(fs.exists(join(host.base, source)) for fs in fss.values()):
            from cgmand.kernel.attach import AttachError

            raise AttachError(f"no group {join(host.base, source)} to copy from, in any hierarchy",
                              reference="group-missing")
        raise UsageError(f"{source} has no knob cgman knows to copy")
    if skipped:
        print(f"cgman set: note: not copied, unreadable as cgman reads them: {', '.join(skipped)}", file=sys.stderr)
    specs = {}
    for group in groups:
        path = join(host.base, group)
        settings = {name: value for name, (key, value) in values.items() if os.path.exists(fss[key].path(path, name))}
        left = sorted(set(values) - set(settings))
        if left and settings:
            print(f"cgman set: note: {group} has no {', '.join(left)}: not copied", file=sys.stderr)
        elif not settings:  # not there at all: the usual refusal names the group
            settings = {name: value for name, (key, value) in values.items()}
        specs[group] = GroupSpec(group, settings, source=f"--copy-from {source}")
    manager = configcache.for_verbs(roots).manager
    return DesiredState(manager, specs)


def _with_descendants(desired, host):
    """-R: every group below those named, as it exists in the hierarchies of the knobs
    given, gets the same knobs; those of a knob it has no file for (not in that
    hierarchy; on cgroup v2, its controller not enabled for it) are left out, with a
    note, as --copy-from does."""
    from cgmand import reconcile
    from cgmand.model import GroupSpec

    base = host.base.rstrip("/")
    laid = _layout(desired, host)
    fss = reconcile.filesystems(host)
    groups = dict(desired.groups)
    added = set()
    for target in laid.targets:
        for node in target.nodes.values():
            if node.group in desired.groups and node.settings and fss[target.hierarchy.key].exists(node.path):
                for path in fss[target.hierarchy.key].subtree(node.path)[1:]:
                    name = path[len(base):].strip("/")
                    if name not in groups and not any(part.startswith(".") for part in name.split("/")):
                        groups[name] = GroupSpec(name, desired.groups[node.group].settings,
                                                 source=desired.groups[node.group].source)
                        added.add(name)
    expanded = desired._replace(groups=groups)
    lacking: dict = {}  # group -> concepts whose files it lacks
    for target in _layout(expanded, host).targets:
        fs = fss[target.hierarchy.key]
        for node in target.nodes.values():
            if node.group in added:
                for setting in node.settings:
                    if not os.path.exists(fs.path(node.path, setting.file)):
                        lacking.setdefault(node.group, set()).add(_concept(setting.source))
    for name, concepts in sorted(lacking.items()):
        kept = {k: v for k, v in groups[name].settings.items() if _concept(k) not in concepts}
        left = sorted(k for k in groups[name].settings if k not in kept)
        print(f"cgman set: note: {name} has no file for {', '.join(left)}: not set there", file=sys.stderr)
        if kept:
            groups[name] = groups[name]._replace(settings=kept)
        else:
            del groups[name]
    return expanded._replace(groups=groups)


def _concept(key: str) -> str:
    from cgmand import knobs

    known = knobs.lookup(key)
    return known[0].name if known is not None else key


def _layout(desired, host):
    from cgmand.hierarchy import layout

    try:
        return layout.build(desired, host)
    except ConfigErrors as err:
        raise UsageError("\n".join(e.render() for e in err.errors)) from None


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
        declared = configcache.for_verbs(roots).groups
    except CgmanError:
        return
    for name in desired.groups:
        if name in declared:
            print(f"cgman set: warning: {name} is declared in {declared[name].source}; cgmand puts its "
                  "configured values back at the next drift check or reload", file=sys.stderr)
