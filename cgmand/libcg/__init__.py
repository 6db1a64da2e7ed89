"""libcgroup's configuration files, read for `cgman import` (pure: text in, structures out).

cgconfig.py reads cgconfig.conf, cgrules.py reads cgrules.conf, both with the grammar
libcgroup really accepts (research/libcgroup.md §1-2), and convert.py turns them into
cgman's tables. Every problem is a Note located by file and line: an error stops that
file, a warning travels with the output as a comment.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import List

from cgmand.errors import ConfigError


class Note:
    """One thing to tell the administrator about a source line."""

    __slots__ = ("source", "line", "message", "error")

    def __init__(self, source: str, line: int, message: str, error: bool = False):
        self.source, self.line, self.message, self.error = source, line, message, error

    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.line else self.source

    def __repr__(self) -> str:
        return f"Note({self.where()}: {'error: ' if self.error else ''}{self.message})"


class ImportFailed(ConfigError):
    """A source file cannot be imported: every error in it, located by line."""

    reference = "import-invalid"

    def __init__(self, notes: "List[Note]"):
        self.notes = notes
        first = notes[0]
        more = "".join(f"\n{n.where()}: {n.message}" for n in notes[1:])
        super().__init__(f"{first.message}{more}", source=first.where(), reference="import-invalid")
