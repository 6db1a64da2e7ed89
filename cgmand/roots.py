"""Where cgman finds the system: every root is a parameter, so the whole
program runs on a fake tree in a temporary directory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Roots:
    config_dir: str = "/etc/cgman"
    # None: use the mount points mountinfo lists. A directory: the cgroup
    # mounts' common parent (normally /sys/fs/cgroup) is replaced by it.
    cgroup_root: Optional[str] = None
    proc_root: str = "/proc"
    run_root: str = "/run"  # cgman keeps its record and lock in <run_root>/cgman
