"""libcgroup's files as cgman TOML (pure): what each construct becomes, and a comment
for every conversion and every construct left out (docs/migration.md has the table).

Knob names are kept as written (cgman reads cgconfig's v1 names as aliases) unless
``v2`` asks for cgroup v2 names, converted with the same formulas cgman applies on a
v2 host (knobs.py), so an import with --v2 means what the plain one means there.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Any, Dict, List, Optional, Set, Tuple

from cgmand import tomlwriter as tw
from cgmand.libcg import Note, cgconfig, cgrules

_INT = re.compile(r"^-?\d+$")
_ID_NUMBER = re.compile(r"^\d+$")
TEMPLATE_FIELDS = ("%u", "%U", "%g", "%G")


class Output:
    """One TOML file: its lines, and the notes to show on the terminal too."""

    def __init__(self, source: str):
        self.source = source
        self.lines: List[str] = []
        self.notes: List[Note] = []
        self.groups: List[str] = []
        self.templates: List[str] = []

    def text(self) -> str:
        return "\n".join(self.lines).rstrip("\n") + "\n"


def header(source: str, what: str) -> List[str]:
    return tw.comment(f"Imported from {source} ({what}) by `cgman import`.\n"
                      "Review it: comments mark every conversion and everything left out.") + [""]


# --- cgconfig.conf ---------------------------------------------------------------------------

def from_cgconfig(parsed: cgconfig.Parsed, v2: bool = False, root: Optional[str] = None) -> Output:
    out = Output(parsed.source)
    out.notes.extend(parsed.notes)
    out.lines += header(parsed.source, "cgconfig.conf")
    if root is not None:
        out.lines += ["[manager]", f"root = {tw.string(root)}", ""]

    def note(line: int, message: str) -> None:
        out.notes.append(Note(parsed.source, line, message))

    for section in parsed.sections:
        _section(section, note, out)
    namespaces = _namespaces(parsed.sections)
    default = parsed.defaults[-1] if parsed.defaults else None
    if len(parsed.defaults) > 1:
        note(parsed.defaults[-1].line, "several default sections: the last one counts, as in libcgroup")
    merged: Dict[Tuple[str, str], cgconfig.Group] = {}
    for group in parsed.groups:
        key = (group.kind, group.name.strip("/"))  # "/web" and "web/" are web
        if key in merged:
            note(group.line, f"{group.kind} {group.name} is defined again (first at line {merged[key].line}): "
                             "merged, the later values winning, as libcgroup applies both in order")
            merged[key] = _merge(merged[key], group)
        else:
            merged[key] = group
    for group in merged.values():
        _group(group, default if group.kind == "group" else None, namespaces, v2, note, out)
    return out


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
    blocks = {b.name: cgconfig.Block(b.name, b.line, list(b.settings)) for b in first.controllers}
    for block in second.controllers:
        if block.name in blocks:
            kept = {s.key: s for s in blocks[block.name].settings}
            kept.update({s.key: s for s in block.settings})
            blocks[block.name].settings = list(kept.values())
        else:
            blocks[block.name] = block
    return cgconfig.Group(first.kind, first.name, first.line, second.perm or first.perm, list(blocks.values()))


def _group(group: cgconfig.Group, default: Optional[cgconfig.Perm], namespaces: Dict[str, str], v2: bool,
           note: Any, out: Output) -> None:
    name = group.name.strip("/")
    where = f"line {group.line}: {group.kind} {group.name}"
    left_out: List[str] = []
    if name in ("", "."):
        why = "cgman does not set the root cgroup's knobs (the kernel and the init system own it)"
        note(group.line, f"{group.kind} {group.name} left out: {why}")
        out.lines += tw.comment(f"{where} left out: {why}.") + [""]
        return
    prefixes = {namespaces.get(block.name, "") for block in group.controllers}
    if len(prefixes) > 1:
        why = ("its controllers have different namespace paths, and a cgman group is one path in every "
               "hierarchy")
        note(group.line, f"{group.kind} {group.name} left out: {why}")
        out.lines += tw.comment(f"{where} left out: {why}.") + [""]
        return
    prefix = prefixes.pop() if prefixes else ""
    if prefix:
        note(group.line, f"{group.kind} {group.name} is {prefix}/{name}: the namespace section's path")
        name = f"{prefix}/{name}"
    from cgmand.paths import validate_group_name

    try:
        validate_group_name(re.sub(r"%.", "x", name))
    except ValueError as err:
        note(group.line, f"{group.kind} {group.name}: cgman refuses this name ({err}); rename it in the output")
    if group.kind == "template":
        fields = re.findall(r"%.", name)
        bad = [f for f in fields if f not in TEMPLATE_FIELDS]
        if not fields or bad:
            why = (f"cgman's templates fill in {', '.join(TEMPLATE_FIELDS)} only; found {bad[0]}" if bad else
                   "a template without %u, %U, %g or %G is never used by a rule")
            note(group.line, f"template {group.name} left out: {why}")
            out.lines += tw.comment(f"{where} left out: {why}.") + [""]
            return
    knobs: Dict[str, Any] = {}
    empty: List[str] = []
    comments: List[str] = []
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
    for controller in empty:
        if not any(k.split(".")[0] == controller or _controller_of(k) == controller for k in knobs):
            out.lines.append(f"{controller} = {{}}")
    out.lines += left_out
    perm = _perm(group.perm, default, note)
    if perm:
        out.lines += ["", tw.table(kind, name, "perm")]
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
                               "(2.0 wrote each line in turn, the last one staying); the last line is taken")
            raw = lines[-1] if lines else ""
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
                note(line, f"{name} = 0: libcgroup refuses it (it reads 0 as no number, then looks for a user "
                           "named \"0\"); cgman takes it as root")
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
        real = [c for c in controllers if c != "*"]
        out.lines += [f"{c} = {{}}" for c in real] or tw.comment("controllers: * (add the ones the group needs)")
        out.lines.append("")
        note(line, f"{destination} is not declared: a {kind} table was added for it")
    return out


def _rule(rule: cgrules.Line, dittos: List[cgrules.Line], stem: str, note: Any, out: Output,
          needed: Dict[str, Tuple[int, Tuple[str, ...]]]) -> None:
    where = f"line {rule.line}"
    who = {"group": "@" + rule.name, "ditto": "%"}.get(rule.who, rule.name)
    text = f"{who}{':' + rule.process if rule.process is not None else ''} {','.join(rule.controllers)} " \
           f"{rule.destination}{' ' + ','.join(rule.options) if rule.options else ''}"

    def skip(why: str) -> None:
        note(rule.line, f"rule left out: {why}")
        out.lines += tw.comment(f"{where}: {text}\nleft out: {why}.") + [""]

    if "ignore_rt" in rule.options and "ignore" not in rule.options:  # both: every task, cgman's ignore
        return skip("ignore_rt looks at the scheduling class, which cgman's rules do not")
    destination = rule.destination.strip("/")
    if any(f in destination for f in ("%p", "%P")):
        return skip("%p and %P (process name, pid) have no cgman template field")
    if not destination and "ignore" not in rule.options:
        return skip("the root cgroup: cgman places processes in its own groups only")
    if destination and "ignore" not in rule.options:
        from cgmand.paths import validate_group_name

        try:
            validate_group_name(re.sub(r"%.", "x", destination))
        except ValueError as err:
            note(rule.line, f"{destination}: cgman refuses this group name ({err}); rename it in the output")
    table: Dict[str, Any] = {"name": f"{stem}:{rule.line}"}
    comments = tw.comment(f"{where}: {text}")
    if rule.who == "user":
        table["user"] = int(rule.name) if _ID_NUMBER.match(rule.name) else rule.name
    elif rule.who == "group":
        table["group"] = int(rule.name) if _ID_NUMBER.match(rule.name) else rule.name
        comments += tw.comment("@group: the effective gid or a supplementary group (libcgroup: the gid, or the "
                               "user listed as a member in /etc/group)")
    if rule.process is not None:
        _process(rule.process, table, comments, note, rule.line)
    if "ignore" in rule.options:
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
    if not any(key in table for key in ("user", "group", "comm", "exe", "cgroup")):
        table["cgroup"] = "/**"  # cgman wants a match key: every process
    for ditto in dittos:
        if ditto.destination.strip("/") == destination:
            continue
        note(ditto.line, "a % line sends the process to another group for other controllers: cgman places a "
                         "process in one group; left out (libcgroup 3.2+ skips % lines too)")
        comments += tw.comment(f"line {ditto.line}: % {','.join(ditto.controllers)} {ditto.destination} left "
                               "out: one group per process")
    out.lines += comments
    out.lines.append("[[rule]]")
    out.lines += [f"{tw.key(k, dotted=False)} = {tw.value(v)}" for k, v in table.items()]
    out.lines.append("")


def _process(process: str, table: Dict[str, Any], comments: List[str], note: Any, line: int) -> None:
    """libcgroup's procname: a full path, or a name compared with the path's last part;
    a trailing * is a prefix of the full path (in cgrulesengd only)."""
    glob = "".join(f"[{c}]" if c in "*?[" else c for c in process.rstrip("*")) + ("*" if process.endswith("*")
                                                                                  else "")
    if "/" in process:
        table["exe"] = glob + ("*" if process.endswith("*") else "")  # ** : any path below the prefix
        return
    if process.endswith("*"):
        note(line, f"{process}: cgrulesengd compares a name ending in * with the full path, so it never matched "
                   "by name; imported as a comm glob, which does")
    if len(process.rstrip("*")) <= 15:
        table["comm"] = glob
        return
    table["exe"] = "/**/" + glob
    comments += tw.comment(f"{process!r} is longer than the 15 characters of a command name: matched on the "
                           "executable's name")
