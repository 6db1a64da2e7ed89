"""Where cgman finds the system: every root is a parameter, so the whole
program runs on a fake tree in a temporary directory."""

from __future__ import annotations

from collections import namedtuple

# config_dir: the *.toml drop-in directory.
# cgroup_root: None to use the mount points mountinfo lists; a directory to
#   replace the cgroup mounts' common parent (normally /sys/fs/cgroup).
# proc_root: procfs.
# run_root: cgman keeps its record, lock and caches in <run_root>/cgman.
# (A namedtuple, not a dataclass: this is on every command's start-up path,
# and importing dataclasses costs ~14 ms there; see docs/decisions.md.)
Roots = namedtuple("Roots", "config_dir cgroup_root proc_root run_root",
                   defaults=("/etc/cgman", None, "/proc", "/run"))
