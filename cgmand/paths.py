"""Cgroup paths: the naming rules for groups and cgman's root, and path arithmetic.

Apart from model.py so that `cgman exec` checks a -g path without loading the
configuration records. Pure module: no I/O.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Optional, Tuple

# First-level names cgman keeps for itself below its base: the keep-alive
# process of the delegated unit lives in "anchor"; "supervisor" is the compact
# single-unit layout's daemon leaf (research/systemd-v2.md §2.a).
RESERVED_TOP = frozenset({"anchor", "supervisor"})
# v1 core files without a dot: mkdir of these fails or shadows them.
RESERVED_ANY = frozenset({"tasks", "notify_on_release", "release_agent"})


def validate_group_name(name: str) -> str:
    """Return the normalised group name or raise ValueError saying what is wrong.

    A leading "/" means the same as none (libcgroup's habit); components use
    [A-Za-z0-9_@:+-] because the kernel reserves dots for interface files.
    """
    if not isinstance(name, str) or name.strip("/") == "":
        raise ValueError("a group name must not be empty")
    text = name[1:] if name.startswith("/") else name
    parts = text.split("/")
    for index, part in enumerate(parts):
        problem = _component_problem(part, index == 0)
        if problem:
            raise ValueError(problem)
    return text


def _component_problem(part: str, top: bool) -> Optional[str]:
    if part == "":
        return "empty path component (a doubled or trailing '/')"
    if part in (".", ".."):
        return f'"{part}" is not allowed in a cgroup path'
    if "." in part:
        return f'"{part}" contains a dot; the kernel reserves dots for interface files'
    bad = sorted({ch for ch in part if not (ch.isascii() and (ch.isalnum() or ch in "_@:+-"))})
    if bad:
        return f'"{part}" contains {", ".join(repr(ch) for ch in bad)}; use letters, digits and _ @ : + -'
    if len(part) > 255:
        return f'"{part[:20]}..." is longer than 255 characters'
    if part in RESERVED_ANY:
        return f'"{part}" is reserved by the kernel (a cgroup v1 interface file)'
    if top and part in RESERVED_TOP:
        return f'"{part}" is reserved by cgman at the top level'
    return None


def validate_root(path: str) -> str:
    """The base path for cgman's groups: absolute, normalised, "/" allowed."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError('expected an absolute cgroup path such as "/cgman"')
    if path == "/":
        return path
    stripped = path.rstrip("/")
    for part in stripped[1:].split("/"):
        problem = _component_problem(part, top=False)
        if problem:
            raise ValueError(problem)
    return stripped


def parent_of(path: str) -> str:
    """Parent of an absolute cgroup path ("/" for top-level ones)."""
    head = path.rsplit("/", 1)[0]
    return head or "/"


def join(base: str, name: str) -> str:
    """Absolute cgroup path of group ``name`` under ``base``."""
    return ("" if base == "/" else base) + "/" + name


def depth(path: str) -> int:
    return 0 if path == "/" else path.count("/")


def ancestors(path: str) -> Tuple[str, ...]:
    """"/a/b/c" -> ("/", "/a", "/a/b"): every ancestor, top first."""
    out = ["/"]
    parts = [p for p in path.split("/") if p]
    for i in range(1, len(parts)):
        out.append("/" + "/".join(parts[:i]))
    return tuple(out) if path != "/" else ()
