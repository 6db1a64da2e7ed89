"""What cgman reads of a process in procfs: its thread group, start time and state.

A process is named by (thread-group leader, start time): the start time
(field 22 of /proc/PID/stat, in clock ticks since boot) tells a process from
a later one that reuses its id (DESIGN.md §4).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import List, Tuple

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


def parent(pid: int, proc_root: str = "/proc") -> int:
    """The parent's process id (0 for init and kthreadd)."""
    return int(_stat_fields(proc_root, pid)[1])  # field 4: ppid


def line(pid: int, proc_root: str = "/proc") -> list:
    """Identities of the process ``pid`` and its ancestors, nearest first, up to init.
    ProcessGone if ``pid`` is gone; an ancestor that exits meanwhile ends the line."""
    found = [identity(pid, proc_root)]
    current = found[0][0]
    while True:
        try:
            up = parent(current, proc_root)
            if up <= 0:
                return found
            found.append(identity(up, proc_root))
        except ProcessGone:
            return found
        current = up


def pids(proc_root: str = "/proc") -> "List[int]":
    """The process ids /proc lists now."""
    import os

    return [int(name) for name in os.listdir(proc_root) if name.isdigit()]


def processes(proc_root: str = "/proc") -> dict:
    """Every process's identity and its parent's (None for a process whose parent is 0 or
    gone): one read of each /proc/PID/stat."""
    import os

    stats = {}
    for name in os.listdir(proc_root):
        if name.isdigit():
            try:
                fields = _stat_fields(proc_root, int(name))
            except (ProcessGone, ValueError):
                continue
            stats[int(name)] = (int(fields[19]), int(fields[1]))
    return {(pid, start): ((ppid, stats[ppid][0]) if ppid in stats else None)
            for pid, (start, ppid) in stats.items()}


def ids(pid: int, proc_root: str = "/proc") -> Tuple[Tuple[int, ...], Tuple[int, ...], Tuple[int, ...]]:
    """(real, effective, saved uids), (real, effective, saved gids), supplementary gids."""
    uids = gids = groups = ()
    for line in _read(proc_root, pid, "status").splitlines():
        key, _, value = line.partition(":")
        if key == "Uid":
            uids = tuple(int(v) for v in value.split()[:3])
        elif key == "Gid":
            gids = tuple(int(v) for v in value.split()[:3])
        elif key == "Groups":
            groups = tuple(int(v) for v in value.split())
    if len(uids) != 3 or len(gids) != 3:
        raise ProcessGone("read", f"{proc_root}/{pid}/status", 0, f"process {pid} is gone")
    return uids, gids, groups


def start_time(pid: int, proc_root: str = "/proc") -> int:
    """The start time of process ``pid`` (one read of its stat: ``pid`` is a process id)."""
    return int(_stat_fields(proc_root, pid)[19])
