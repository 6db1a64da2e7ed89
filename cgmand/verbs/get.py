"""`cgman get [-r NAME]... [-g CONTROLLERS] [-a] [-n] [-v] [--json] GROUP...`, libcgroup's cgget.

For each GROUP (relative to cgman's base), the values of its interface files
as the kernel shows them: the files named with -r, or else every file of
its controllers (-g to pick some, -a or nothing for all; on cgroup v2 the
controllers enabled for it), sorted by name. Output as cgget's: a "GROUP:"
header, "name: value" lines (further lines of a value indented with a tab),
a blank line; -n drops the header and the blank line, -v prints values only.
--json: {"groups": [{"group": ..., "values": {name: text}}]}.

A -r name this host spells differently (cpu.shares on cgroup v2) is refused
with the name to use: values are shown as the kernel has them, never converted.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Dict, List, Optional

    from cgmand.roots import Roots

from cgmand.errors import ExitCode
from cgmand.verbs import UsageError, guarded

USAGE = """usage: cgman [ROOT OPTIONS] get [-r NAME]... [-g CONTROLLERS] [-a] [-n] [-v] [--json] GROUP...

Show a group's values as the kernel has them: the files named with -r, or all
files of its controllers (-g cpu,memory to pick). -n: no group header; -v:
values only."""

FLAGS = {"-a": "all", "--all": "all", "-n": "no-header", "-v": "values-only", "--json": "json"}


def main(argv: List[str], roots: Roots) -> int:
    return guarded("get", USAGE, lambda: _get(argv, roots))


def parse(argv: List[str]):
    """(-r names, -g controllers, flags, groups); options may come in any order."""
    from cgmand.controllers import CONTROLLER_ALIASES
    from cgmand.verbs import Help

    names: List[str] = []
    controllers: List[str] = []
    flags: set = set()
    groups: List[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg in ("-r", "-g"):
            if index + 1 == len(argv):
                raise UsageError(f"{arg} needs a value")
            (names if arg == "-r" else controllers).append(argv[index + 1])
            index += 2
            continue
        if arg in FLAGS:
            flags.add(FLAGS[arg])
        elif arg in ("-h", "--help"):
            raise Help()
        elif arg.startswith("-"):
            raise UsageError(f"unknown option {arg}")
        else:
            groups.append(arg)
        index += 1
    if any(":" in text for text in controllers):
        raise UsageError("get takes -g CONTROLLERS and the groups as arguments", hint="cgman get -g cpu web")
    wanted = [c for text in controllers for c in text.split(",") if c]
    unknown = [c for c in wanted if c not in CONTROLLER_ALIASES]
    if unknown:
        raise UsageError(f'-g {unknown[0]}: unknown controller', hint="-g takes controllers here: -g cpu,memory")
    if names and (wanted or "all" in flags):
        raise UsageError("-r names files; it does not combine with -g or -a")
    if not groups:
        raise UsageError("no group given", hint="cgman get web")
    return names, {CONTROLLER_ALIASES[c] for c in wanted}, flags, groups


def _get(argv: List[str], roots: Roots) -> int:
    from cgmand.paths import validate_group_name
    from cgmand.verbs.execute import host

    names, controllers, flags, groups = parse(argv)
    here = host(roots)
    found = []
    for group in groups:
        try:
            name = validate_group_name(group)
        except ValueError as err:
            raise UsageError(f"invalid group path {group}: {err}") from None
        found.append({"group": name, "values": values(here, name, names, controllers)})
    if "json" in flags:
        import json

        print(json.dumps({"groups": found}, indent=2))
    else:
        print(render(found, "no-header" in flags, "values-only" in flags), end="")
    return ExitCode.OK


def values(here, group: str, names: List[str], controllers: set) -> Dict[str, str]:
    """name -> text of the group's files (see the module docstring)."""
    from cgmand.errors import KernelError
    from cgmand.kernel.attach import AttachError
    from cgmand.kernel.cgroupfs import CgroupFS
    from cgmand.paths import join

    path = join(here.base, group)
    places = [(h, CgroupFS(h)) for h in here.hierarchies]
    places = [(h, fs) for h, fs in places if fs.exists(path)]
    if not places:
        raise AttachError(f"no group {path} in any hierarchy", reference="group-missing")
    out: Dict[str, str] = {}
    for name in names:
        holder = next((fs for h, fs in places if name in fs.files(path)), None)
        if holder is None:
            raise AttachError(f"{path} has no file {name}", reference="knob-missing",
                              hint=_spelled_here(name, path, places))
        try:
            out[name] = holder.read(path, name).rstrip("\n")
        except KernelError as err:
            raise AttachError(f"cannot read {name} of {path}: {err.message}", reference="knob-unreadable") from None
    if names:
        return out
    for hierarchy, fs in places:
        mine = set(hierarchy.controllers) if hierarchy.version == 1 else \
            set(fs.read(path, "cgroup.controllers").split())
        chosen = mine & controllers if controllers else mine
        prefixes = tuple(f"{_file_prefix(c, hierarchy.version)}." for c in chosen)
        for file in sorted(fs.files(path)):
            if prefixes and file.startswith(prefixes) and file not in out:
                try:
                    out[file] = fs.read(path, file).rstrip("\n")
                except KernelError:
                    continue  # write-only (cgroup.kill, memory.force_empty): nothing to show
    return dict(sorted(out.items()))


def _file_prefix(controller: str, version: int) -> str:
    from cgmand.controllers import CONTROLLERS

    ctl = CONTROLLERS.get(controller)  # a controller newer than cgman (dmem, 6.14): its own name
    return ((ctl.v1 if version == 1 else ctl.v2) if ctl else None) or controller


def _spelled_here(name: str, path: str, places) -> Optional[str]:
    """The name this host uses for the same knob, if ``name`` is another version's spelling."""
    from cgmand import knobs

    found = knobs.lookup(name)
    if found is None:
        return None
    concept = found[0]
    for hierarchy, fs in places:
        for key, version, _vtype in concept.keys:
            if version in (0, hierarchy.version) and key != name and key in fs.files(path):
                return f"on this host the knob is {key} (values are shown as the kernel has them)"
    return None


def render(found: List[dict], no_header: bool, values_only: bool) -> str:
    lines = []
    for row in found:
        if not no_header:
            lines.append(f"{row['group']}:")
        for name, text in row["values"].items():
            shown = text.replace("\n", "\n\t")
            lines.append(shown if values_only else f"{name}: {shown}")
        if not no_header:
            lines.append("")
    return "\n".join(lines) + "\n" if lines else ""
