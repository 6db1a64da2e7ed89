"""Everything that differs between a cgroup v1 and a cgroup v2 hierarchy, in one place.

(Knob names and value conversions live in the knob table, knobs.py.)
Sources: Documentation/admin-guide/cgroup-v2.rst, cgroup-v1/*.rst, and
research/systemd-v2.md §3.
"""

from __future__ import annotations

from collections import namedtuple

# A namedtuple, not a dataclass: importing dataclasses costs ~14 ms of every
# command's start-up (docs/decisions.md). The fields:
#   version: int
#   subtree_control: bool -- v2: a parent enables controllers for its children in
#       cgroup.subtree_control, top-down, and only while it holds no processes
#       ("no internal processes").
#   constrains_children: bool -- v1: a child's cpuset must be a subset of its
#       parent's and its CFS quota may not exceed the parent's, so widening goes
#       top-down and narrowing bottom-up.
#   fills_cpuset: bool -- v1: a new cpuset cgroup starts with empty cpus/mems and
#       refuses tasks (ENOSPC) until both are set; v2 treats empty as "inherit".
#   task_files: Tuple[str, ...] -- files the perm.task owner gets: on v1 cgconfig
#       chowns "tasks"; cgman adds cgroup.procs so whole processes can be moved.
#       On v2 libcgroup gives task perms no meaning; cgman chowns
#       cgroup.procs/threads, which the kernel's delegation model uses (moving
#       still needs write access to the common ancestor).
#   memory_limit: str -- the hard limit: below current use, v2 OOM-kills and v1 fails EBUSY
#   memory_usage: str -- current memory use, in bytes
#   populated_file: str -- where "is anything still running in this subtree" can be
#       read in one file; "" when the version has none (v1: walk cgroup.procs)
#   threaded: FrozenSet[str] -- v2 controllers that may be enabled in a cgroup holding
#       processes: the no-internal-process rule binds domain controllers only
#       (cgroup-v2.rst "Threads"; cgroup_vet_subtree_control_enable() refuses
#       only those with EBUSY). Measured on 6.1: "+cpu" is accepted in a
#       populated cgroup, "+memory" is refused.
Flavour = namedtuple("Flavour", "version subtree_control constrains_children fills_cpuset task_files "
                                "memory_limit memory_usage populated_file threaded")


V1 = Flavour(1, False, True, True, ("tasks", "cgroup.procs"), "memory.limit_in_bytes",
             "memory.usage_in_bytes", "", frozenset())
V2 = Flavour(2, True, False, False, ("cgroup.procs", "cgroup.threads"), "memory.max",
             "memory.current", "cgroup.events", frozenset({"cpu", "cpuset", "perf_event", "pids"}))


def flavour_of(version: int) -> Flavour:
    return V2 if version == 2 else V1
