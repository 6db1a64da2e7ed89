"""Writing the TOML cgman reads: the few shapes `cgman import` produces, with comments.

tomllib only reads, and the writers on PyPI (tomli-w, tomlkit) either drop comments or
bring a document model far larger than this: the importer's comments (the source line,
each conversion, each construct left out) are the point of its output.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Any, Iterable, List

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def string(text: str) -> str:
    """A basic string, escaped (TOML 1.0 §String)."""
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def key(name: str, dotted: bool = True) -> str:
    """A key: dotted bare parts where every part is bare (cpu.shares), else quoted whole."""
    parts = name.split(".")
    if dotted and all(_BARE.match(part) for part in parts):
        return name
    return _BARE.match(name) and name or string(name)


def value(item: Any) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int):
        return str(item)
    if isinstance(item, str):
        return string(item)
    if isinstance(item, dict):
        return "{ " + ", ".join(f"{key(k, dotted=False)} = {value(v)}" for k, v in item.items()) + " }" \
            if item else "{}"
    if isinstance(item, (list, tuple)):
        return "[" + ", ".join(value(v) for v in item) + "]"
    raise TypeError(f"cannot write {item!r} as TOML")


def comment(text: str, indent: str = "") -> List[str]:
    return [f"{indent}# {line}".rstrip() for line in text.splitlines() or [""]]


def table(kind: str, name: str, sub: str = "") -> str:
    return f"[{kind}.{string(name)}{'.' + sub if sub else ''}]"


def dotted_safe(keys: "Iterable[str]") -> "set":
    """The keys that may be written dotted in one table: not a prefix of another key
    (cpu.max beside cpu.max.burst would make cpu.max both a value and a table)."""
    names = list(keys)
    return {k for k in names if not any(other.startswith(k + ".") for other in names)}
