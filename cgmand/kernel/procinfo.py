"""What cgman reads of a process in procfs: its thread group, start time and state.

A process is named by (thread-group leader, start time): the start time
(field 22 of /proc/PID/stat, in clock ticks since boot) tells a process from
a later one that reuses its id (DESIGN.md §4).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Tuple

from cgmand.errors import ProcessGone


def _read(proc_root: str, pid: int, name: str) -> str:
    path = f"{proc_root}/{pid}/{name}"
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError as err:
        raise ProcessGone("read", path, err.errno or 0, f"process {pid} is gone") from None


def _stat_fields(proc_root: str, pid: int) -> list:
    # The command name (field 2) is in parentheses and may hold spaces and ")": the
    # fields that follow start after the last ")".
    text = _read(proc_root, pid, "stat")
    return text[text.rindex(")") + 2:].split()


def identity(pid: int, proc_root: str = "/proc") -> Tuple[int, int]:
    """(thread-group leader, its start time) of the process that ``pid`` (a process or a
    thread id) belongs to. ProcessGone if there is none."""
    leader = pid
    for line in _read(proc_root, pid, "status").splitlines():
        if line.startswith("Tgid:"):
            leader = int(line.split()[1])
            break
    return leader, int(_stat_fields(proc_root, leader)[19])  # field 22: starttime


def is_zombie(pid: int, proc_root: str = "/proc") -> bool:
    """Exited but not yet reaped (or gone altogether)."""
    try:
        return _stat_fields(proc_root, pid)[0] in ("Z", "X")
    except ProcessGone:
        return True
