"""Where cgman finds the system: every root is a parameter, so the whole
program runs on a fake tree in a temporary directory."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Optional


class Roots:
    """config_dir: the *.toml drop-in directory.
    cgroup_root: None to use the mount points mountinfo lists; a directory to
      replace the cgroup mounts' common parent (normally /sys/fs/cgroup).
    proc_root: procfs.
    run_root: cgman keeps its record, lock and caches in <run_root>/cgman.

    A plain class, not a namedtuple nor a dataclass: it is on every command's
    start-up path, and `cgman exec` avoids importing collections (~3 ms) and
    dataclasses (~14 ms) there; see docs/decisions.md."""

    __slots__ = ("config_dir", "cgroup_root", "proc_root", "run_root")

    def __init__(self, config_dir: str = "/etc/cgman", cgroup_root: Optional[str] = None,
                 proc_root: str = "/proc", run_root: str = "/run"):
        self.config_dir = config_dir
        self.cgroup_root = cgroup_root
        self.proc_root = proc_root
        self.run_root = run_root

    def __repr__(self) -> str:
        return (f"Roots(config_dir={self.config_dir!r}, cgroup_root={self.cgroup_root!r}, "
                f"proc_root={self.proc_root!r}, run_root={self.run_root!r})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Roots) and all(getattr(self, f) == getattr(other, f) for f in self.__slots__)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, f) for f in self.__slots__))
