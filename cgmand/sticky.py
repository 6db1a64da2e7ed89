"""Sticky processes: placed by hand (`cgman exec --sticky`, `cgman classify --sticky`),
and then left where they are by the rules engine, with everything they start.

A mark belongs to one process, named by its identity (thread-group id, start
time: DESIGN.md §4), never by a bare pid that a later process may reuse. A
process is sticky when the nearest mark on its line of ancestors (itself, its
parent, its grandparent, ...) says sticky. `--cancel-sticky` frees a
process and what it started: their marks go, and a process a sticky ancestor
still covers gets a not-sticky mark.

A parent's death breaks the line (its children are re-parented to init), so
the marks are copied down to the living descendants they cover, by
``settle``, before the marked process is forgotten: the daemon does it from
its process scans; the rules engine, from the proc connector's fork events
(``inherit``).

This module is pure: the daemon keeps a Marks in memory and persists it with
``dumps`` (<run_root>/cgman/sticky.json, so a restart keeps it); without a
daemon, `cgman exec --sticky` writes the file itself.
"""

from __future__ import annotations

import json

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple

    Identity = Tuple[int, int]  # (thread-group id, start time in clock ticks)

FILE = "sticky.json"


class Mark:
    __slots__ = ("sticky", "group", "since")

    def __init__(self, sticky: bool, group: str = "", since: float = 0.0):
        self.sticky = sticky
        self.group = group  # where it was placed, for `cgman status` and explain
        self.since = since

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mark) and (self.sticky, self.group, self.since) == \
            (other.sticky, other.group, other.since)

    def __repr__(self) -> str:
        return f"Mark({self.sticky!r}, {self.group!r}, {self.since!r})"


class Marks:
    def __init__(self, marks: Optional[Dict[Identity, Mark]] = None):
        self.marks: Dict[Identity, Mark] = dict(marks or {})

    def __len__(self) -> int:
        return len(self.marks)

    def decide(self, line: Sequence[Identity]) -> Optional[Mark]:
        """The nearest mark on ``line`` (a process, then its ancestors), or None."""
        for identity in line:
            mark = self.marks.get(identity)
            if mark is not None:
                return mark
        return None

    def is_sticky(self, line: Sequence[Identity]) -> bool:
        mark = self.decide(line)
        return mark is not None and mark.sticky

    def stick(self, identity: Identity, group: str, since: float) -> None:
        self.marks[identity] = Mark(True, group, since)

    def cancel(self, line: Sequence[Identity], since: float, below: Iterable[Identity] = ()) -> bool:
        """Free the process ``line[0]`` and what it started (``below``: its living
        descendants, whose inherited marks go too) for the rules; False if none of them
        was sticky."""
        below = list(below)
        was = self.is_sticky(line) or any(self.marks[i].sticky for i in below if i in self.marks)
        for identity in below:
            self.marks.pop(identity, None)
        self.marks.pop(line[0], None)
        if self.is_sticky(line):  # a sticky ancestor still covers it: say otherwise
            self.marks[line[0]] = Mark(False, "", since)
        return was

    def inherit(self, child: Identity, parent: Identity) -> None:
        """A marked process forked: the child carries the mark on its own, so that the
        parent's death does not free it."""
        mark = self.marks.get(parent)
        if mark is not None and child not in self.marks:
            self.marks[child] = mark

    def settle(self, parents: Mapping[Identity, Optional[Identity]]) -> bool:
        """``parents``: every living process and its parent (None for the top). Copy each
        mark down to the living processes it covers, then forget the marks of processes
        that are gone. True if anything changed."""
        before = dict(self.marks)
        for identity in parents:
            if identity in self.marks:
                continue
            mark = self.decide(_line(identity, parents))
            if mark is not None:
                self.marks[identity] = mark
        self.marks = {identity: mark for identity, mark in self.marks.items() if identity in parents}
        # A not-sticky mark no sticky ancestor contradicts says nothing any more.
        for identity in [i for i, m in self.marks.items() if not m.sticky]:
            if not self.is_sticky(_line(identity, parents)[1:]):
                del self.marks[identity]
        return self.marks != before

    def dumps(self) -> bytes:
        rows = [{"pid": pid, "start": start, "sticky": m.sticky, "group": m.group, "since": m.since}
                for (pid, start), m in sorted(self.marks.items())]
        return json.dumps({"version": 1, "marks": rows}, indent=1).encode() + b"\n"

    @classmethod
    def loads(cls, data: Optional[bytes]) -> "Marks":
        """The marks in ``data``; none if it is missing or not a file this version wrote
        (a lost mark lets the rules apply, which is what happens without one)."""
        try:
            doc = json.loads(data) if data else {}
            rows = doc.get("marks", []) if doc.get("version") == 1 else []
            return cls({(int(r["pid"]), int(r["start"])): Mark(r["sticky"] is True, str(r.get("group", "")),
                                                              float(r.get("since", 0.0)))
                        for r in rows})
        except (ValueError, TypeError, KeyError, AttributeError):
            return cls()


def descendants(identity: Identity, parents: Mapping[Identity, Optional[Identity]]) -> list:
    """The living processes below ``identity`` (``parents`` as for Marks.settle)."""
    return [other for other in parents if other != identity and identity in _line(other, parents)]


def _line(identity: Identity, parents: Mapping[Identity, Optional[Identity]]) -> list:
    line, seen = [], set()
    current: Optional[Identity] = identity
    while current is not None and current not in seen:  # a cycle cannot happen, but a bad map must not hang
        line.append(current)
        seen.add(current)
        current = parents.get(current)
    return line

