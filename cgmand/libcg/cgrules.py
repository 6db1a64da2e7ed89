"""cgrules.conf, read as libcgroup reads it (research/libcgroup.md §2.1-2.3).

One rule per line: KEY CONTROLLERS DESTINATION [OPTIONS]. KEY is `user`, `@group`,
`*` or `%` (the previous rule again, for other controllers), optionally followed by
`:procname`. Since 3.2 KEY and DESTINATION may be quoted whole to hold spaces. '#'
anywhere starts a comment. OPTIONS: `ignore`, `ignore_rt`.

libcgroup's own misbehaviour is reported, not copied: `%` lines are skipped by 3.2+
(a parser bug), and a rule with an unknown user is dropped with a warning there.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import List, Optional, Tuple

from cgmand.libcg import Note

OPTIONS = ("ignore", "ignore_rt")
FIELDS = ("%u", "%U", "%g", "%G", "%p", "%P")


class Line:
    """One rule line. ``who``: "user", "group", "any" or "ditto" (a % line); ``name``: the
    user or group; ``process``: the procname after ':' (None: any)."""

    __slots__ = ("line", "who", "name", "process", "controllers", "destination", "options")

    def __init__(self, line: int, who: str, name: str, process: "Optional[str]", controllers: "Tuple[str, ...]",
                 destination: str, options: "Tuple[str, ...]"):
        self.line, self.who, self.name, self.process = line, who, name, process
        self.controllers, self.destination, self.options = controllers, destination, options

    def __repr__(self) -> str:
        return (f"Line({self.line}: {self.who} {self.name!r} process={self.process!r} {self.controllers} "
                f"-> {self.destination!r} {self.options})")


def parse(text: str, source: str) -> "Tuple[List[Line], List[Note]]":
    lines: List[Line] = []
    notes: List[Note] = []
    for number, raw in enumerate(text.splitlines(), 1):
        fields = _fields(raw, source, number, notes)
        if not fields:
            continue
        if len(fields) < 3:
            notes.append(Note(source, number, f"expected KEY CONTROLLERS DESTINATION [OPTIONS]; found "
                                              f"{len(fields)} field{'s' if len(fields) != 1 else ''}", error=True))
            continue
        if len(fields) > 4:
            notes.append(Note(source, number, f"expected at most 4 fields (KEY CONTROLLERS DESTINATION OPTIONS); "
                                              f"found {len(fields)}: quote a name with spaces whole", error=True))
            continue
        key, controllers, destination = fields[:3]
        options = tuple(o for o in fields[3].split(",") if o) if len(fields) == 4 else ()
        bad = [o for o in options if o not in OPTIONS]
        if bad:
            notes.append(Note(source, number, f"unknown option {bad[0]!r}: expected ignore or ignore_rt", error=True))
            continue
        who, name, process = _key(key)
        if who == "ditto" and not lines:
            notes.append(Note(source, number, "a % line continues the rule above it, and there is none",
                              error=True))
            continue
        if not name and who in ("user", "group"):
            notes.append(Note(source, number, f"expected a user, @group, * or % before ':'; found {key!r}",
                              error=True))
            continue
        ctrls = tuple(c for c in controllers.split(",") if c)
        if not ctrls:
            notes.append(Note(source, number, "expected controllers (cpu,memory or *); found none", error=True))
            continue
        lines.append(Line(number, who, name, process, ctrls, destination, options))
    return lines, notes


def _key(key: str) -> "Tuple[str, str, Optional[str]]":
    who_text, colon, process = key.partition(":")
    process_name = process if colon else None
    if who_text == "*":
        return "any", "*", process_name
    if who_text == "%":
        return "ditto", "%", process_name
    if who_text.startswith("@"):
        return "group", who_text[1:], process_name
    return "user", who_text, process_name


def _fields(raw: str, source: str, number: int, notes: "List[Note]") -> "List[str]":
    """The line's fields: blanks separate them, a field may be quoted whole, '#' ends it."""
    out: List[str] = []
    index, size = 0, len(raw)
    while index < size:
        char = raw[index]
        if char in " \t\r\f\v":
            index += 1
            continue
        if char == "#":
            break
        if char == '"':
            end = raw.find('"', index + 1)
            if end == -1:
                notes.append(Note(source, number, 'a quoted field is not closed: expected a second "', error=True))
                return []
            out.append(raw[index + 1:end])
            index = end + 1
            continue
        start = index
        while index < size and raw[index] not in " \t\r\f\v#":
            index += 1
        if '"' in raw[start:index]:
            notes.append(Note(source, number, f"a quote inside {raw[start:index]!r}: quote the whole field, as in "
                                              '"john:my prog" (libcgroup 3.2+)', error=True))
            return []
        out.append(raw[start:index])
    return out
