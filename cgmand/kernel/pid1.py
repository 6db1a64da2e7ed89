"""Is systemd PID 1? Asked of procfs, not of cgman's run directory.

sd_booted(3) checks /run/systemd/system. cgman's ``--run-root`` moves only
cgman's own state (record, lock, caches); if it also moved this answer, a
run directory elsewhere would make cgman write outside systemd's delegation
on a systemd host. PID 1's name in ``<proc_root>/1/comm`` follows the proc
root instead, which is what describes the system. Where procfs hides other
users' processes (hidepid=), sd_booted's directory is the answer.
"""

from __future__ import annotations

import os


def systemd_is_pid1(proc_root: str) -> bool:
    try:
        with open(os.path.join(proc_root, "1", "comm"), encoding="utf-8", errors="replace") as handle:
            return handle.read().strip() == "systemd"
    except FileNotFoundError:
        if proc_root != "/proc":  # a fake system without PID 1: not systemd
            return False
    except OSError:
        pass
    return os.path.isdir("/run/systemd/system")
