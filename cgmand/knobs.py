"""The knob catalogue: the single source of truth for what a config key means.

A *key* is what a TOML file writes (``cpu.shares``); a *concept* is what it
means, named by its cgroup v2 spelling (``cpu.weight``). Each concept knows its
controller, the value type of each spelling, the kernel files it becomes on a
v1 or a v2 hierarchy, how to convert between them (systemd's linear formulas,
see research/systemd-v2.md §4), and why it cannot be honoured where it cannot.

Values are kept in the spelling the admin used and converted only when the
host's hierarchy speaks the other version, so ``cpu.shares = 100`` on a v1 host
writes 100, not a round trip through ``cpu.weight``.

docs/config.md's knob reference is generated from this table
(``python -m cgmand.docgen``) and a test keeps it in step.

Pure module: no I/O.
"""

from __future__ import annotations

import re
from collections import namedtuple
from types import MappingProxyType
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Any, Callable, Dict, List, Optional, Tuple

    Translator = Callable[[Dict[str, Any], int, "Context"], List["FileSetting"]]

from cgmand import values as v
from cgmand.values import MAX


# Records are namedtuples, not dataclasses: importing dataclasses costs ~14 ms
# of every command's start-up (docs/decisions.md).

# One kernel file of one cgroup and the value it must hold:
#   file: str
#   value: Any -- as the kernel will read it back (sizes already rounded)
#   vtype: v.ValueType
#   source: str -- the config key that asked for it, for messages
#   order: int -- write order within one cgroup when raising; reversed when lowering
#   inherit: bool = False -- v1 cpuset: follow the parent's value (value is None)
#   follows: Optional[str] = None -- v1 CFS period: the quota file it forms a ratio with (plan._cfs_pair)
#   reset: bool = False -- no longer configured: put back to a new cgroup's value (reset_setting)
FileSetting = namedtuple("FileSetting", "file value vtype source order inherit follows reset",
                         defaults=(False, None, False))


class Untranslatable(Exception):
    """A key cannot be honoured on this host; ``reason`` says why."""

    def __init__(self, key: str, reason: str, hint: Optional[str] = None):
        super().__init__(reason)
        self.key, self.reason, self.hint = key, reason, hint


# What a translation may look at besides the concept's own keys:
#   page_size: int
#   group: Mapping[str, Any] = {} -- all keys of the group (the default is a read-only empty mapping)
Context = namedtuple("Context", "page_size group", defaults=(MappingProxyType({}),))


# A knob concept (namedtuple for start-up cost, like FileSetting):
#   name: str -- v2 spelling (or the v1 name for v1-only concepts)
#   controller: str -- canonical controller (see CONTROLLERS)
#   doc: str
#   conversion: str -- how v1 and v2 relate, for docs
#   translate: Translator
#   keys: Tuple[Tuple[str, int, v.ValueType], ...] -- (key, version 1/2/0=both, type)
Concept = namedtuple("Concept", "name controller doc conversion translate keys")


# The controllers live in controllers.py (the host model and `cgman exec` need them
# without this module's value types and regexes).
from cgmand.controllers import CONTROLLER_ALIASES, CONTROLLERS, Controller  # noqa: E402,F401

# Keys that look like knobs but are refused everywhere, with the reason.
REFUSED = {
    "memory.kmem.limit_in_bytes": "kernel memory limits are deprecated; the kernel ignores them",
    "memory.kmem.tcp.limit_in_bytes": "kernel memory limits are deprecated; the kernel ignores them",
    "memory.force_empty": "an action, not a setting",
    "freezer.state": "a runtime state, not configuration",
    "cgroup.freeze": "a runtime state, not configuration",
    "cgroup.kill": "an action, not a setting",
    "devices.allow": "device rules are not managed by cgman yet (on v2 they are eBPF-only)",
    "devices.deny": "device rules are not managed by cgman yet (on v2 they are eBPF-only)",
    "net_cls.classid": "net_cls is not managed by cgman yet (and has no cgroup v2 counterpart)",
    "net_prio.ifpriomap": "net_prio is not managed by cgman yet (and has no cgroup v2 counterpart)",
    "cpuset.cpus.partition": "cpuset partitions are not supported yet",
    "cpuset.cpus.exclusive": "cpuset partitions are not supported yet",
    "io.latency": "io.latency is not supported yet",
    "cpu.uclamp.min": "utilisation clamping is not supported yet",
    "cpu.uclamp.max": "utilisation clamping is not supported yet",
}


def _one(files: Tuple[str, str], vtypes: Tuple[v.ValueType, v.ValueType], order: int,
         to_v1: Callable[[Any], Any] = lambda x: x, to_v2: Callable[[Any], Any] = lambda x: x,
         granular: bool = False) -> Translator:
    """Translator for a concept that is one file on each side (v1 name, v2 name)."""

    def translate(keys: Dict[str, Any], version: int, ctx: Context) -> List[FileSetting]:
        (key, value), = keys.items()
        written_side = _side_of(key, files)
        if written_side != version:
            value = to_v2(value) if version == 2 else to_v1(value)
        if granular:
            value = v.round_size(value, ctx.page_size)
        index = 0 if version == 1 else 1
        return [FileSetting(files[index], value, vtypes[index], key, order)]

    return translate


def _side_of(key: str, files: Tuple[str, str]) -> int:
    return 2 if key == files[1] else 1


def _only(version_ok: int, file: str, vtype: v.ValueType, order: int, reason: str,
          hint: Optional[str] = None, noop: Optional[Any] = None) -> Translator:
    """Translator for a concept that exists on one version only.

    ``noop`` is a value that already holds on the other version (for example
    memory.use_hierarchy = 1 on v2, which is always hierarchical): it
    translates to nothing instead of being refused.
    """

    def translate(keys: Dict[str, Any], version: int, ctx: Context) -> List[FileSetting]:
        (key, value), = keys.items()
        if version == version_ok:
            return [FileSetting(file, value, vtype, key, order)]
        if noop is not None and value == noop:
            return []
        raise Untranslatable(key, reason, hint)

    return translate


def _shares_to_weight(shares: int) -> int:
    # systemd cgroup_cpu_shares_to_weight(): linear, default 1024 <-> 100, clamped.
    return min(max(shares * 100 // 1024, 1), 10000)


def _weight_to_shares(weight: int) -> int:
    return min(max(weight * 1024 // 100, 2), 262144)


def _blkio_to_io(weight: int) -> int:
    # systemd cgroup_weight_blkio_to_io(): default 500 <-> 100.
    return min(max(weight * 100 // 500, 1), 10000)


def _io_to_blkio(weight: int) -> int:
    return min(max(weight * 500 // 100, 10), 1000)


SIZE2, SIZE1 = v.Size(), v.Size(max_text="-1")
QUOTA1 = v.IntOrMax(1000, 2**63 - 1, max_text="-1", what="microseconds")
PERIOD1 = v.Int(1000, 1000000, "microseconds")
RT_RUNTIME = v.IntOrMax(0, 2**63 - 1, max_text="-1", what="microseconds")
RT_PERIOD = v.Int(1, 2**31, "microseconds")


def _cpu_max(keys: Dict[str, Any], version: int, ctx: Context) -> List[FileSetting]:
    if "cpu.max" in keys:
        quota, period = keys["cpu.max"]
        source = "cpu.max"
    else:
        quota = keys.get("cpu.cfs_quota_us", MAX)
        period = keys.get("cpu.cfs_period_us", v.CpuMax.DEFAULT_PERIOD)
        source = "cpu.cfs_quota_us" if "cpu.cfs_quota_us" in keys else "cpu.cfs_period_us"
    if version == 2:
        return [FileSetting("cpu.max", (quota, period), v.CpuMax(), source, 20)]
    # v1 checks the quota/period ratio against the parent's (research §3.10):
    # the period moves with the quota, first when raising, last when lowering.
    return [
        FileSetting("cpu.cfs_period_us", period, PERIOD1, source, 20, follows="cpu.cfs_quota_us"),
        FileSetting("cpu.cfs_quota_us", quota, QUOTA1, source, 21),
    ]


def _swap(keys: Dict[str, Any], version: int, ctx: Context) -> List[FileSetting]:
    """memory.swap.max (swap alone) <-> v1 memsw (memory + swap), research §4.2."""
    (key, value), = keys.items()
    limit = ctx.group.get("memory.max", ctx.group.get("memory.limit_in_bytes", MAX))
    page = ctx.page_size
    if key == "memory.swap.max" and version == 2:
        return [FileSetting("memory.swap.max", v.round_size(value, page), SIZE2, key, 10)]
    if key == "memory.memsw.limit_in_bytes" and version == 1:
        if value != MAX and limit == MAX:
            raise Untranslatable(key, "a finite memory+swap limit needs a finite "
                                 "memory.limit_in_bytes in the same group (the kernel refuses it)")
        if value != MAX and value < limit:
            raise Untranslatable(key, "memory+swap limit is below memory.limit_in_bytes "
                                 "(the kernel refuses it)")
        return [FileSetting(key, v.round_size(value, page), SIZE1, key, 10)]
    if limit == MAX and value != MAX:
        raise Untranslatable(key, f"converting {key} between cgroup v1 (memory+swap) and v2 "
                             "(swap alone) needs a finite memory limit in the same group",
                             "set memory.max, or use the spelling of this host's cgroup version")
    if version == 1:  # swap.max -> memsw = limit + swap
        memsw = MAX if value == MAX else limit + value
        return [FileSetting("memory.memsw.limit_in_bytes", v.round_size(memsw, page), SIZE1, key, 10)]
    if value != MAX and value < limit:
        raise Untranslatable(key, "memory+swap limit is below the memory limit")
    swap = MAX if value == MAX else value - limit
    return [FileSetting("memory.swap.max", v.round_size(swap, page), SIZE2, key, 10)]


def _cpuset(file: str) -> Translator:
    def translate(keys: Dict[str, Any], version: int, ctx: Context) -> List[FileSetting]:
        (key, value), = keys.items()
        return [FileSetting(file, value, v.CpuList(), key, 0 if file == "cpuset.cpus" else 1)]

    return translate


THROTTLE_FILES = (
    "blkio.throttle.read_bps_device",
    "blkio.throttle.write_bps_device",
    "blkio.throttle.read_iops_device",
    "blkio.throttle.write_iops_device",
)


class ThrottleConfig(v.ValueType):
    """Config spelling of a v1 throttle file: "MAJ:MIN N" lines (or a list)."""

    expected = 'device limits such as "8:0 1048576" (a number, a size for bps; 0 or "max" for none), or a list'

    def parse(self, raw: Any) -> Tuple:
        lines = raw if isinstance(raw, list) else [raw]
        devices = {}
        for line in lines:
            if not isinstance(line, str):
                raise v.ValueProblem(self.expected, raw)
            for part in filter(str.strip, line.splitlines()):
                words = part.split()
                if len(words) != 2 or not re.match(r"^\d+:\d+$", words[0]):
                    raise v.ValueProblem(self.expected, part)
                if words[0] in devices:
                    raise v.ValueProblem(self.expected + ", each device once", part)
                # As in the v1 file itself, 0 means "no limit".
                limit = v.Size().parse(words[1])
                devices[words[0]] = MAX if limit == 0 else limit
        return tuple(sorted(devices.items()))


def _io_max(keys: Dict[str, Any], version: int, ctx: Context) -> List[FileSetting]:
    if version == 2:
        if "io.max" in keys:
            return [FileSetting("io.max", keys["io.max"], v.IoMax(), "io.max", 30)]
        devices: Dict[str, List[Any]] = {}
        for index, file in enumerate(THROTTLE_FILES):
            for device, limit in keys.get(file, ()):
                devices.setdefault(device, [MAX] * 4)[index] = limit
        value = v.IoMax._normal({d: tuple(lim) for d, lim in devices.items()})
        return [FileSetting("io.max", value, v.IoMax(), next(iter(keys)), 30)]
    if "io.max" in keys:
        per_file = [
            tuple((dev, lim[i]) for dev, lim in keys["io.max"] if lim[i] != MAX)
            for i in range(4)
        ]
        return [FileSetting(f, per_file[i], v.DeviceLimits(), "io.max", 30)
                for i, f in enumerate(THROTTLE_FILES)]
    return [FileSetting(f, tuple((d, lim) for d, lim in keys[f] if lim != MAX),
                        v.DeviceLimits(), f, 30) for f in THROTTLE_FILES if f in keys]


def _concepts() -> List[Concept]:
    c = Concept
    weight = v.Int(1, 10000, "a weight")
    out = [
        c("cpu.weight", "cpu", "Relative CPU share among siblings (default 100).",
          "cpu.shares = weight × 1024 / 100, clamped to 2–262144; weight = shares × 100 / 1024, "
          "clamped to 1–10000 (systemd's formulas)",
          _one(("cpu.shares", "cpu.weight"), (v.Int(2, 262144), weight), 22,
               _weight_to_shares, _shares_to_weight),
          (("cpu.weight", 2, weight), ("cpu.shares", 1, v.Int(2, 262144, "shares")))),
        c("cpu.weight.nice", "cpu", "CPU weight expressed as a nice value (-20..19).",
          "v2 only: refused on v1",
          _only(2, "cpu.weight.nice", v.Int(-20, 19), 22, "cgroup v1 has no cpu.weight.nice",
                "use cpu.weight (or cpu.shares)"),
          (("cpu.weight.nice", 2, v.Int(-20, 19, "a nice value")),)),
        c("cpu.max", "cpu", 'CPU bandwidth limit "QUOTA PERIOD" in µs per period.',
          "v1 cpu.cfs_quota_us (-1 = max) and cpu.cfs_period_us, same microseconds",
          _cpu_max,
          (("cpu.max", 2, v.CpuMax()), ("cpu.cfs_quota_us", 1, QUOTA1),
           ("cpu.cfs_period_us", 1, PERIOD1))),
        c("cpu.max.burst", "cpu", "Extra CPU time (µs) a group may bank for bursts.",
          "v1 cpu.cfs_burst_us, same microseconds",
          _one(("cpu.cfs_burst_us", "cpu.max.burst"), (v.Int(0, 2**63 - 1),) * 2, 23),
          (("cpu.max.burst", 2, v.Int(0, 2**63 - 1, "microseconds")),
           ("cpu.cfs_burst_us", 1, v.Int(0, 2**63 - 1, "microseconds")))),
        c("cpu.idle", "cpu", "1 makes the group SCHED_IDLE among its siblings.",
          "same file on v1 and v2 (kernel 5.15+)",
          _one(("cpu.idle", "cpu.idle"), (v.Bool01(),) * 2, 24), (("cpu.idle", 0, v.Bool01()),)),
        c("cpu.rt_runtime_us", "cpu", "Realtime runtime per period (µs), v1 only.",
          "v1 only: cgroup v2's cpu controller has no realtime bandwidth",
          _only(1, "cpu.rt_runtime_us", RT_RUNTIME, 25, "cgroup v2 has no realtime bandwidth (cpu.rt_*)"),
          (("cpu.rt_runtime_us", 1, RT_RUNTIME),)),
        c("cpu.rt_period_us", "cpu", "Realtime period (µs), v1 only.",
          "v1 only: cgroup v2's cpu controller has no realtime bandwidth",
          _only(1, "cpu.rt_period_us", RT_PERIOD, 24, "cgroup v2 has no realtime bandwidth (cpu.rt_*)"),
          (("cpu.rt_period_us", 1, RT_PERIOD),)),
        c("memory.max", "memory", "Hard memory limit; above it the group reclaims, then OOM-kills.",
          "v1 memory.limit_in_bytes (-1 = max); rounded down to whole pages",
          _one(("memory.limit_in_bytes", "memory.max"), (SIZE1, SIZE2), 11, granular=True),
          (("memory.max", 2, SIZE2), ("memory.limit_in_bytes", 1, SIZE1))),
        c("memory.swap.max", "memory", "Swap limit.",
          "v1 memory.memsw.limit_in_bytes limits memory+swap: memsw = memory.max + swap.max, "
          "swap.max = memsw − limit; both need a finite memory limit in the same group",
          _swap, (("memory.swap.max", 2, SIZE2), ("memory.memsw.limit_in_bytes", 1, SIZE1))),
        c("memory.high", "memory", "Memory throttle limit: reclaim hard above it, never OOM-kill.",
          "v2 only: cgroup v1 has no throttle limit",
          _only(2, "memory.high", SIZE2, 12, "cgroup v1 has no memory.high (throttle limit)",
                "use memory.max for a hard limit"),
          (("memory.high", 2, SIZE2),)),
        c("memory.low", "memory", "Best-effort memory protection.",
          "v1 memory.soft_limit_in_bytes (the kernel doc names memory.low its successor)",
          _one(("memory.soft_limit_in_bytes", "memory.low"), (SIZE1, SIZE2), 13, granular=True),
          (("memory.low", 2, SIZE2), ("memory.soft_limit_in_bytes", 1, SIZE1))),
        c("memory.min", "memory", "Hard memory protection.",
          "v2 only: cgroup v1 has no hard protection",
          _only(2, "memory.min", SIZE2, 14, "cgroup v1 has no memory.min (hard protection)"),
          (("memory.min", 2, SIZE2),)),
        c("memory.swap.high", "memory", "Swap throttle limit.", "v2 only",
          _only(2, "memory.swap.high", SIZE2, 15, "cgroup v1 has no memory.swap.high"),
          (("memory.swap.high", 2, SIZE2),)),
        c("memory.oom.group", "memory", "1 makes the OOM killer kill the whole group together.",
          "v2 only", _only(2, "memory.oom.group", v.Bool01(), 16, "cgroup v1 has no memory.oom.group"),
          (("memory.oom.group", 2, v.Bool01()),)),
        c("memory.swappiness", "memory", "Per-group swappiness (0–100), v1 only.",
          "v1 only: cgroup v2 has no per-group swappiness",
          _only(1, "memory.swappiness", v.Int(0, 100), 16, "cgroup v2 has no per-group swappiness"),
          (("memory.swappiness", 1, v.Int(0, 100)),)),
        c("memory.oom_control", "memory", "1 disables the OOM killer for the group, v1 only.",
          "v1 only: refused on v2 (memory.oom.group is a different thing)",
          _only(1, "memory.oom_control", v.OomControl(), 16,
                "cgroup v2 cannot disable the OOM killer for a group"),
          (("memory.oom_control", 1, v.Bool01()),)),
        c("memory.use_hierarchy", "memory", "Always 1 on current kernels.",
          "v2 is always hierarchical: 1 is accepted there and writes nothing",
          _only(1, "memory.use_hierarchy", v.Int(1, 1), 16, "", noop=1),
          (("memory.use_hierarchy", 1, v.Int(1, 1, "the value")),)),
        c("memory.move_charge_at_immigrate", "memory", "Deprecated v1 charge moving (0–3).",
          "v2 never moves charges: 0 is accepted there and writes nothing",
          _only(1, "memory.move_charge_at_immigrate", v.Int(0, 3), 16,
                "cgroup v2 never moves memory charges with a process", noop=0),
          (("memory.move_charge_at_immigrate", 1, v.Int(0, 3)),)),
        c("io.weight", "io", "Relative IO share among siblings (default 100).",
          "v1 blkio.weight = io.weight × 5, clamped to 10–1000; io.weight = blkio.weight / 5",
          _one(("blkio.weight", "io.weight"), (v.Int(10, 1000), v.Weight(1, 10000)), 31,
               _io_to_blkio, _blkio_to_io),
          (("io.weight", 2, weight), ("blkio.weight", 1, v.Int(10, 1000, "a weight")))),
        c("io.bfq.weight", "io", "BFQ scheduler weight (1–1000).", "v1 blkio.bfq.weight, same values",
          _one(("blkio.bfq.weight", "io.bfq.weight"), (v.Weight(1, 1000, plain=True),) * 2, 32),
          (("io.bfq.weight", 2, v.Int(1, 1000, "a weight")),
           ("blkio.bfq.weight", 1, v.Int(1, 1000, "a weight")))),
        c("io.max", "io", 'Per-device limits: "MAJ:MIN rbps=N wbps=N riops=N wiops=N".',
          "v1 blkio.throttle.{read,write}_{bps,iops}_device, one file per limit",
          _io_max, (("io.max", 2, v.IoMax()),) + tuple((f, 1, ThrottleConfig()) for f in THROTTLE_FILES)),
        c("pids.max", "pids", "Maximum number of tasks.", "same file on v1 and v2",
          _one(("pids.max", "pids.max"), (v.IntOrMax(0, 2**31),) * 2, 40),
          (("pids.max", 0, v.IntOrMax(0, 2**31, what="a task count")),)),
        c("cpuset.cpus", "cpuset", "CPUs the group may run on.",
          "same file; on v1 an unset list is filled from the parent (the kernel requires it)",
          _cpuset("cpuset.cpus"), (("cpuset.cpus", 0, v.CpuList()),)),
        c("cpuset.mems", "cpuset", "Memory nodes the group may allocate from.",
          "same file; on v1 an unset list is filled from the parent (the kernel requires it)",
          _cpuset("cpuset.mems"), (("cpuset.mems", 0, v.CpuList()),)),
    ]
    for flag, reason, noop in (
        ("cpu_exclusive", "cgroup v2 has only partitions, which are not the same (not supported yet)", None),
        ("mem_exclusive", "cgroup v2 has no memory exclusivity", None),
        ("mem_hardwall", "cgroup v2 has no memory hardwall", None),
        ("memory_migrate", "cgroup v2 always migrates memory with the cpuset", 1),
        ("sched_load_balance", "cgroup v2 uses partitions instead (not supported yet)", None),
        ("memory_spread_page", "cgroup v2 has no memory spreading", None),
        ("memory_spread_slab", "cgroup v2 has no memory spreading", None),
    ):
        name = f"cpuset.{flag}"
        out.append(c(name, "cpuset", f"v1 cpuset flag {flag}.", "v1 only: " + reason,
                     _only(1, name, v.Bool01(), 2, reason, noop=noop), ((name, 1, v.Bool01()),)))
    return out


CONCEPTS: Dict[str, Concept] = {concept.name: concept for concept in _concepts()}
KEYS: Dict[str, Tuple[Concept, int, v.ValueType]] = {
    key: (concept, version, vtype) for concept in CONCEPTS.values() for key, version, vtype in concept.keys
}

_HUGETLB = re.compile(r"^hugetlb\.(\d+)([KMG])B\.(max|limit_in_bytes|rsvd\.max|rsvd\.limit_in_bytes)$")


def _hugetlb(key: str) -> Optional[Tuple[Concept, int, v.ValueType]]:
    """hugetlb.<size>.max (v2) <-> hugetlb.<size>.limit_in_bytes (v1), per huge page size."""
    match = _HUGETLB.match(key)
    if not match:
        return None
    size, unit, kind = match.groups()
    prefix = f"hugetlb.{size}{unit}B."
    rsvd = "rsvd." if kind.startswith("rsvd") else ""
    files = (prefix + rsvd + "limit_in_bytes", prefix + rsvd + "max")
    version = 2 if kind.endswith("max") else 1
    granularity = int(size) * v._SUFFIXES[unit]
    base = _one(files, (SIZE1, SIZE2), 50, granular=True)

    def translate(keys: Dict[str, Any], target: int, ctx: Context) -> List[FileSetting]:
        # The kernel keeps whole huge pages (mm/hugetlb_cgroup.c rounds down).
        return base(keys, target, Context(granularity, ctx.group))

    concept = Concept(files[1], "hugetlb", "HugeTLB usage limit for one huge page size.",
                      "v1 hugetlb.<size>.limit_in_bytes; rounded down to whole huge pages",
                      translate, ((files[1], 2, SIZE2), (files[0], 1, SIZE1)))
    return concept, version, SIZE2 if version == 2 else SIZE1


# What a new cgroup holds before anyone writes, per concept, in the concept's
# own spelling (Documentation/admin-guide/cgroup-v2.rst; cgroup-v1/*.rst). A
# file cgman wrote whose key has left the configuration is put back to it, as
# systemd does when a property leaves a unit. Concepts not listed have no
# fixed default: they follow the parent (v1 cpusets, swappiness, the cpuset
# flags) or depend on it (cpu.rt_runtime_us).
_DEFAULTS: Dict[str, Any] = {
    "cpu.weight": 100, "cpu.weight.nice": 0, "cpu.max": (MAX, v.CpuMax.DEFAULT_PERIOD), "cpu.max.burst": 0,
    "cpu.idle": 0, "cpu.rt_period_us": 1000000,
    "memory.max": MAX, "memory.swap.max": MAX, "memory.high": MAX, "memory.low": 0, "memory.min": 0,
    "memory.swap.high": MAX, "memory.oom.group": 0, "memory.oom_control": 0,
    "io.weight": 100, "io.bfq.weight": 100, "io.max": (), "pids.max": MAX,
}
_V2_DEFAULTS = {"cpuset.cpus": frozenset(), "cpuset.mems": frozenset()}  # empty: use the parent's
_FILE_DEFAULTS = {"memory.soft_limit_in_bytes": MAX}  # memory.low's v1 file starts unlimited, not 0
# Concepts (and, being v2-only, files) over one kernel value: set together they
# fight (the later write wins), and resetting one would undo the other.
OVERLAPPING = (("cpu.weight", "cpu.weight.nice"),)
SAME_VALUE = dict(OVERLAPPING + tuple((b, a) for a, b in OVERLAPPING))
# The v1 CFS period and quota form one ratio (plan._cfs_pair): one is never put
# back without the other, even if a failed write left only one in the record.
RESET_TOGETHER = {"cpu.cfs_period_us": "cpu.cfs_quota_us", "cpu.cfs_quota_us": "cpu.cfs_period_us"}
RESET_SOURCE = "(no longer configured)"
_resets: Dict[Tuple[int, int], Dict[str, FileSetting]] = {}


def reset_setting(file: str, version: int, page_size: int) -> Optional[FileSetting]:
    """The setting that puts ``file`` back to a new cgroup's value; None if it has no fixed one."""
    table = _resets.get((version, page_size))
    if table is None:
        table = _resets[(version, page_size)] = {}
        defaults = dict(_DEFAULTS, **(_V2_DEFAULTS if version == 2 else {}))
        for name, value in defaults.items():
            try:
                made = CONCEPTS[name].translate({name: value}, version, Context(page_size))
            except Untranslatable:  # a knob of the other version only
                continue
            table.update((setting.file, _as_reset(setting)) for setting in made)
    found = table.get(file)
    hugetlb = None if found is not None else _hugetlb(file)
    if hugetlb is not None:
        concept = hugetlb[0]
        found = next((_as_reset(s) for s in concept.translate({file: MAX}, version, Context(page_size))
                      if s.file == file), None)
    return found


def _as_reset(made: FileSetting) -> FileSetting:
    return made._replace(value=_FILE_DEFAULTS.get(made.file, made.value), source=RESET_SOURCE, reset=True)


# Why a v1 interface file may be missing from a running kernel: (reason, hint).
_MISSING = {
    "blkio.weight": ("it belonged to the CFQ I/O scheduler, removed in Linux 5.0",
                     "with the BFQ scheduler, set io.bfq.weight instead"),
    "blkio.bfq.weight": ("the BFQ I/O scheduler is not loaded",
                         "modprobe bfq, and select it in /sys/block/<dev>/queue/scheduler"),
    "memory.memsw.limit_in_bytes": ("swap accounting is off", "boot with swapaccount=1"),
    "cpu.rt_runtime_us": ("the kernel was built without CONFIG_RT_GROUP_SCHED", None),
    "cpu.rt_period_us": ("the kernel was built without CONFIG_RT_GROUP_SCHED", None),
    "cpu.cfs_burst_us": ("it needs Linux 5.14 or later", None),
    "cpu.idle": ("it needs Linux 5.15 or later", None),
}


def why_missing(file: str) -> Tuple[str, Optional[str]]:
    return _MISSING.get(file, ("this kernel does not offer it", None))


def lookup(key: str) -> Optional[Tuple[Concept, int, v.ValueType]]:
    """The concept, spelling version and config value type of a key, or None."""
    return KEYS.get(key) or _hugetlb(key)


def suggest(key: str) -> Optional[str]:
    """The nearest known key, for "did you mean" hints."""
    import difflib  # only needed when something is wrong

    known = list(KEYS) + list(REFUSED)
    size = re.match(r"^hugetlb\.([^.]+)\.", key)
    if size:  # hugetlb names carry the page size: suggest with the same one
        known += [f"hugetlb.{size.group(1)}.{kind}"
                  for kind in ("max", "limit_in_bytes", "rsvd.max", "rsvd.limit_in_bytes")]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return close[0] if close else None
