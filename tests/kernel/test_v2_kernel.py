"""cgroup v2 only: what a pure v2 kernel enforces, against cgman, with limits that bite.

These need a host where every controller is on the cgroup2 mount. The
reference machine and CI are hybrid hosts, so this module runs in the pure v2
guest (`make test-vm`, tests/vm/); on a hybrid host it is skipped, saying so.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from conftest import MOUNTS, mount_of, wait_until

PURE_V2 = all(m.fstype == "cgroup2" for m in MOUNTS.values()) and mount_of("unified") is not None and \
    "memory" in open(os.path.join(mount_of("unified"), "cgroup.controllers")).read().split()
IN_GUEST = os.environ.get("CGMAN_VM_GUEST") == "1"
# In the test guest these must run: there, a host that is not pure v2 fails them.
pytestmark = pytest.mark.skipif(not PURE_V2 and not IN_GUEST,
                                reason="needs a pure cgroup v2 host: run `make test-vm`")


@pytest.fixture(autouse=True)
def _pure_v2():
    assert PURE_V2, "the test guest is not a pure cgroup v2 host (all controllers on cgroup2)"


def subtree(kenv, group: str) -> set:
    return set(kenv.read("unified", group, "cgroup.subtree_control").split())


def events(kenv, group: str, file: str) -> dict:
    lines = kenv.read("unified", group, file).splitlines()
    return {key: int(value) for key, value in (line.split() for line in lines)}


def test_controllers_are_enabled_top_down_only_where_needed(kenv):
    """Each cgroup enables exactly what its children use; the root only gains, never loses."""
    kenv.config('[group."a"]\ncpu.weight = 200\n[group."a/b"]\nmemory.max = "64M"\n'
                '[group."c"]\npids.max = 50\n')
    code, report = kenv.cgman_json("apply")
    assert code == 0, report
    assert subtree(kenv, "") == {"cpu", "memory", "pids"}  # the manager root
    assert subtree(kenv, "a") == {"memory"}
    assert subtree(kenv, "a/b") == set() and subtree(kenv, "c") == set()
    assert {"cpu", "memory", "pids"} <= set(open(os.path.join(mount_of("unified"),
                                                              "cgroup.subtree_control")).read().split())
    # siblings share what their parent enables: c gets cpu and memory too (unused)
    assert set(kenv.read("unified", "c", "cgroup.controllers").split()) == {"cpu", "memory", "pids"}
    enables = [o["path"] for o in report["outcomes"] if o["verb"] == "enable"]
    assert enables.index(kenv.prefix) < enables.index(f"{kenv.prefix}/a")  # parents first
    kenv.config('[group."a"]\ncpu.weight = 200\n[group."c"]\npids.max = 50\n')
    assert kenv.cgman("apply")[0] == 0
    assert subtree(kenv, "") == {"cpu", "pids"} and subtree(kenv, "a") == set()
    root = set(open(os.path.join(mount_of("unified"), "cgroup.subtree_control")).read().split())
    assert {"cpu", "memory", "pids"} <= root  # the root is not cgman's: it never loses a controller
    assert kenv.cgman("plan", "--detailed-exitcode")[0] == 0


def test_a_populated_group_is_refused_children_with_domain_controllers(kenv):
    """No internal processes: the kernel refuses to enable a domain controller (memory) in a group
    that holds a process (EBUSY). cgman refuses that step itself (exit 1): p and its process stay
    as they were, the child is made but gets no limit; once the process leaves, it all applies."""
    kenv.config('[group."p"]\nmemory.max = "256M"\n')
    assert kenv.cgman("apply")[0] == 0
    proc = kenv.start_in(["unified"], "p")
    with pytest.raises(OSError) as busy:  # the kernel's rule, shown directly
        kenv.path("unified", "p", "cgroup.subtree_control").write_text("+memory")
    assert busy.value.errno == errno.EBUSY
    kenv.config('[group."p"]\nmemory.max = "256M"\n[group."p/c"]\nmemory.max = "32M"\n')
    code, report = kenv.cgman_json("apply")
    assert code == 1
    refused = [n for n in report["notices"] if n["verb"] == "refused"]
    assert [n["reference"] for n in refused] == ["no-processes"]
    assert f"pid {proc.pid}" in refused[0]["message"]
    assert [n["verb"] for n in report["notices"]] == ["refused", "blocked"]  # c's memory.max waits
    assert subtree(kenv, "p") == set() and kenv.read("unified", "p", "memory.max") == str(256 << 20)
    assert str(proc.pid) in kenv.read("unified", "p", "cgroup.procs").split()
    assert kenv.path("unified", "p/c").is_dir() and not kenv.path("unified", "p/c", "memory.max").exists()
    kenv.stop(proc)
    assert wait_until(lambda: events(kenv, "p", "cgroup.events")["populated"] == 0)
    code, report = kenv.cgman_json("apply")
    assert code == 0, ([(o["verb"], o["path"], o["status"], o["message"]) for o in report["outcomes"]],
                       [n["message"] for n in report["notices"]])
    assert subtree(kenv, "p") == {"memory"} and kenv.read("unified", "p/c", "memory.max") == str(32 << 20)


def test_a_populated_group_may_give_children_threaded_controllers(kenv):
    """cpu and pids are threaded controllers: the kernel lets a populated group enable them, and so
    does cgman; the process stays where it is."""
    kenv.config('[group."p"]\ncpu.weight = 100\n')
    assert kenv.cgman("apply")[0] == 0
    proc = kenv.start_in(["unified"], "p")
    kenv.config('[group."p"]\ncpu.weight = 100\n[group."p/t"]\ncpu.weight = 50\npids.max = 9\n')
    code, report = kenv.cgman_json("apply")
    assert code == 0, [n["message"] for n in report["notices"]]
    assert subtree(kenv, "p") == {"cpu", "pids"}
    assert kenv.read("unified", "p/t", "cpu.weight") == "50" and kenv.read("unified", "p/t", "pids.max") == "9"
    assert str(proc.pid) in kenv.read("unified", "p", "cgroup.procs").split()


def test_memory_max_below_usage_is_refused_and_forced_it_contains_the_hog(kenv):
    """A limit under current usage is refused; with --force it is written, and the kernel
    reclaims and OOM-kills inside the group only (there is no swap in the guest)."""
    kenv.config('[group."m"]\nmemory.max = "256M"\n')
    assert kenv.cgman("apply")[0] == 0
    proc = kenv.start_in(["unified"], "m", code="b = bytearray(64 << 20); import time; time.sleep(120)")
    assert wait_until(lambda: int(kenv.read("unified", "m", "memory.current")) > 60 << 20)
    kenv.config('[group."m"]\nmemory.max = "16M"\n')
    code, report = kenv.cgman_json("apply")
    assert code == 1 and [n["reference"] for n in report["notices"]] == ["memory-below"]
    assert kenv.read("unified", "m", "memory.max") == str(256 << 20) and proc.poll() is None
    code, report = kenv.cgman_json("apply", "--force")
    assert code == 0, report
    assert kenv.read("unified", "m", "memory.max") == str(16 << 20)
    assert proc.wait(timeout=60) == -9
    assert events(kenv, "m", "memory.events")["oom_kill"] >= 1


def test_a_memory_hog_is_contained(kenv):
    """A process that allocates past memory.max is OOM-killed in its group; the rest lives on."""
    kenv.config('[group."hog"]\nmemory.max = "32M"\nmemory.swap.max = "0"\n[group."calm"]\nmemory.max = "32M"\n')
    assert kenv.cgman("apply")[0] == 0
    calm = kenv.start_in(["unified"], "calm")
    proc = kenv.start_in(["unified"], "hog", code="b = bytearray(128 << 20)")
    assert proc.wait(timeout=60) == -9
    assert events(kenv, "hog", "memory.events")["oom_kill"] >= 1
    assert calm.poll() is None and events(kenv, "calm", "memory.events")["oom_kill"] == 0
    assert int(kenv.read("unified", "hog", "memory.peak")) <= 32 << 20  # memory.peak: Linux 5.19+


FORK_BOMB = """
import os, sys, time
made = failed = 0
for _ in range(40):
    try:
        if os.fork() == 0:  # a child lets go of the output pipe, then lingers
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            time.sleep(60)
            os._exit(0)
        made += 1
    except BlockingIOError:
        failed += 1
print(made, failed, flush=True)
"""


def test_pids_max_stops_a_fork_bomb(kenv):
    """pids.max 8: forks beyond it fail with EAGAIN, and pids.events counts the refusals."""
    kenv.config('[group."bomb"]\npids.max = 8\n')
    assert kenv.cgman("apply")[0] == 0
    joined = kenv.path("unified", "bomb", "cgroup.procs")
    done = subprocess.run(["sh", "-c", f'echo $$ > {joined}; exec "{sys.executable}" -c "$0"', FORK_BOMB],
                          capture_output=True, text=True, timeout=120, start_new_session=True)
    made, failed = map(int, done.stdout.split())
    assert made == 7 and failed == 33  # the bomb itself is the 8th task
    assert events(kenv, "bomb", "pids.events")["max"] >= 33
    assert len(kenv.read("unified", "bomb", "cgroup.procs").split()) == 7  # its children linger
    kenv.path("unified", "bomb", "cgroup.kill").write_text("1")  # they are this test's: end them
    assert wait_until(lambda: events(kenv, "bomb", "cgroup.events")["populated"] == 0)


def test_a_cpuset_is_honoured(kenv):
    """cpuset.cpus = the last CPU: a process in the group may run there only."""
    assert len(os.sched_getaffinity(0)) >= 2, "the test guest has 2 vCPUs: one CPU proves nothing"
    last = max(os.sched_getaffinity(0))
    kenv.config(f'[group."pinned"]\ncpuset.cpus = "{last}"\n')
    assert kenv.cgman("apply")[0] == 0
    proc = kenv.start_in(["unified"], "pinned")
    assert os.sched_getaffinity(proc.pid) == {last}
    assert kenv.read("unified", "pinned", "cpuset.cpus.effective") == str(last)


def test_io_max_lands_on_a_real_device(kenv):
    """io.max for the guest's disk reads back per device, exactly as configured."""
    if not os.path.exists("/sys/block/vda/dev"):
        assert not IN_GUEST, "the test guest lost its virtio disk"
        pytest.skip("no virtio disk (the test guest has one)")
    device = open("/sys/block/vda/dev").read().strip()
    kenv.config(f'[group."disk"]\nio.max = "{device} rbps=1048576 wiops=100"\n')
    assert kenv.cgman("apply")[0] == 0
    assert kenv.read("unified", "disk", "io.max") == f"{device} rbps=1048576 wbps=max riops=max wiops=100"
    assert kenv.cgman("plan", "--detailed-exitcode")[0] == 0


def test_populated_state_and_bottom_up_removal(kenv):
    """cgroup.events follows the process; status agrees; removing a/b/c goes c, b, a once empty."""
    kenv.config('[group."a"]\npids.max = 10\n[group."a/b"]\npids.max = 10\n[group."a/b/c"]\npids.max = 10\n')
    assert kenv.cgman("apply")[0] == 0
    proc = kenv.start_in(["unified"], "a/b/c")
    assert events(kenv, "a/b/c", "cgroup.events")["populated"] == 1
    assert events(kenv, "a", "cgroup.events")["populated"] == 1  # populated counts the subtree
    code, status = kenv.cgman_json("status")
    assert {g["name"]: g["processes"] for g in status["groups"]}["a/b/c"] == 1
    kenv.config("")
    code, report = kenv.cgman_json("apply")
    assert code == 0  # kept, not failed
    assert [o["status"] for o in report["outcomes"] if o["verb"] == "rmdir"][0] == "kept"
    assert kenv.path("unified", "a/b/c").exists()
    kenv.stop(proc)
    assert wait_until(lambda: events(kenv, "a", "cgroup.events")["populated"] == 0)
    code, report = kenv.cgman_json("apply")
    assert code == 0, report
    removed = [o["path"] for o in report["outcomes"] if o["verb"] == "rmdir" and o["status"] == "ok"]
    assert removed[:3] == [f"{kenv.prefix}/a/b/c", f"{kenv.prefix}/a/b", f"{kenv.prefix}/a"]
    assert not kenv.path("unified", "a").exists()


def test_hugetlb_limits_per_page_size(kenv):
    """hugetlb.<size>.max, named by page size, reads back rounded to whole huge pages."""
    kenv.config('[group."huge"]\n"hugetlb.2MB.max" = "5M"\n')
    code, report = kenv.cgman_json("apply")
    assert code == 0, report
    assert kenv.read("unified", "huge", "hugetlb.2MB.max") == str(4 << 20)  # two 2 MiB pages
    assert "hugetlb" in subtree(kenv, "")
    assert kenv.cgman("plan", "--detailed-exitcode")[0] == 0
