"""The knob catalogue: every concept's translation to v1 and v2 kernel files, refusals and look-ups."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import pytest

from cgmand import knobs
from cgmand import values as v
from cgmand.knobs import Context, Untranslatable

K, M, G = 2**10, 2**20, 2**30
THROTTLE = knobs.THROTTLE_FILES  # read_bps, write_bps, read_iops, write_iops


def _parsed(raw: Dict[str, Any]) -> Dict[str, Any]:
    """Config values parsed with their key's own config type, as config.parse does."""
    return {key: knobs.lookup(key)[2].parse(value) for key, value in raw.items()}


def translate(keys: Dict[str, Any], version: int, group: Optional[Dict[str, Any]] = None,
              page_size: int = 4096) -> List[knobs.FileSetting]:
    """Translate one concept's keys (raw config values) for a cgroup version.

    ``group`` holds the group's other keys (raw), which some concepts look at.
    """
    keys = _parsed(keys)
    concept = knobs.lookup(next(iter(keys)))[0]
    everything = {**_parsed(group or {}), **keys}
    return concept.translate(keys, version, Context(page_size, everything))


def kernel_text(keys: Dict[str, Any], version: int, group: Optional[Dict[str, Any]] = None,
                page_size: int = 4096) -> List[Tuple[str, str]]:
    """(file, text written) for each kernel file a translation produces, in catalogue order."""
    return [(fs.file, fs.vtype.format(fs.value)) for fs in translate(keys, version, group, page_size)]


def refusal(keys: Dict[str, Any], version: int, group: Optional[Dict[str, Any]] = None) -> Untranslatable:
    with pytest.raises(Untranslatable) as caught:
        translate(keys, version, group)
    return caught.value


# --- one-file concepts, both directions ---------------------------------------------------

TRANSLATIONS = [
    # cpu.weight <-> cpu.shares: systemd's linear formulas, clamped
    ({"cpu.weight": 100}, 2, [("cpu.weight", "100")]),
    ({"cpu.weight": 100}, 1, [("cpu.shares", "1024")]),
    ({"cpu.weight": 50}, 1, [("cpu.shares", "512")]),
    ({"cpu.weight": 200}, 1, [("cpu.shares", "2048")]),
    ({"cpu.weight": 1}, 1, [("cpu.shares", "10")]),
    ({"cpu.weight": 10000}, 1, [("cpu.shares", "102400")]),
    ({"cpu.shares": 1024}, 1, [("cpu.shares", "1024")]),
    ({"cpu.shares": 100}, 1, [("cpu.shares", "100")]),
    ({"cpu.shares": 1024}, 2, [("cpu.weight", "100")]),
    ({"cpu.shares": 512}, 2, [("cpu.weight", "50")]),
    ({"cpu.shares": 2048}, 2, [("cpu.weight", "200")]),
    ({"cpu.shares": 10240}, 2, [("cpu.weight", "1000")]),
    ({"cpu.shares": 100}, 2, [("cpu.weight", "9")]),
    ({"cpu.shares": 2}, 2, [("cpu.weight", "1")]),
    ({"cpu.shares": 10}, 2, [("cpu.weight", "1")]),
    ({"cpu.shares": 262144}, 2, [("cpu.weight", "10000")]),
    # cpu.weight.nice (v2 only)
    ({"cpu.weight.nice": -5}, 2, [("cpu.weight.nice", "-5")]),
    # cpu.max <-> cpu.cfs_period_us + cpu.cfs_quota_us (period written first)
    ({"cpu.max": "50000 100000"}, 2, [("cpu.max", "50000 100000")]),
    ({"cpu.max": "max"}, 2, [("cpu.max", "max 100000")]),
    ({"cpu.max": 20000}, 2, [("cpu.max", "20000 100000")]),
    ({"cpu.max": "50000 100000"}, 1, [("cpu.cfs_period_us", "100000"), ("cpu.cfs_quota_us", "50000")]),
    ({"cpu.max": "max 20000"}, 1, [("cpu.cfs_period_us", "20000"), ("cpu.cfs_quota_us", "-1")]),
    ({"cpu.cfs_quota_us": 50000}, 2, [("cpu.max", "50000 100000")]),
    ({"cpu.cfs_quota_us": -1}, 2, [("cpu.max", "max 100000")]),
    ({"cpu.cfs_period_us": 50000}, 2, [("cpu.max", "max 50000")]),
    ({"cpu.cfs_quota_us": 25000, "cpu.cfs_period_us": 50000}, 2, [("cpu.max", "25000 50000")]),
    ({"cpu.cfs_quota_us": 25000, "cpu.cfs_period_us": 50000}, 1,
     [("cpu.cfs_period_us", "50000"), ("cpu.cfs_quota_us", "25000")]),
    ({"cpu.cfs_quota_us": "max"}, 1, [("cpu.cfs_period_us", "100000"), ("cpu.cfs_quota_us", "-1")]),
    # cpu.max.burst <-> cpu.cfs_burst_us
    ({"cpu.max.burst": 5000}, 2, [("cpu.max.burst", "5000")]),
    ({"cpu.max.burst": 5000}, 1, [("cpu.cfs_burst_us", "5000")]),
    ({"cpu.cfs_burst_us": 5000}, 2, [("cpu.max.burst", "5000")]),
    ({"cpu.cfs_burst_us": 5000}, 1, [("cpu.cfs_burst_us", "5000")]),
    # cpu.idle: one file on both
    ({"cpu.idle": True}, 1, [("cpu.idle", "1")]),
    ({"cpu.idle": 0}, 2, [("cpu.idle", "0")]),
    # realtime (v1 only)
    ({"cpu.rt_runtime_us": 950000}, 1, [("cpu.rt_runtime_us", "950000")]),
    ({"cpu.rt_runtime_us": -1}, 1, [("cpu.rt_runtime_us", "-1")]),
    ({"cpu.rt_period_us": 1000000}, 1, [("cpu.rt_period_us", "1000000")]),
    # memory.max <-> memory.limit_in_bytes, rounded down to pages
    ({"memory.max": "1G"}, 2, [("memory.max", "1073741824")]),
    ({"memory.max": "1G"}, 1, [("memory.limit_in_bytes", "1073741824")]),
    ({"memory.max": "max"}, 1, [("memory.limit_in_bytes", "-1")]),
    ({"memory.max": 4097}, 1, [("memory.limit_in_bytes", "4096")]),
    ({"memory.max": 4097}, 2, [("memory.max", "4096")]),
    ({"memory.max": 4095}, 2, [("memory.max", "0")]),
    ({"memory.limit_in_bytes": "512M"}, 2, [("memory.max", "536870912")]),
    ({"memory.limit_in_bytes": -1}, 2, [("memory.max", "max")]),
    ({"memory.limit_in_bytes": "512M"}, 1, [("memory.limit_in_bytes", "536870912")]),
    ({"memory.limit_in_bytes": 10000}, 1, [("memory.limit_in_bytes", "8192")]),
    # memory.low <-> memory.soft_limit_in_bytes
    ({"memory.low": "512M"}, 2, [("memory.low", "536870912")]),
    ({"memory.low": "512M"}, 1, [("memory.soft_limit_in_bytes", "536870912")]),
    ({"memory.low": "max"}, 1, [("memory.soft_limit_in_bytes", "-1")]),
    ({"memory.low": 5000}, 1, [("memory.soft_limit_in_bytes", "4096")]),
    ({"memory.soft_limit_in_bytes": "256M"}, 2, [("memory.low", "268435456")]),
    ({"memory.soft_limit_in_bytes": -1}, 2, [("memory.low", "max")]),
    ({"memory.soft_limit_in_bytes": "256M"}, 1, [("memory.soft_limit_in_bytes", "268435456")]),
    # v2-only memory knobs on v2
    ({"memory.high": "1G"}, 2, [("memory.high", "1073741824")]),
    ({"memory.min": "64M"}, 2, [("memory.min", "67108864")]),
    ({"memory.swap.high": "max"}, 2, [("memory.swap.high", "max")]),
    ({"memory.oom.group": True}, 2, [("memory.oom.group", "1")]),
    # v1-only memory knobs on v1
    ({"memory.swappiness": 10}, 1, [("memory.swappiness", "10")]),
    ({"memory.oom_control": True}, 1, [("memory.oom_control", "1")]),
    ({"memory.use_hierarchy": 1}, 1, [("memory.use_hierarchy", "1")]),
    ({"memory.move_charge_at_immigrate": 3}, 1, [("memory.move_charge_at_immigrate", "3")]),
    # io.weight <-> blkio.weight: io = blkio / 5, blkio = io * 5 clamped to 10..1000
    ({"io.weight": 100}, 2, [("io.weight", "default 100")]),
    ({"io.weight": 100}, 1, [("blkio.weight", "500")]),
    ({"io.weight": 50}, 1, [("blkio.weight", "250")]),
    ({"io.weight": 200}, 1, [("blkio.weight", "1000")]),
    ({"io.weight": 1}, 1, [("blkio.weight", "10")]),
    ({"io.weight": 10000}, 1, [("blkio.weight", "1000")]),
    ({"blkio.weight": 500}, 2, [("io.weight", "default 100")]),
    ({"blkio.weight": 1000}, 2, [("io.weight", "default 200")]),
    ({"blkio.weight": 100}, 2, [("io.weight", "default 20")]),
    ({"blkio.weight": 10}, 2, [("io.weight", "default 2")]),
    ({"blkio.weight": 500}, 1, [("blkio.weight", "500")]),
    # io.bfq.weight <-> blkio.bfq.weight: same values, plain numbers
    ({"io.bfq.weight": 300}, 2, [("io.bfq.weight", "300")]),
    ({"io.bfq.weight": 300}, 1, [("blkio.bfq.weight", "300")]),
    ({"blkio.bfq.weight": 300}, 2, [("io.bfq.weight", "300")]),
    # pids.max: one file on both
    ({"pids.max": 4096}, 1, [("pids.max", "4096")]),
    ({"pids.max": -1}, 2, [("pids.max", "max")]),
    ({"pids.max": "max"}, 1, [("pids.max", "max")]),
    # cpuset lists: same files on both
    ({"cpuset.cpus": "0-3,8"}, 1, [("cpuset.cpus", "0-3,8")]),
    ({"cpuset.cpus": "3,2,1,0"}, 2, [("cpuset.cpus", "0-3")]),
    ({"cpuset.mems": 0}, 1, [("cpuset.mems", "0")]),
    ({"cpuset.mems": "0-1"}, 2, [("cpuset.mems", "0-1")]),
    # cpuset v1 flags on v1
    ({"cpuset.cpu_exclusive": True}, 1, [("cpuset.cpu_exclusive", "1")]),
    ({"cpuset.memory_migrate": 1}, 1, [("cpuset.memory_migrate", "1")]),
    ({"cpuset.sched_load_balance": 0}, 1, [("cpuset.sched_load_balance", "0")]),
]


@pytest.mark.parametrize("keys, version, files", TRANSLATIONS, ids=lambda x: repr(x))
def test_translation_writes_these_kernel_files(keys, version, files):
    """Each concept becomes these kernel files with this text on this cgroup version."""
    assert kernel_text(keys, version) == files


@pytest.mark.parametrize("keys, version", [
    ({"memory.max": 100000}, 2), ({"memory.limit_in_bytes": 100000}, 1), ({"memory.low": 100000}, 1),
])
def test_memory_sizes_round_to_the_context_page_size(keys, version):
    """Memory sizes are rounded down to the host's page size (64 KiB pages here)."""
    assert [fs.value for fs in translate(keys, version, page_size=65536)] == [65536]


def test_file_setting_source_is_the_config_key():
    """A FileSetting remembers which config key asked for it."""
    assert [fs.source for fs in translate({"cpu.shares": 512}, 2)] == ["cpu.shares"]
    assert [fs.source for fs in translate({"cpu.max": "max"}, 1)] == ["cpu.max", "cpu.max"]


def test_cpu_max_on_v1_writes_period_before_quota():
    """On v1 the period is ordered before the quota (the kernel checks quota against period)."""
    period, quota = translate({"cpu.max": "50000 100000"}, 1)
    assert (period.file, quota.file) == ("cpu.cfs_period_us", "cpu.cfs_quota_us")
    assert period.order < quota.order


def test_cpuset_cpus_before_mems():
    """cpuset.cpus is ordered before cpuset.mems."""
    (cpus,) = translate({"cpuset.cpus": "0"}, 1)
    (mems,) = translate({"cpuset.mems": "0"}, 1)
    assert cpus.order < mems.order


def test_memsw_is_ordered_before_the_memory_limit():
    """memsw is written before the memory limit when raising (the kernel keeps memsw >= limit)."""
    (memsw,) = translate({"memory.swap.max": "1G"}, 1, {"memory.max": "1G"})
    (limit,) = translate({"memory.max": "1G"}, 1)
    assert memsw.order < limit.order


@pytest.mark.parametrize("key, version, vtype", [
    ("memory.oom_control", 1, v.OomControl),
    ("io.weight", 2, v.Weight),
    ("blkio.weight", 1, v.Int),
    ("io.max", 2, v.IoMax),
    ("cpuset.cpus", 1, v.CpuList),
])
def test_kernel_value_types(key, version, vtype):
    """The kernel-side type handles the file's read-back quirks (oom_control lines, "default N")."""
    example = EXAMPLES[key]
    (fs,) = translate({key: example}, version)
    assert type(fs.vtype) is vtype


# --- memory.swap.max <-> memory.memsw.limit_in_bytes --------------------------------------


@pytest.mark.parametrize("keys, version, group, files", [
    ({"memory.swap.max": "1G"}, 2, {}, [("memory.swap.max", "1073741824")]),
    ({"memory.swap.max": 5000}, 2, {}, [("memory.swap.max", "4096")]),
    ({"memory.swap.max": "1G"}, 1, {"memory.max": "1G"}, [("memory.memsw.limit_in_bytes", "2147483648")]),
    ({"memory.swap.max": "1G"}, 1, {"memory.limit_in_bytes": "1G"},
     [("memory.memsw.limit_in_bytes", "2147483648")]),
    ({"memory.swap.max": 0}, 1, {"memory.max": "1G"}, [("memory.memsw.limit_in_bytes", "1073741824")]),
    ({"memory.swap.max": "max"}, 1, {"memory.max": "1G"}, [("memory.memsw.limit_in_bytes", "-1")]),
    ({"memory.swap.max": "max"}, 1, {}, [("memory.memsw.limit_in_bytes", "-1")]),
    ({"memory.memsw.limit_in_bytes": "2G"}, 1, {"memory.limit_in_bytes": "1G"},
     [("memory.memsw.limit_in_bytes", "2147483648")]),
    ({"memory.memsw.limit_in_bytes": "1G"}, 1, {"memory.max": "1G"},
     [("memory.memsw.limit_in_bytes", "1073741824")]),
    ({"memory.memsw.limit_in_bytes": -1}, 1, {}, [("memory.memsw.limit_in_bytes", "-1")]),
    ({"memory.memsw.limit_in_bytes": "3G"}, 2, {"memory.limit_in_bytes": "1G"},
     [("memory.swap.max", "2147483648")]),
    ({"memory.memsw.limit_in_bytes": "1G"}, 2, {"memory.limit_in_bytes": "1G"}, [("memory.swap.max", "0")]),
    ({"memory.memsw.limit_in_bytes": "2G"}, 2, {"memory.max": "1G"}, [("memory.swap.max", "1073741824")]),
    ({"memory.memsw.limit_in_bytes": -1}, 2, {"memory.limit_in_bytes": "1G"}, [("memory.swap.max", "max")]),
    ({"memory.memsw.limit_in_bytes": -1}, 2, {}, [("memory.swap.max", "max")]),
])
def test_swap_translation(keys, version, group, files):
    """memsw = memory limit + swap.max; swap.max = memsw - limit; -1/max stays unlimited."""
    assert kernel_text(keys, version, group) == files


@pytest.mark.parametrize("keys, version, group, reason, hint", [
    ({"memory.memsw.limit_in_bytes": "2G"}, 1, {},
     "a finite memory+swap limit needs a finite memory.limit_in_bytes in the same group "
     "(the kernel refuses it)", None),
    ({"memory.memsw.limit_in_bytes": "2G"}, 1, {"memory.limit_in_bytes": -1},
     "a finite memory+swap limit needs a finite memory.limit_in_bytes in the same group "
     "(the kernel refuses it)", None),
    ({"memory.memsw.limit_in_bytes": "512M"}, 1, {"memory.limit_in_bytes": "1G"},
     "memory+swap limit is below memory.limit_in_bytes (the kernel refuses it)", None),
    ({"memory.memsw.limit_in_bytes": "512M"}, 2, {"memory.limit_in_bytes": "1G"},
     "memory+swap limit is below the memory limit", None),
    ({"memory.swap.max": "1G"}, 1, {},
     "converting memory.swap.max between cgroup v1 (memory+swap) and v2 (swap alone) needs a finite "
     "memory limit in the same group", "set memory.max, or use the spelling of this host's cgroup version"),
    ({"memory.swap.max": "1G"}, 1, {"memory.max": "max"},
     "converting memory.swap.max between cgroup v1 (memory+swap) and v2 (swap alone) needs a finite "
     "memory limit in the same group", "set memory.max, or use the spelling of this host's cgroup version"),
    ({"memory.memsw.limit_in_bytes": "2G"}, 2, {},
     "converting memory.memsw.limit_in_bytes between cgroup v1 (memory+swap) and v2 (swap alone) needs a "
     "finite memory limit in the same group",
     "set memory.max, or use the spelling of this host's cgroup version"),
])
def test_swap_refusals(keys, version, group, reason, hint):
    """memsw needs a finite memory limit and may not be below it; the refusal says why."""
    err = refusal(keys, version, group)
    assert (err.key, err.reason, err.hint) == (next(iter(keys)), reason, hint)
    assert str(err) == reason


# --- io.max <-> blkio.throttle.* ----------------------------------------------------------


def test_io_max_on_v2_is_one_file():
    """io.max on v2 is written as full per-device lines."""
    assert kernel_text({"io.max": ["8:0 rbps=1M wiops=100", "8:16 wbps=2M"]}, 2) == [
        ("io.max", "8:0 rbps=1048576 wbps=max riops=max wiops=100\n8:16 rbps=max wbps=2097152 riops=max wiops=max"),
    ]


def test_io_max_on_v1_is_four_throttle_files():
    """io.max on v1 becomes the four throttle files; an unlimited key leaves its file empty."""
    assert kernel_text({"io.max": ["8:0 rbps=1M wiops=100", "8:16 wbps=2M"]}, 1) == [
        ("blkio.throttle.read_bps_device", "8:0 1048576"),
        ("blkio.throttle.write_bps_device", "8:16 2097152"),
        ("blkio.throttle.read_iops_device", ""),
        ("blkio.throttle.write_iops_device", "8:0 100"),
    ]


def test_io_max_on_v1_uses_device_limits_type():
    """Each throttle file removes devices cgman no longer limits ("MAJ:MIN 0")."""
    settings = translate({"io.max": "8:0 rbps=1M"}, 1)
    assert all(type(fs.vtype) is v.DeviceLimits for fs in settings)
    assert settings[3].vtype.writes(settings[3].value, "8:0 100\n") == ["8:0 0"]


@pytest.mark.parametrize("keys, io_max", [
    ({THROTTLE[0]: "8:0 1M"}, "8:0 rbps=1048576 wbps=max riops=max wiops=max"),
    ({THROTTLE[1]: "8:0 2097152"}, "8:0 rbps=max wbps=2097152 riops=max wiops=max"),
    ({THROTTLE[2]: "8:0 100"}, "8:0 rbps=max wbps=max riops=100 wiops=max"),
    ({THROTTLE[3]: ["8:16 7", "8:0 100"]},
     "8:0 rbps=max wbps=max riops=max wiops=100\n8:16 rbps=max wbps=max riops=max wiops=7"),
    ({THROTTLE[0]: "8:0 1M", THROTTLE[3]: "8:0 100"}, "8:0 rbps=1048576 wbps=max riops=max wiops=100"),
    ({THROTTLE[0]: "8:0 max"}, ""),
])
def test_throttle_files_on_v2_merge_into_io_max(keys, io_max):
    """The v1 throttle keys on v2 merge into one io.max line per device."""
    assert kernel_text(keys, 2) == [("io.max", io_max)]


@pytest.mark.parametrize("keys, files", [
    ({THROTTLE[0]: "8:0 1M"}, [(THROTTLE[0], "8:0 1048576")]),
    ({THROTTLE[3]: ["8:16 7", "8:0 100"]}, [(THROTTLE[3], "8:0 100\n8:16 7")]),
    ({THROTTLE[1]: "8:0 max"}, [(THROTTLE[1], "")]),
    ({THROTTLE[0]: "8:0 1M", THROTTLE[2]: "8:0 5"}, [(THROTTLE[0], "8:0 1048576"), (THROTTLE[2], "8:0 5")]),
])
def test_throttle_files_on_v1_write_only_their_own_files(keys, files):
    """The v1 throttle keys on v1 write just the files named."""
    assert kernel_text(keys, 1) == files


@pytest.mark.parametrize("raw, found", [("8:0", '"8:0"'), ("sda 5", '"sda 5"'), ("8:0 5 6", '"8:0 5 6"'),
                                        (5, "5"), (["8:0 1", 2], '["8:0 1", 2]')])
def test_throttle_config_rejects_bad_lines(raw, found):
    """The config spelling of a throttle file takes 'MAJ:MIN N' lines only."""
    with pytest.raises(v.ValueProblem) as caught:
        knobs.ThrottleConfig().parse(raw)
    assert str(caught.value) == (
        'expected device limits such as "8:0 1048576" (a number, a size for bps; 0 or "max" for none), '
        'or a list; '
        f"found {found}")


# --- hugetlb ------------------------------------------------------------------------------


@pytest.mark.parametrize("keys, version, files", [
    ({"hugetlb.2MB.max": "4M"}, 2, [("hugetlb.2MB.max", "4194304")]),
    ({"hugetlb.2MB.max": "4M"}, 1, [("hugetlb.2MB.limit_in_bytes", "4194304")]),
    ({"hugetlb.2MB.max": "max"}, 1, [("hugetlb.2MB.limit_in_bytes", "-1")]),
    ({"hugetlb.2MB.limit_in_bytes": -1}, 2, [("hugetlb.2MB.max", "max")]),
    ({"hugetlb.1GB.limit_in_bytes": "2G"}, 2, [("hugetlb.1GB.max", "2147483648")]),
    ({"hugetlb.1GB.limit_in_bytes": "2G"}, 1, [("hugetlb.1GB.limit_in_bytes", "2147483648")]),
    ({"hugetlb.64KB.max": "128K"}, 1, [("hugetlb.64KB.limit_in_bytes", "131072")]),
    ({"hugetlb.2MB.rsvd.max": "8M"}, 1, [("hugetlb.2MB.rsvd.limit_in_bytes", "8388608")]),
    ({"hugetlb.2MB.rsvd.limit_in_bytes": "8M"}, 2, [("hugetlb.2MB.rsvd.max", "8388608")]),
])
def test_hugetlb_translation(keys, version, files):
    """hugetlb.<size>.max <-> hugetlb.<size>.limit_in_bytes (and the rsvd pair) per page size."""
    assert kernel_text(keys, version) == files


@pytest.mark.parametrize("key, concept, version", [
    ("hugetlb.2MB.max", "hugetlb.2MB.max", 2),
    ("hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.max", 1),
    ("hugetlb.1GB.rsvd.max", "hugetlb.1GB.rsvd.max", 2),
    ("hugetlb.1GB.rsvd.limit_in_bytes", "hugetlb.1GB.rsvd.max", 1),
])
def test_hugetlb_lookup(key, concept, version):
    """hugetlb keys are recognised for any page size, named by their v2 spelling."""
    found, spelled, vtype = knobs.lookup(key)
    assert (found.name, found.controller, spelled) == (concept, "hugetlb", version)
    assert isinstance(vtype, v.Size)


@pytest.mark.parametrize("key", ["hugetlb.2MB.usage_in_bytes", "hugetlb.2mb.max", "hugetlb.2TB.max",
                                 "hugetlb.MB.max", "hugetlb.2MB.max.x"])
def test_hugetlb_lookup_rejects_other_names(key):
    """Only the limit files of a huge page size are hugetlb knobs."""
    assert knobs.lookup(key) is None


# --- refusals on the other version and no-ops ---------------------------------------------


@pytest.mark.parametrize("key, raw, version, reason, hint", [
    ("cpu.weight.nice", 0, 1, "cgroup v1 has no cpu.weight.nice", "use cpu.weight (or cpu.shares)"),
    ("memory.high", "1G", 1, "cgroup v1 has no memory.high (throttle limit)", "use memory.max for a hard limit"),
    ("memory.min", "1G", 1, "cgroup v1 has no memory.min (hard protection)", None),
    ("memory.swap.high", "1G", 1, "cgroup v1 has no memory.swap.high", None),
    ("memory.oom.group", 1, 1, "cgroup v1 has no memory.oom.group", None),
    ("cpu.rt_runtime_us", 950000, 2, "cgroup v2 has no realtime bandwidth (cpu.rt_*)", None),
    ("cpu.rt_period_us", 1000000, 2, "cgroup v2 has no realtime bandwidth (cpu.rt_*)", None),
    ("memory.swappiness", 60, 2, "cgroup v2 has no per-group swappiness", None),
    ("memory.oom_control", 1, 2, "cgroup v2 cannot disable the OOM killer for a group", None),
    ("memory.oom_control", 0, 2, "cgroup v2 cannot disable the OOM killer for a group", None),
    ("memory.move_charge_at_immigrate", 1, 2, "cgroup v2 never moves memory charges with a process", None),
    ("memory.move_charge_at_immigrate", 3, 2, "cgroup v2 never moves memory charges with a process", None),
    ("cpuset.cpu_exclusive", 1, 2, "cgroup v2 has only partitions, which are not the same (not supported yet)", None),
    ("cpuset.mem_exclusive", 1, 2, "cgroup v2 has no memory exclusivity", None),
    ("cpuset.mem_hardwall", 1, 2, "cgroup v2 has no memory hardwall", None),
    ("cpuset.memory_migrate", 0, 2, "cgroup v2 always migrates memory with the cpuset", None),
    ("cpuset.sched_load_balance", 0, 2, "cgroup v2 uses partitions instead (not supported yet)", None),
    ("cpuset.memory_spread_page", 1, 2, "cgroup v2 has no memory spreading", None),
    ("cpuset.memory_spread_slab", 1, 2, "cgroup v2 has no memory spreading", None),
])
def test_one_version_keys_are_refused_on_the_other(key, raw, version, reason, hint):
    """A key that exists on one cgroup version only is refused on the other, saying why."""
    err = refusal({key: raw}, version)
    assert (err.key, err.reason, err.hint) == (key, reason, hint)


@pytest.mark.parametrize("key, raw", [
    ("memory.use_hierarchy", 1),
    ("cpuset.memory_migrate", 1),
    ("cpuset.memory_migrate", True),
    ("memory.move_charge_at_immigrate", 0),
])
def test_values_that_already_hold_on_v2_write_nothing(key, raw):
    """v1 settings that are v2's fixed behaviour translate to no writes on v2."""
    assert translate({key: raw}, 2) == []


# --- round trips --------------------------------------------------------------------------


def _other_side(settings: List[knobs.FileSetting], version: int, group: Dict[str, Any]) -> List[knobs.FileSetting]:
    """Translate what one version's files hold back through that version's own key, to the other version."""
    keys = {fs.file: fs.value for fs in settings}
    concept = knobs.lookup(next(iter(keys)))[0]
    return concept.translate(keys, version, Context(4096, {**group, **keys}))


@pytest.mark.parametrize("keys, group", [
    ({"cpu.shares": 1024}, {}),
    ({"cpu.shares": 512}, {}),
    ({"cpu.shares": 2048}, {}),
    ({"cpu.shares": 10240}, {}),
    ({"cpu.cfs_quota_us": 50000, "cpu.cfs_period_us": 100000}, {}),
    ({"cpu.cfs_quota_us": -1, "cpu.cfs_period_us": 20000}, {}),
    ({"cpu.cfs_burst_us": 1000}, {}),
    ({"memory.limit_in_bytes": "1G"}, {}),
    ({"memory.limit_in_bytes": -1}, {}),
    ({"memory.soft_limit_in_bytes": "256M"}, {}),
    ({"memory.memsw.limit_in_bytes": "2G"}, {"memory.limit_in_bytes": G}),
    ({"memory.memsw.limit_in_bytes": -1}, {"memory.limit_in_bytes": G}),
    ({"blkio.weight": 500}, {}),
    ({"blkio.weight": 1000}, {}),
    ({"blkio.weight": 100}, {}),
    ({"blkio.bfq.weight": 300}, {}),
    ({"pids.max": 100}, {}),
    ({"cpuset.cpus": "0-3,8"}, {}),
    ({"hugetlb.2MB.limit_in_bytes": "4M"}, {}),
])
def test_v1_value_survives_v2_and_back(keys, group):
    """A v1 value that has an exact v2 counterpart comes back unchanged (v1 -> v2 -> v1)."""
    v1_first = translate(keys, 1, group)
    on_v2 = translate(keys, 2, group)
    back = _other_side(on_v2, 1, {"memory.max": G} if "memory.memsw.limit_in_bytes" in keys else {})
    assert [(fs.file, fs.value) for fs in back] == [(fs.file, fs.value) for fs in v1_first]


def test_throttle_survives_io_max_and_back():
    """v1 throttle files -> io.max -> the same throttle files."""
    keys = {THROTTLE[0]: "8:0 1M", THROTTLE[3]: ["8:0 100", "8:16 5"]}
    (io_max,) = translate(keys, 2)
    back = {fs.file: fs.value for fs in knobs.CONCEPTS["io.max"].translate({"io.max": io_max.value}, 1,
                                                                           Context(4096))}
    assert back == {THROTTLE[0]: (("8:0", M),), THROTTLE[1]: (), THROTTLE[2]: (),
                    THROTTLE[3]: (("8:0", 100), ("8:16", 5))}


@pytest.mark.parametrize("keys", [
    {"cpu.weight": 100}, {"cpu.weight": 50}, {"cpu.weight": 1}, {"cpu.weight": 10000},
    {"cpu.max": "50000 100000"}, {"memory.max": "1G"}, {"memory.low": "64M"},
    {"io.weight": 100}, {"io.weight": 200}, {"io.max": "8:0 rbps=1M wiops=100"},
])
def test_v2_value_survives_v1_and_back(keys):
    """A v2 value with an exact v1 counterpart comes back unchanged (v2 -> v1 -> v2)."""
    on_v1 = translate(keys, 1)
    back = _other_side(on_v1, 2, {})
    assert [(fs.file, fs.value) for fs in back] == [(fs.file, fs.value) for fs in translate(keys, 2)]


def test_shares_that_do_not_survive_the_round_trip():
    """Linear integer scaling loses precision for small shares: 100 -> weight 9 -> 92."""
    (weight,) = translate({"cpu.shares": 100}, 2)
    (shares,) = translate({"cpu.weight": weight.value}, 1)
    assert (weight.value, shares.value) == (9, 92)


# --- every key: an example, parse, translate on its own version ---------------------------

EXAMPLES: Dict[str, Any] = {
    "cpu.weight": 200,
    "cpu.shares": 512,
    "cpu.weight.nice": -5,
    "cpu.max": "50000 100000",
    "cpu.cfs_quota_us": 50000,
    "cpu.cfs_period_us": 100000,
    "cpu.max.burst": 1000,
    "cpu.cfs_burst_us": 1000,
    "cpu.idle": 1,
    "cpu.rt_runtime_us": 950000,
    "cpu.rt_period_us": 1000000,
    "memory.max": "1G",
    "memory.limit_in_bytes": "1G",
    "memory.swap.max": "512M",
    "memory.memsw.limit_in_bytes": "2G",
    "memory.high": "768M",
    "memory.low": "256M",
    "memory.soft_limit_in_bytes": "256M",
    "memory.min": "64M",
    "memory.swap.high": "256M",
    "memory.oom.group": True,
    "memory.swappiness": 10,
    "memory.oom_control": 1,
    "memory.use_hierarchy": 1,
    "memory.move_charge_at_immigrate": 0,
    "io.weight": 100,
    "blkio.weight": 500,
    "io.bfq.weight": 100,
    "blkio.bfq.weight": 100,
    "io.max": "8:0 rbps=10M wiops=100",
    "blkio.throttle.read_bps_device": "8:0 10M",
    "blkio.throttle.write_bps_device": "8:0 1048576",
    "blkio.throttle.read_iops_device": "8:0 100",
    "blkio.throttle.write_iops_device": ["8:0 100", "8:16 50"],
    "pids.max": 4096,
    "cpuset.cpus": "0-3,8",
    "cpuset.mems": "0",
    "cpuset.cpu_exclusive": 0,
    "cpuset.mem_exclusive": 0,
    "cpuset.mem_hardwall": 0,
    "cpuset.memory_migrate": 1,
    "cpuset.sched_load_balance": 1,
    "cpuset.memory_spread_page": 0,
    "cpuset.memory_spread_slab": 0,
}
EXAMPLE_GROUP = {"memory.limit_in_bytes": G, "memory.max": G}  # a finite limit for the swap keys


def test_every_catalogue_key_has_an_example():
    """Adding a key to the catalogue needs an example here (and no example is stale)."""
    assert sorted(EXAMPLES) == sorted(knobs.KEYS)


@pytest.mark.parametrize("key", sorted(knobs.KEYS))
def test_every_key_parses_its_example(key):
    """Each key's config type parses its example, and lookup() finds the key."""
    assert key in EXAMPLES, f"add an example for {key} to EXAMPLES"
    concept, version, vtype = knobs.lookup(key)
    assert vtype.parse(EXAMPLES[key]) is not None
    assert version in (0, 1, 2)
    assert concept.controller in knobs.CONTROLLERS


@pytest.mark.parametrize("key", sorted(knobs.KEYS))
def test_every_key_translates_on_its_own_version(key):
    """Each key is honoured on the version(s) it is spelled for, into its controller's files."""
    concept, spelled, vtype = knobs.lookup(key)
    controller = knobs.CONTROLLERS[concept.controller]
    for version in ((1, 2) if spelled == 0 else (spelled,)):
        settings = concept.translate({key: vtype.parse(EXAMPLES[key])}, version,
                                     Context(4096, EXAMPLE_GROUP))
        assert settings, f"{key} wrote nothing on v{version}"
        prefix = controller.v1 if version == 1 else controller.v2
        assert all(fs.file.split(".")[0] == prefix for fs in settings)


@pytest.mark.parametrize("key", sorted(knobs.KEYS))
@pytest.mark.parametrize("version", [1, 2])
def test_every_key_translates_or_is_refused_with_a_reason(key, version):
    """On either version a key either becomes kernel files that read back as written, or is refused with a reason."""
    concept, _, vtype = knobs.lookup(key)
    try:
        settings = concept.translate({key: vtype.parse(EXAMPLES[key])}, version, Context(4096, EXAMPLE_GROUP))
    except Untranslatable as err:
        assert err.key == key and err.reason
        return
    for fs in settings:
        assert fs.source == key
        if isinstance(fs.vtype, v.OomControl):  # written as 0/1, read back as "oom_kill_disable N" lines
            continue
        assert fs.vtype.writes(fs.value, fs.vtype.format(fs.value) + "\n") == []


# --- catalogue tables and suggest() -------------------------------------------------------


def test_refused_keys_are_not_knobs():
    """REFUSED keys are never also catalogue keys, and each carries a reason."""
    assert not set(knobs.REFUSED) & set(knobs.KEYS)
    assert all(knobs.lookup(key) is None and reason for key, reason in knobs.REFUSED.items())


@pytest.mark.parametrize("alias, canonical", [("blkio", "io"), ("io", "io"), ("cpu", "cpu"), ("memory", "memory")])
def test_controller_aliases(alias, canonical):
    """v1 controller names map to canonical ones (blkio -> io)."""
    assert knobs.CONTROLLER_ALIASES[alias] == canonical


@pytest.mark.parametrize("name, v1, v2", [
    ("io", "blkio", "io"), ("cpuacct", "cpuacct", None), ("freezer", "freezer", None), ("memory", "memory", "memory"),
])
def test_controllers_name_their_v1_and_v2_spellings(name, v1, v2):
    """Each canonical controller knows its v1 subsystem and v2 controller name."""
    assert (knobs.CONTROLLERS[name].v1, knobs.CONTROLLERS[name].v2) == (v1, v2)


@pytest.mark.parametrize("name", ["devices", "net_cls", "net_prio"])
def test_controllers_without_v2_files_say_why(name):
    """Controllers v2 cannot honour carry a refusal reason."""
    assert knobs.CONTROLLERS[name].v2 is None and knobs.CONTROLLERS[name].v2_refusal


@pytest.mark.parametrize("key", ["no.such.knob", "cpu", "memory.usage_in_bytes", ""])
def test_lookup_of_unknown_keys_is_none(key):
    """Unknown keys are not found."""
    assert knobs.lookup(key) is None


@pytest.mark.parametrize("typo, suggestion", [
    ("cpu.weigth", "cpu.weight"),
    ("cpu.share", "cpu.shares"),
    ("memroy.max", "memory.max"),
    ("memory.limit_in_byte", "memory.limit_in_bytes"),
    ("memory.swap", "memory.swap.max"),
    ("cpu.cfs_quota", "cpu.cfs_quota_us"),
    ("io.weigt", "io.weight"),
    ("devices.alow", "devices.allow"),
    ("zzzz", None),
])
def test_suggest_nearest_known_key(typo, suggestion):
    """suggest() names the nearest catalogue or refused key, or None when nothing is close."""
    assert knobs.suggest(typo) == suggestion


def test_throttle_config_zero_means_no_limit_and_devices_appear_once():
    """As in the v1 file, 0 removes a limit; a device listed twice is refused."""
    assert knobs.ThrottleConfig().parse(["8:0 0", "8:16 5"]) == (("8:0", v.MAX), ("8:16", 5))
    with pytest.raises(v.ValueProblem) as caught:
        knobs.ThrottleConfig().parse(["8:0 1", "8:0 2"])
    assert str(caught.value).endswith(', or a list, each device once; found "8:0 2"')


@pytest.mark.parametrize("key, version, file", [
    ("hugetlb.2MB.max", 2, "hugetlb.2MB.max"), ("hugetlb.2MB.max", 1, "hugetlb.2MB.limit_in_bytes"),
    ("hugetlb.2MB.limit_in_bytes", 2, "hugetlb.2MB.max"), ("hugetlb.1GB.rsvd.max", 1, "hugetlb.1GB.rsvd.limit_in_bytes"),
])
def test_hugetlb_limits_round_down_to_whole_huge_pages(key, version, file):
    """The kernel keeps whole huge pages, so the expected read-back is rounded down."""
    page = 2 * M if "2MB" in key else G
    (setting,) = translate({key: str(page + page // 2)}, version)
    assert (setting.file, setting.value) == (file, page)


def test_suggest_knows_hugetlb_names_with_their_page_size():
    """A misspelt hugetlb key is matched against keys with the same page size."""
    assert knobs.suggest("hugetlb.2MB.limit_in_byte") == "hugetlb.2MB.limit_in_bytes"
