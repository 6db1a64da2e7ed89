"""<run_root>/cgman/sticky.json: the sticky marks (cgmand/sticky.py), kept across
daemon restarts. Changed under an exclusive lock on sticky.lock by whoever
changes it: cgmand, or `cgman exec --sticky` run as root with no cgmand."""

from __future__ import annotations

import fcntl
import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Any, Callable

from cgmand.kernel import runfiles
from cgmand.sticky import FILE, Marks


def _path(run_root: str, name: str = FILE) -> str:
    return os.path.join(run_root, "cgman", name)


def load(run_root: str) -> Marks:
    return Marks.loads(runfiles.read_trusted(_path(run_root)))


def update(run_root: str, change: Callable[[Marks], Any]) -> Marks:
    """Apply ``change`` to the marks on file, and write them back if it returned true;
    the marks as they now are. Raises OSError (not root, a read-only run directory)."""
    lock = _path(run_root, "sticky.lock")
    os.makedirs(os.path.dirname(lock), mode=0o755, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        marks = load(run_root)
        if change(marks):
            runfiles.write_atomically(_path(run_root), marks.dumps())
        return marks
    finally:
        os.close(fd)  # and with it the lock
