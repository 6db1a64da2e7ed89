"""libcgroup's files as cgman TOML (pure): what each construct becomes, and a comment
for every conversion and every construct left out (docs/migration.md has the table).

Knob names are kept as written (cgman reads cgconfig's v1 names as aliases) unless
``v2`` asks for cgroup v2 names, converted with the same formulas cgman applies on a
v2 host (knobs.py), so an import with --v2 means what the plain one means there.
"""

from __future__ import annotations

import os
import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Any, Dict, List, Optional, Set, Tuple

from cgmand import tomlwriter as tw
from cgmand.libcg import Note, cgconfig, cgrules

_INT = re.compile(r"^-?\d+$")
_ID_NUMBER = re.compile(r"^\d+$")
TEMPLATE_FIELDS = ("%u", "%U", "%g", "%G")
ALL_CONTROLLERS = ("cpu", "memory", "io", "pids")  # for a rule's "*", on v1 and v2 alike


class Output:
    """One TOML file: its lines, and the notes to show on the terminal too."""

    def __init__(self, source: str):
        self.source = source
        self.lines: List[str] = []
        self.notes: List[Note] = []
        self.groups: List[str] = []
        self.templates: List[str] = []
        self.default: Optional[cgconfig.Perm] = None  # cgconfig: the default perm in force at the end

    def text(self) -> str:
        return "\n".join(self.lines).rstrip("\n") + "\n"


def header(source: str, what: str) -> List[str]:
    return tw.comment(f"Imported from {source} ({what}) by `cgman import`.\n"
                      "Review it: comments mark every conversion and everything left out.") + [""]


# --- cgconfig.conf ---------------------------------------------------------------------------

def from_cgconfig(parsed: cgconfig.Parsed, v2: bool = False, root: Optional[str] = None,
                  leaked: Optional[cgconfig.Perm] = None) -> Output:
    """``leaked``: the default section of a file imported before this one, which
    cgconfigparser -l A -L DIR (one run) applies to this file too: warned about."""
    out = Output(parsed.source)
    out.notes.extend(parsed.notes)
    out.lines += header(parsed.source, "cgconfig.conf")
    if root is not None:
        out.lines += ["[manager]", f"root = {tw.string(root)}", ""]

    def note(line: int, message: str, error: bool = False) -> None:
        out.notes.append(Note(parsed.source, line, message, error))

    kinds = {section.name for section in parsed.sections}
    if {"mount", "namespace"} <= kinds:
        note(parsed.sections[0].line, "mount and namespace sections in one file: libcgroup refuses the whole "
                                      "file (ECGMOUNTNAMESPACE); taken as written")
    for section in parsed.sections:
        _section(section, note, out)
    namespaces = _namespaces(parsed.sections)
    default = parsed.defaults[-1] if parsed.defaults else None
    out.default = default or leaked
    if len(parsed.defaults) > 1:
        note(parsed.defaults[-1].line, "several default sections: the last one counts, as in libcgroup")
    merged: Dict[Tuple[str, str], cgconfig.Group] = {}
    for group in parsed.groups:
        key = (group.kind, group.name.strip("/"))  # "/web" and "web/" are web
        if key in merged:
            note(group.line, f"{group.kind} {group.name} is defined again (first at line {merged[key].line}): "
                             "merged, the later values winning (device throttles add up), as libcgroup writes both")
            merged[key] = _merge(merged[key], group)
        else:
            merged[key] = group
    for group in merged.values():
        if group.kind == "group" and default is None and leaked is not None and _unset_perm(group):
            note(group.line, f"group {group.name}: cgconfigparser run on this file together with the one before "
                             "(-l ... -L ...) gave it that file's default perm; cgman applies a default to its own "
                             "file only: add a perm table if you relied on it")
        _group(group, default if group.kind == "group" else None, namespaces, v2, note, out)
    return out


def _unset_perm(group: cgconfig.Group) -> bool:
    own = group.perm
    return own is None or own.task is None or own.admin is None


def _section(section: cgconfig.Block, note: Any, out: Output) -> None:
    shown = "; ".join(f"{s.key} = {s.value}" for s in section.settings)
    if section.name == "mount":
        why = ("cgman does not mount cgroup hierarchies: it uses those the system mounted (systemd, or "
               "/etc/fstab on hosts without it)")
    elif section.name == "systemd":
        why = ("cgman does not create libcgroup's slice and scope: under systemd its groups live in its own "
               "delegated unit (manager.systemd_unit)")
    else:
        return  # namespace: folded into the group paths
    note(section.line, f"{section.name} section left out: {why}")
    out.lines += tw.comment(f"line {section.line}: {section.name} {{ {shown} }} left out: {why}.") + [""]


def _namespaces(sections: List[cgconfig.Block]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for section in sections:
        if section.name == "namespace":
            for setting in section.settings:
                out[setting.key] = setting.value.strip("/")
    return out


def _merge(first: cgconfig.Group, second: cgconfig.Group) -> cgconfig.Group:
    """The later definition's values win, but a v1 throttle file takes one limit per
    device and keeps the others: both definitions' lines stay."""
    blocks = {b.name: cgconfig.Block(b.name, b.line, list(b.settings)) for b in first.controllers}
    for block in second.controllers:
        if block.name in blocks:
            kept = {s.key: s for s in blocks[block.name].settings}
            for setting in block.settings:
                earlier = kept.get(setting.key)
                if earlier is not None and setting.key.startswith("blkio.throttle."):
                    setting = cgconfig.Setting(setting.key, earlier.value + "\n" + setting.value, setting.line)
                kept[setting.key] = setting
            blocks[block.name].settings = list(kept.values())
        else:
            blocks[block.name] = block
    return cgconfig.Group(first.kind, first.name, first.line, second.perm or first.perm, list(blocks.values()))


def _path(group: cgconfig.Group, namespaces: Dict[str, str], note: Any) -> Tuple[str, Optional[str]]:
    """The group's cgman path, or why it has none."""
    name = group.name.strip("/")
    name = "" if name == "." else name
    prefixes = {namespaces.get(block.name, "") for block in group.controllers}
    if len(prefixes) > 1:
        return name, "its controllers have different namespace paths, and a cgman group is one path in every " \
                     "hierarchy"
    prefix = prefixes.pop() if prefixes else ""
    if prefix:
        note(group.line, f"{group.kind} {group.name} is {'/'.join(filter(None, (prefix, name)))}: the namespace "
                         "section's path")
        name = "/".join(filter(None, (prefix, name)))
    if not name:
        return name, "cgman does not set the root cgroup's knobs (the kernel and the init system own it)"
    if group.kind == "template":
        fields = re.findall(r"%.", name)
        bad = [f for f in fields if f not in TEMPLATE_FIELDS]
        if bad:
            return name, f"cgman's templates fill in {', '.join(TEMPLATE_FIELDS)} only; found {bad[0]}"
        if not fields:
            return name, "a template without %u, %U, %g or %G is never used by a rule"
    return name, _refused_name(name)


def _group(group: cgconfig.Group, default: Optional[cgconfig.Perm], namespaces: Dict[str, str], v2: bool,
           note: Any, out: Output) -> None:
    where = f"line {group.line}: {group.kind} {group.name}"
    name, why = _path(group, namespaces, note)
    if why is not None:
        note(group.line, f"{group.kind} {group.name} left out: {why}")
        out.lines += tw.comment(f"{where} left out: {why}.") + [""]
        return
    knobs: Dict[str, Any] = {}
    empty: List[str] = []
    comments: List[str] = []
    left_out: List[str] = []
    for block in group.controllers:
        _block(block, knobs, empty, comments, left_out, note)
    if v2:
        knobs = _to_v2(knobs, comments, note, group.line)
    kind = "group" if group.kind == "group" else "template"
    (out.groups if kind == "group" else out.templates).append(name)
    out.lines += tw.comment(f"{where}")
    out.lines.append(tw.table(kind, name))
    out.lines += comments
    safe = tw.dotted_safe(knobs)
    for knob, item in knobs.items():
        out.lines.append(f"{tw.key(knob, dotted=knob in safe)} = {tw.value(item)}")
    for controller in dict.fromkeys(empty):
        if not any(k.split(".")[0] == controller or _controller_of(k) == controller for k in knobs):
            out.lines.append(f"{controller} = {{}}")
    out.lines += left_out
    perm = _perm(group.perm, default, note)
    if perm:
        out.lines += ["", tw.table(kind, name, "perm")]
        if "task" in perm:
            out.lines += tw.comment("task: on cgroup v2 cgman gives this owner cgroup.procs and cgroup.threads "
                                    "(libcgroup's task has no effect there); on v1, tasks and cgroup.procs")
        out.lines += [f"{part} = {tw.value(fields)}" for part, fields in perm.items()]
    out.lines.append("")


def _controller_of(knob: str) -> Optional[str]:
    from cgmand import knobs

    found = knobs.lookup(knob)
    return found[0].controller if found else None


def _block(block: cgconfig.Block, knobs: Dict[str, Any], empty: List[str], comments: List[str],
           left_out: List[str], note: Any) -> None:
    from cgmand import knobs as catalogue
    from cgmand.controllers import CONTROLLER_ALIASES

    controller = CONTROLLER_ALIASES.get(block.name)
    if controller is None:
        why = ("cgman manages no named hierarchies" if block.name.startswith("name=") else
               "cgman manages cgroup.* files itself" if block.name == "cgroup" else
               f"cgman does not know the controller {block.name}")
        note(block.line, f"controller block {block.name} left out: {why}")
        left_out += tw.comment(f"line {block.line}: {block.name} {{ ... }} left out: {why}.")
        return
    if not block.settings:
        empty.append(block.name if block.name in catalogue.CONTROLLERS else controller)
        return
    before = len(knobs)
    _settings(block, controller, knobs, comments, left_out, note)
    if len(knobs) == before:  # all left out: the group still joins the controller, as in libcgroup
        empty.append(block.name if block.name in catalogue.CONTROLLERS else controller)


def _settings(block: cgconfig.Block, controller: str, knobs: Dict[str, Any], comments: List[str],
              left_out: List[str], note: Any) -> None:
    from cgmand import knobs as catalogue

    for setting in block.settings:
        raw = setting.value
        if raw == "":
            note(setting.line, f"{setting.key}: an empty value; libcgroup 3.1+ does not write it either; left out")
            left_out += tw.comment(f"line {setting.line}: {setting.key} = \"\" left out (empty).")
            continue
        if setting.key.startswith("devices."):
            note(setting.line, f"{setting.key}: cgman does not manage device access yet, and dropping this "
                               "rule would give the group's processes devices it denies; remove the devices block "
                               "from a copy of the file (and keep it under cgconfig) to import the rest",
                 error=True)
            continue
        if setting.key in catalogue.REFUSED:
            why = catalogue.REFUSED[setting.key]
            note(setting.line, f"{setting.key} left out: {why}")
            left_out += tw.comment(f"line {setting.line}: {setting.key} = {raw!r} left out: {why}.")
            continue
        found = catalogue.lookup(setting.key)
        if found is None:
            close = catalogue.suggest(setting.key)
            why = "cgman does not know this knob" + (f" (did you mean {close}?)" if close else "")
            note(setting.line, f"{setting.key} left out: {why}")
            left_out += tw.comment(f"line {setting.line}: {setting.key} = {raw!r} left out: {why}.")
            continue
        if found[0].controller != controller:
            note(setting.line, f"{setting.key} is a {found[0].controller} knob in a {block.name} block: libcgroup "
                               "writes it into that hierarchy, where the file does not exist; kept under its own "
                               "controller")
        if "\n" in raw:
            lines = [part.strip() for part in raw.splitlines() if part.strip()]
            if not lines:
                note(setting.line, f"{setting.key}: an empty value (blank lines); libcgroup 3.1+ does not write "
                                   "it either; left out")
                left_out += tw.comment(f"line {setting.line}: {setting.key} left out (blank).")
                continue
            if setting.key.startswith("blkio.throttle."):
                knobs[setting.key] = lines
                comments += tw.comment(f"line {setting.line}: {setting.key} had one device per line: a list")
                continue
            note(setting.line, f"{setting.key}: a value on several lines; libcgroup 3.1+ does not write it "
                               "(2.0 wrote each line in turn); left out")
            left_out += tw.comment(f"line {setting.line}: {setting.key} left out (a value on several lines).")
            continue
        if setting.key == "io.weight" and not _INT.match(raw.strip()):
            words = raw.split()
            if len(words) == 2 and words[0] == "default" and _INT.match(words[1]):
                knobs[setting.key] = int(words[1])  # the file's own syntax; cgman's key takes the weight
                comments += tw.comment(f"line {setting.line}: io.weight = \"{raw}\" -> {words[1]}")
                continue
            note(setting.line, f"io.weight = {raw!r}: cgman sets the default weight only (not per device); "
                               "left out")
            left_out += tw.comment(f"line {setting.line}: io.weight = {raw!r} left out: per-device weights are "
                                   "not managed by cgman.")
            continue
        if re.match(r"^-?0\d|^0[xX]", raw):
            note(setting.line, f"{setting.key} = {raw}: the kernel reads a leading 0 as octal and 0x as hex; kept "
                               "as written, for cgman to check")
            knobs[setting.key] = raw
            continue
        knobs[setting.key] = int(raw) if _INT.match(raw) and len(raw) < 19 else raw


def _perm(perm: Optional[cgconfig.Perm], default: Optional[cgconfig.Perm], note: Any) -> Dict[str, Dict]:
    """perm as cgman's table, default's fields filling what the group leaves unset."""
    out: Dict[str, Dict] = {}
    for part in ("admin", "task"):
        own = cgconfig.pairs(getattr(perm, part) if perm else None)
        base = cgconfig.pairs(getattr(default, part) if default else None)
        fields: Dict[str, Any] = {}
        for name in cgconfig.PERM_KEYS[part]:
            if name in own or name in base:
                text, line = own.get(name) or base[name]
                fields[name] = _perm_value(name, text, line, note)
        if fields:
            out[part] = fields
    return out


def _perm_value(name: str, text: str, line: int, note: Any) -> Any:
    if name in ("uid", "gid"):
        if _ID_NUMBER.match(text):
            if int(text) == 0:
                who = "user" if name == "uid" else "group"
                note(line, f"{name} = 0: libcgroup refuses it (it reads 0 as no number, then looks for a {who} "
                           f"named \"0\"); cgman takes it as root")
            return int(text)
        return text
    if re.fullmatch(r"[0-7]{3,4}", text):
        return text if len(text) == 4 else "0" + text
    note(line, f"{name} = {text!r}: expected an octal mode such as 775; kept as written for cgman to check")
    return text


# --- --v2 ---------------------------------------------------------------------------------

_RENAMES = {
    "memory.limit_in_bytes": "memory.max",
    "memory.soft_limit_in_bytes": "memory.low",
    "cpu.cfs_burst_us": "cpu.max.burst",
    "blkio.bfq.weight": "io.bfq.weight",
}
_THROTTLE = {"blkio.throttle.read_bps_device": "rbps", "blkio.throttle.write_bps_device": "wbps",
             "blkio.throttle.read_iops_device": "riops", "blkio.throttle.write_iops_device": "wiops"}


def _to_v2(knobs: Dict[str, Any], comments: List[str], note: Any, line: int) -> Dict[str, Any]:
    from cgmand.knobs import _blkio_to_io, _shares_to_weight

    out: Dict[str, Any] = {}
    devices: Dict[str, List[str]] = {}
    for knob, item in knobs.items():
        text = str(item)
        if knob == "cpu.shares" and _INT.match(text):
            out["cpu.weight"] = _shares_to_weight(int(text))
            comments += tw.comment(f"cpu.shares = {text} -> cpu.weight = {out['cpu.weight']} (shares × 100 / 1024, "
                                   "clamped to 1-10000, as systemd)")
        elif knob == "blkio.weight" and _INT.match(text):
            out["io.weight"] = _blkio_to_io(int(text))
            comments += tw.comment(f"blkio.weight = {text} -> io.weight = {out['io.weight']} (weight / 5)")
        elif knob in ("cpu.cfs_quota_us", "cpu.cfs_period_us"):
            if "cpu.max" in out:
                continue
            quota = str(knobs.get("cpu.cfs_quota_us", "max"))
            quota = "max" if quota in ("-1", "max") else quota
            period = str(knobs.get("cpu.cfs_period_us", 100000))
            out["cpu.max"] = f"{quota} {period}"
            comments += tw.comment(f"cpu.cfs_quota_us and cpu.cfs_period_us -> cpu.max = \"{out['cpu.max']}\"")
        elif knob == "memory.memsw.limit_in_bytes":
            out[knob] = item  # memory+swap: cgman computes memory.swap.max from both on the host
            comments += tw.comment("memory.memsw.limit_in_bytes kept: cgman writes memory.swap.max = memsw - "
                                   "limit on a v2 host")
        elif knob in _THROTTLE:
            for entry in (item if isinstance(item, list) else [text]):
                words = entry.split()
                if len(words) != 2:
                    note(line, f"{knob}: {entry!r} is not \"MAJ:MIN LIMIT\"; left out of io.max")
                    comments += tw.comment(f"{knob} = {entry!r} left out: expected \"MAJ:MIN LIMIT\"")
                    continue
                limit = "max" if words[1] == "0" else words[1]
                devices.setdefault(words[0], []).append(f"{_THROTTLE[knob]}={limit}")
        elif knob in _RENAMES:
            out[_RENAMES[knob]] = item
            comments += tw.comment(f"{knob} -> {_RENAMES[knob]}")
        elif re.match(r"^hugetlb\.[^.]+\.(rsvd\.)?limit_in_bytes$", knob):
            new = knob.replace("limit_in_bytes", "max")
            out[new] = item
            comments += tw.comment(f"{knob} -> {new}")
        else:
            out[knob] = item
    if devices:
        out["io.max"] = [f"{dev} {' '.join(limits)}" for dev, limits in devices.items()]
        comments += tw.comment("blkio.throttle.* -> io.max, one line per device")
    return out


# --- cgrules.conf ----------------------------------------------------------------------------

def from_cgrules(lines: List[cgrules.Line], notes: List[Note], source: str, known: Set[str],
            stem: str) -> Output:
    """``known``: the groups and templates already declared (the configuration, and what
    this import's cgconfig files declare): a destination outside them gets a table."""
    out = Output(source)
    out.notes.extend(notes)
    out.lines += header(source, "cgrules.conf")
    needed: Dict[str, Tuple[int, Tuple[str, ...]]] = {}

    def note(line: int, message: str) -> None:
        out.notes.append(Note(source, line, message))

    index = 0
    while index < len(lines):
        rule = lines[index]
        dittos = []
        index += 1
        while index < len(lines) and lines[index].who == "ditto":
            dittos.append(lines[index])
            index += 1
        _rule(rule, dittos, stem, note, out, needed)
    for destination, (line, controllers) in needed.items():
        if destination in known:
            continue
        kind = "template" if "%" in destination else "group"
        (out.templates if kind == "template" else out.groups).append(destination)
        out.lines += tw.comment(f"line {line}: {destination} is no group of the configuration; declared here "
                                "(add its knobs)")
        out.lines.append(tw.table(kind, destination))
        from cgmand.controllers import CONTROLLER_ALIASES

        real = list(dict.fromkeys(CONTROLLER_ALIASES[c] for c in controllers if c in CONTROLLER_ALIASES))
        if "*" in controllers or not real:  # "*": every hierarchy mounted; cgman's usual controllers, to review
            out.lines += tw.comment("controllers * (every mounted one, in libcgroup): cgman's usual ones; "
                                    "add or remove")
            real = list(ALL_CONTROLLERS)
        out.lines += [f"{c} = {{}}" for c in real]
        out.lines.append("")
        note(line, f"{destination} is not declared: a {kind} table was added for it")
    return out


def _rule(rule: cgrules.Line, dittos: List[cgrules.Line], stem: str, note: Any, out: Output,
          needed: Dict[str, Tuple[int, Tuple[str, ...]]]) -> None:
    where = f"line {rule.line}"
    who = {"group": "@" + rule.name, "ditto": "%"}.get(rule.who, rule.name)
    text = f"{who}{':' + rule.process if rule.process is not None else ''} {','.join(rule.controllers)} " \
           f"{rule.destination}{' ' + ','.join(rule.options) if rule.options else ''}"
    destination = rule.destination.strip("/")
    ignore = "ignore" in rule.options
    # A rule cgman cannot carry out still matched first in cgrulesengd, and so kept the
    # rules after it from the processes it matched: it stays, as an ignore rule.
    why = None
    if "ignore_rt" in rule.options and not ignore:  # both options: every task, cgman's ignore
        why = "ignore_rt looks at the scheduling class, which cgman's rules do not"
    elif any(f in destination for f in ("%p", "%P")):
        why = "%p and %P (process name, pid) have no cgman template field"
    elif not destination and not ignore:
        why = "the root cgroup: cgman places processes in its own groups only"
    elif not ignore:
        why = _refused_name(destination)
    comments = tw.comment(f"{where}: {text}")
    table: Dict[str, Any] = {"name": f"{stem}:{rule.line}"}
    if rule.who in ("user", "group"):
        if _ID_NUMBER.match(rule.name):
            note(rule.line, f"{who}: libcgroup looks names up only, so it skipped this rule; imported as the "
                            f"{'uid' if rule.who == 'user' else 'gid'} {rule.name}")
        table[rule.who] = int(rule.name) if _ID_NUMBER.match(rule.name) else rule.name
    if rule.who == "group":
        comments += tw.comment("@group: the effective gid or a supplementary group (libcgroup: the gid, or the "
                               "user listed as a member in /etc/group)")
    alternative = _process(rule.process, table, comments, note, rule.line) if rule.process is not None else None
    if why is not None:
        note(rule.line, f"rule made an ignore rule: {why}; it keeps the rules after it from what it matches, "
                        "as it did in cgrulesengd")
        comments += tw.comment(f"not placed: {why}; an ignore rule keeps the first-match order")
        table["ignore"] = True
    elif ignore:
        table["ignore"] = True
        if destination and destination != "*":
            table["cgroup"] = [f"/**/{destination}", f"/**/{destination}/**"]
            comments += tw.comment("ignore: only while the process is in the destination, as cgrulesengd")
    else:
        table["place"] = destination
        needed.setdefault(destination, (rule.line, rule.controllers))
        if rule.controllers != ("*",):
            comments += tw.comment(f"controllers {','.join(rule.controllers)}: cgman moves the process in every "
                                   "hierarchy of the group's controllers")
        if destination.count("%") > 1 and "/" in destination[:destination.rfind("%")]:
            note(rule.line, f"{destination}: cgman makes the last level from [template.\"{destination}\"] only; "
                            "libcgroup also made the levels above from their own templates")
    if not any(key in table for key in ("user", "group", "comm", "exe", "cgroup")):
        table["cgroup"] = "/**"  # cgman wants a match key: every process
    for ditto in dittos:
        if why is None and ditto.destination.strip("/") == destination:
            continue
        note(ditto.line, "a % line sends the process to another group for other controllers: cgman places a "
                         "process in one group; left out (libcgroup 3.2+ skips % lines too)")
        comments += tw.comment(f"line {ditto.line}: % {','.join(ditto.controllers)} {ditto.destination} left "
                               "out: one group per process")
    out.lines += comments
    _emit_rule(out, table)
    if alternative is not None:
        second = dict(table, name=f"{stem}:{rule.line}:script")
        second.pop("exe")
        second.update(alternative)
        out.lines += tw.comment(f"{where}, the same for a script: libcgroup names a script by its path, "
                                "which is its interpreter's argument")
        _emit_rule(out, second)


def _emit_rule(out: Output, table: Dict[str, Any]) -> None:
    out.lines.append("[[rule]]")
    out.lines += [f"{tw.key(k, dotted=False)} = {tw.value(v)}" for k, v in table.items()]
    out.lines.append("")


def _refused_name(name: str) -> Optional[str]:
    """Why cgman cannot have a group of this name (None: it can)."""
    from cgmand.paths import validate_group_name

    if re.search(r"\.(slice|scope|service)(/|$)", name):
        return "systemd owns .slice, .scope and .service cgroups; cgman's groups live in its own unit"
    try:
        validate_group_name(re.sub(r"%.", "x", name))
    except ValueError as err:
        return f"cgman refuses the group name {name!r}: {err}"
    return None


def _process(process: str, table: Dict[str, Any], comments: List[str], note: Any,
             line: int) -> Optional[Dict[str, Any]]:
    """libcgroup's procname: a full path, or a name compared with the path's last part;
    a trailing * is a prefix of the full path (in cgrulesengd only). For a full path,
    the match keys of a second rule for a script of that path (None: no second rule)."""
    glob = "".join(f"[{c}]" if c in "*?[" else c for c in process.rstrip("*")) + ("*" if process.endswith("*")
                                                                                  else "")
    if "/" in process:
        table["exe"] = glob + ("*" if process.endswith("*") else "")  # ** : any path below the prefix
        if process.endswith("*"):
            return None
        comments += tw.comment("a program started through a symlink is matched by the file the link leads to")
        base = os.path.basename(process)
        return {"comm": "".join(f"[{c}]" if c in "*?[" else c for c in base[:15]), "args": process}
    if process.endswith("*"):
        note(line, f"{process}: cgrulesengd compares a name ending in * with the full path, so it never matched "
                   "by name; imported as a comm glob, which does")
    if len(process.rstrip("*")) <= 15:
        table["comm"] = glob
        return None
    table["exe"] = "/**/" + glob
    comments += tw.comment(f"{process!r} is longer than the 15 characters of a command name: matched on the "
                           "executable's name")
    return None
