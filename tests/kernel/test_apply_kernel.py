"""cgman apply against the real kernel: create, re-plan, edit, remove, keep, refuse.

Values are read straight from the kernel's files. Each check names both the
v1 and the v2 file, so the same tests run on this hybrid host and in a pure
cgroup v2 guest.
"""

from __future__ import annotations

import os
import time

import pytest

from conftest import home, mount_of

V2_MEMORY = mount_of("memory") is None  # memory on the cgroup2 mount


def kernel(kenv, controller: str, group: str, v1_file: str, v2_file: str) -> str:
    where = home(controller)
    return kenv.read(where, group, v2_file if where == "unified" else v1_file)


WEB = """
[group."web"]
cpu.weight = 200
memory.max = "64M"
memory.low = "8M"
pids.max = 100

[group."web/frontend"]
cpuset.cpus = "0"
cpu.max = "50000 100000"

[group."batch"]
cpu.weight = 50
"""


def test_cold_apply_creates_groups_with_kernel_values(kenv):
    """A cold apply creates every group and the kernel reads back each configured value."""
    kenv.config(WEB)
    code, report = kenv.cgman_json("apply")
    assert code == 0, report
    assert report["counts"]["failed"] == 0 and report["counts"]["created"] > 0
    assert kernel(kenv, "cpu", "web", "cpu.shares", "cpu.weight") == ("200" if home("cpu") == "unified" else "2048")
    assert kernel(kenv, "cpu", "batch", "cpu.shares", "cpu.weight") == ("50" if home("cpu") == "unified" else "512")
    assert kernel(kenv, "memory", "web", "memory.limit_in_bytes", "memory.max") == str(64 << 20)
    assert kernel(kenv, "memory", "web", "memory.soft_limit_in_bytes", "memory.low") == str(8 << 20)
    assert kernel(kenv, "pids", "web", "pids.max", "pids.max") == "100"
    assert kernel(kenv, "cpuset", "web/frontend", "cpuset.cpus", "cpuset.cpus") == "0"
    if home("cpu") == "unified":
        assert kenv.read("unified", "web/frontend", "cpu.max") == "50000 100000"
    else:
        assert kenv.read("cpu", "web/frontend", "cpu.cfs_quota_us") == "50000"
        assert kenv.read("cpu", "web/frontend", "cpu.cfs_period_us") == "100000"
    if mount_of("unified"):  # every group is mirrored in the cgroup2 mount
        assert kenv.path("unified", "web/frontend").is_dir()
    if not V2_MEMORY:  # on v1 a group exists only in its controllers' hierarchies
        assert not kenv.path("memory", "batch").exists()


def test_unchanged_reapply_is_empty(kenv):
    """Re-planning an applied config finds nothing to do, and re-applying writes nothing."""
    kenv.config(WEB)
    assert kenv.cgman("apply")[0] == 0
    code, out, _ = kenv.cgman("plan", "--detailed-exitcode")
    assert code == 0, out
    assert "No changes" in out
    code, report = kenv.cgman_json("apply")
    assert code == 0
    assert report["counts"] == dict.fromkeys(report["counts"], 0)


def test_one_knob_edit_is_one_write(kenv):
    """Changing one knob plans and performs exactly one write."""
    kenv.config(WEB)
    kenv.cgman("apply")
    kenv.config(WEB.replace("cpu.weight = 50", "cpu.weight = 75"))
    code, plan = kenv.cgman_json("plan", "--detailed-exitcode")
    assert code == 3
    assert [(a["verb"], a["group"]) for a in plan["actions"]] == [("write", "batch")]
    code, report = kenv.cgman_json("apply")
    assert code == 0 and report["counts"]["written"] == 1
    assert kernel(kenv, "cpu", "batch", "cpu.shares", "cpu.weight") == ("75" if home("cpu") == "unified" else "768")


def test_removed_group_is_removed_everywhere(kenv):
    """A group dropped from the config disappears from every hierarchy it was in."""
    kenv.config(WEB)
    kenv.cgman("apply")
    kenv.config(WEB.split('[group."batch"]')[0])
    code, report = kenv.cgman_json("apply")
    assert code == 0, report
    assert report["counts"]["removed"] >= 1
    assert not [m for m in ("cpu", "unified") if mount_of(m) and kenv.path(m, "batch").exists()]
    assert kenv.path(home("cpu"), "web").is_dir()


def test_populated_group_is_kept_then_removed_when_empty(kenv):
    """A removed group that still holds a process is kept (process untouched) until it empties."""
    kenv.config(WEB)
    kenv.cgman("apply")
    proc = kenv.start_in([home("cpu")], "batch")
    kenv.config(WEB.split('[group."batch"]')[0])
    code, report = kenv.cgman_json("apply")
    assert code == 0
    assert report["counts"]["kept"] >= 1
    assert any(o["status"] == "kept" and o["path"].endswith("/batch") and "still holds 1 process" in o["message"]
               for o in report["outcomes"])
    assert proc.poll() is None, "cgman must never kill a process"
    assert str(proc.pid) in kenv.read(home("cpu"), "batch", "cgroup.procs").split()
    kenv.stop(proc)
    deadline = time.time() + 5
    while time.time() < deadline:
        code, report = kenv.cgman_json("apply")
        if not kenv.path(home("cpu"), "batch").exists():
            break
        time.sleep(0.05)
    assert not kenv.path(home("cpu"), "batch").exists()


def test_memory_limit_below_usage_is_refused(kenv):
    """Lowering the memory limit below what the group uses is refused and the old limit stays."""
    kenv.config(WEB)
    kenv.cgman("apply")
    hog = "b = bytearray(48 << 20); import time; time.sleep(120)"
    proc = kenv.start_in([home("memory")], "web", code=hog)
    deadline = time.time() + 10
    usage_file = "memory.current" if V2_MEMORY else "memory.usage_in_bytes"
    while int(kenv.read(home("memory"), "web", usage_file)) < 40 << 20 and time.time() < deadline:
        time.sleep(0.05)
    kenv.config(WEB.replace('memory.max = "64M"', 'memory.max = "16M"'))
    code, plan = kenv.cgman_json("plan")
    assert [n["verb"] for n in plan["notices"]] == ["refused"]
    assert "below current usage" in plan["notices"][0]["message"]
    code, report = kenv.cgman_json("apply")
    assert code == 1
    assert report["counts"]["refused"] == 1
    assert kernel(kenv, "memory", "web", "memory.limit_in_bytes", "memory.max") == str(64 << 20)
    assert proc.poll() is None


def test_invalid_config_applies_nothing(kenv):
    """One bad key anywhere: exit 78 and no cgroup is created."""
    kenv.config(WEB + '\n[group."bad"]\ncpu.weight = 0\n')
    code, out, err = kenv.cgman("apply")
    assert code == 78
    assert 'group."bad".cpu.weight: expected a weight from 1 to 10000; found 0' in err
    assert kenv.leftovers() == []


def test_failed_write_does_not_stop_the_rest(kenv):
    """A value the kernel rejects fails that action only; other groups are still applied."""
    cpus = len(os.sched_getaffinity(0))
    kenv.config(WEB + f'\n[group."odd"]\ncpuset.cpus = "{cpus + 64}"\n')
    code, report = kenv.cgman_json("apply")
    assert code == 1
    failed = [o for o in report["outcomes"] if o["status"] == "failed"]
    assert [(o["group"], o["file"]) for o in failed] == [("odd", "cpuset.cpus")]
    assert kernel(kenv, "pids", "web", "pids.max", "pids.max") == "100"


def test_hand_made_change_and_deleted_group_are_repaired(kenv):
    """A value changed by hand and a group removed by hand are put back by the next apply."""
    kenv.config(WEB)
    kenv.cgman("apply")
    pids = kenv.path(home("pids"), "web", "pids.max")
    pids.write_text("7")
    for hierarchy in {home("cpu"), "unified"}:
        if mount_of(hierarchy) and kenv.path(hierarchy, "batch").exists():
            kenv.path(hierarchy, "batch").rmdir()
    code, plan = kenv.cgman_json("plan", "--detailed-exitcode")
    assert code == 3
    assert {(a["verb"], a["group"]) for a in plan["actions"]} >= {("write", "web"), ("mkdir", "batch")}
    assert kenv.cgman("apply")[0] == 0
    assert pids.read_text().strip() == "100"
    assert kenv.path(home("cpu"), "batch").is_dir()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_cpuset_move_between_disjoint_sets_with_a_child(kenv):
    """Parent 0-1 with child 0 can move to parent 1 with child 1 (v1 needs union-first ordering)."""
    kenv.config('[group."p"]\ncpuset.cpus = "0-1"\n[group."p/c"]\ncpuset.cpus = "0"\n')
    assert kenv.cgman("apply")[0] == 0
    kenv.config('[group."p"]\ncpuset.cpus = "1"\n[group."p/c"]\ncpuset.cpus = "1"\n')
    code, report = kenv.cgman_json("apply")
    assert code == 0, report
    assert kenv.read(home("cpuset"), "p", "cpuset.cpus") == "1"
    assert kenv.read(home("cpuset"), "p/c", "cpuset.cpus") == "1"


def cpu_max(kenv, group: str) -> str:
    if home("cpu") == "unified":
        return kenv.read("unified", group, "cpu.max")
    quota = kenv.read("cpu", group, "cpu.cfs_quota_us")
    return f"{'max' if quota == '-1' else quota} {kenv.read('cpu', group, 'cpu.cfs_period_us')}"


def test_cpu_quota_and_period_move_with_a_child_both_ways(kenv):
    """v1 refuses any write that puts a quota/period ratio above the parent's or below a child's
    (EINVAL): a parent whose quota grows while its ratio shrinks, and back, still applies."""
    def apply(parent: str, child: str) -> None:
        kenv.config(f'[group."p"]\ncpu.max = "{parent}"\n[group."p/c"]\ncpu.max = "{child}"\n')
        code, report = kenv.cgman_json("apply")
        assert code == 0, report
        assert (cpu_max(kenv, "p"), cpu_max(kenv, "p/c")) == (parent, child)
    apply("50000 100000", "40000 100000")
    apply("60000 200000", "20000 100000")  # parent 0.5 -> 0.3, child 0.4 -> 0.2
    apply("50000 50000", "80000 100000")  # parent 0.3 -> 1.0, child 0.2 -> 0.8
    apply("max 100000", "max 50000")
    assert kenv.cgman("plan", "--detailed-exitcode")[0] == 0


@pytest.mark.skipif(V2_MEMORY or not mount_of("memory") or not os.path.exists(
    f"{mount_of('memory')}/memory.memsw.limit_in_bytes"), reason="needs v1 memory with swap accounting")
def test_v1_memsw_and_limit_move_together_both_ways(kenv):
    """Raising and then lowering memory.max with swap keeps limit <= memsw at every step."""
    kenv.config('[group."m"]\nmemory.max = "32M"\nmemory.swap.max = "0"\n')
    assert kenv.cgman("apply")[0] == 0
    assert kenv.read("memory", "m", "memory.memsw.limit_in_bytes") == str(32 << 20)
    kenv.config('[group."m"]\nmemory.max = "64M"\nmemory.swap.max = "16M"\n')
    assert kenv.cgman("apply")[0] == 0
    assert kenv.read("memory", "m", "memory.memsw.limit_in_bytes") == str(80 << 20)
    kenv.config('[group."m"]\nmemory.max = "16M"\nmemory.swap.max = "0"\n')
    code, report = kenv.cgman_json("apply")
    assert code == 0, report
    assert kenv.read("memory", "m", "memory.limit_in_bytes") == str(16 << 20)
    assert kenv.read("memory", "m", "memory.memsw.limit_in_bytes") == str(16 << 20)


@pytest.mark.skipif(V2_MEMORY or not mount_of("memory") or not os.path.exists(
    f"{mount_of('memory')}/memory.memsw.limit_in_bytes"), reason="needs v1 memory with swap accounting")
def test_v1_swap_removed_from_the_config_frees_the_limit_to_rise(kenv):
    """swap.max leaves the config as memory.max rises past the old memory+swap limit: cgman puts
    memsw back to unlimited first, or the kernel would refuse the new limit."""
    kenv.config('[group."m"]\nmemory.max = "32M"\nmemory.swap.max = "0"\n')
    assert kenv.cgman("apply")[0] == 0
    kenv.config('[group."m"]\nmemory.max = "64M"\n')
    code, report = kenv.cgman_json("apply")
    assert code == 0, report
    assert kenv.read("memory", "m", "memory.limit_in_bytes") == str(64 << 20)
    assert kenv.read("memory", "m", "memory.memsw.limit_in_bytes") == "9223372036854771712"


def test_keys_removed_from_the_config_go_back_to_the_kernel_defaults(kenv):
    """cpu.weight and pids.max leave web's config while the group stays: the kernel's defaults return.
    v1: web stays in the cpu hierarchy for web/frontend; in the pids one its limit is put back first
    (it could hold processes), and the next apply removes the now unused, empty cgroup. v2: pids.max
    is put back, then the pids controller, needed by nobody now, is disabled above web."""
    kenv.config(WEB)
    assert kenv.cgman("apply")[0] == 0
    kenv.config(WEB.replace("cpu.weight = 200\n", "").replace("pids.max = 100\n", ""))
    code, report = kenv.cgman_json("apply")
    assert code == 0, report
    assert kernel(kenv, "cpu", "web", "cpu.shares", "cpu.weight") == ("100" if home("cpu") == "unified" else "1024")
    written = [(o["file"], o["writes"]) for o in report["outcomes"] if o["file"] == "pids.max"]
    assert written == [("pids.max", ["max"])]
    if home("pids") == "unified":
        assert "pids" not in kenv.read("unified", "", "cgroup.subtree_control").split()
        assert not kenv.path("unified", "web", "pids.max").exists()
    else:
        assert kenv.read("pids", "web", "pids.max") == "max"
        code, report = kenv.cgman_json("apply")
        assert code == 0, report
        assert not kenv.path("pids", "web").exists()
    assert kenv.cgman("plan", "--detailed-exitcode")[0] == 0


def test_perm_sets_owner_and_modes_like_cgconfig(kenv):
    """perm.admin owns the directory and files; perm.task owns the files that take processes."""
    kenv.config('[group."p"]\npids.max = 10\n[group."p".perm]\n'
                'admin = { uid = 65534, gid = 65534, dperm = "0775", fperm = "0664" }\n'
                'task = { uid = 1, gid = 1, fperm = "0660" }\n')
    code, report = kenv.cgman_json("apply")
    assert code == 0, report
    directory = kenv.path(home("pids"), "p")
    st = directory.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (65534, 65534, 0o775)
    pids_max = (directory / "pids.max").stat()
    assert (pids_max.st_uid, pids_max.st_mode & 0o777) == (65534, 0o664)
    procs = (directory / "cgroup.procs").stat()
    assert (procs.st_uid, procs.st_gid, procs.st_mode & 0o777) == (1, 1, 0o660)
    assert kenv.cgman("plan", "--detailed-exitcode")[0] == 0


def test_perm_mode_lowered_then_raised_again(kenv):
    """fperm 0444 takes the write bit; 0664 gives it back (the kernel's own bits bound the mask)."""
    knob = "cpu.weight" if home("cpu") == "unified" else "cpu.shares"
    body = '[group."q"]\ncpu.weight = 150\n[group."q".perm]\nadmin = {{ fperm = "{}" }}\n'
    kenv.config(body.format("0444"))
    assert kenv.cgman("apply")[0] == 0
    assert kenv.path(home("cpu"), "q", knob).stat().st_mode & 0o777 == 0o444
    kenv.config(body.format("0664"))
    code, report = kenv.cgman_json("apply")
    assert code == 0, report
    assert kenv.path(home("cpu"), "q", knob).stat().st_mode & 0o777 == 0o664
    assert kenv.cgman("plan", "--detailed-exitcode")[0] == 0


def test_status_reports_settings_and_processes(kenv):
    """status --json lists each group, whether it is in sync, and its process count."""
    kenv.config(WEB)
    kenv.cgman("apply")
    proc = kenv.start_in([home("cpu")], "batch")
    code, status = kenv.cgman_json("status")
    assert code == 0
    groups = {g["name"]: g for g in status["groups"]}
    assert list(groups) == ["web", "web/frontend", "batch"]  # the config's order
    assert all(g["in_sync"] for g in groups.values())
    assert groups["batch"]["processes"] == 1
    kenv.stop(proc)


def test_record_survives_a_closed_output_pipe(kenv):
    """`cgman apply -v | head -1`: the reader goes away mid-apply, yet every cgroup made is recorded."""
    import subprocess
    import sys

    kenv.config(WEB)
    cmd = [sys.executable, "-m", "cgmand", "--config-dir", str(kenv.conf), "--run-root", str(kenv.run_root),
           "apply", "-v", "--log-format", "logfmt"]
    subprocess.run(f"{' '.join(cmd)} 2>&1 | head -5 >/dev/null", shell=True, check=False)
    kenv.config("")
    code, report = kenv.cgman_json("apply")
    assert code == 0, report
    assert report["counts"]["removed"] >= 3
    assert kenv.leftovers() == []


def test_apply_without_root_is_a_permission_error(kenv, tmp_path):
    """A non-root apply stops at the lock with exit 77 and a hint, before touching anything."""
    import subprocess
    import sys

    kenv.config(WEB)
    for path in (tmp_path, kenv.conf):
        os.chmod(path, 0o755)
    os.chmod(kenv.conf / "10-test.toml", 0o644)
    done = subprocess.run([sys.executable, "-m", "cgmand", "--config-dir", str(kenv.conf), "apply"],
                          capture_output=True, text=True, preexec_fn=lambda: os.setuid(65534),
                          cwd="/", env={"PATH": os.environ["PATH"], "PYTHONPATH": os.getcwd()})
    assert done.returncode == 77, done.stderr
    assert "cannot create the lock in /run/cgman: Permission denied" in done.stderr
    assert "hint: run as root, or pass --run-root" in done.stderr
    assert kenv.leftovers() == []


def test_a_cpuset_can_be_emptied_through_cgroupfs(kenv):
    """The kernel ignores a zero-length write; cgroupfs sends "\\n" so an empty value really lands
    (v1: an empty cpuset; v2: an empty cpuset.cpus means the parent's)."""
    from cgmand.hierarchy import Hierarchy
    from cgmand.kernel.cgroupfs import CgroupFS

    kenv.config('[group."e"]\ncpuset.cpus = "0"\n')
    assert kenv.cgman("apply")[0] == 0
    where = home("cpuset")
    mount = mount_of(where)
    fs = CgroupFS(Hierarchy(2 if where == "unified" else 1, mount, "/", frozenset({"cpuset"})))
    fs.write(f"{kenv.prefix}/e", "cpuset.cpus", "")
    assert kenv.read(where, "e", "cpuset.cpus") == ""


@pytest.mark.skipif(mount_of("blkio") is None, reason="v1 blkio only: v2 io.weight does not depend on CFQ")
def test_a_weight_file_this_kernel_lacks_is_refused_at_check(kenv):
    """blkio.weight went with CFQ (Linux 5.0): once a child cgroup shows the blkio files, check
    refuses io.weight with the reason instead of apply failing on the write."""
    kenv.config('[group."b"]\nio = {}\n')
    assert kenv.cgman("apply")[0] == 0
    if (kenv.path("blkio", "b") / "blkio.weight").exists():
        pytest.skip("this kernel still has CFQ's blkio.weight")
    kenv.config('[group."b"]\nio.weight = 100\n')
    code, out, err = kenv.cgman("check")
    assert code == 78
    assert "this kernel has no blkio.weight in the blkio hierarchy (it belonged to the CFQ" in err


def test_a_cold_apply_leaves_a_snapshot_the_kernel_confirms(kenv, monkeypatch):
    """Every fact a cold apply keeps (read-backs, and the empty subtree_control of new cgroups,
    written down without reading) matches the kernel byte for byte: the next run takes the fast
    path, and a hand edit afterwards is still seen."""
    from cgmand import configcache
    from cgmand.kernel import snapshot
    from cgmand.roots import Roots

    monkeypatch.setattr(configcache, "SETTLE_NS", 0)
    kenv.config(WEB)
    assert kenv.cgman("apply")[0] == 0
    roots = Roots(str(kenv.conf), None, "/proc", str(kenv.run_root))
    assert snapshot.verify(roots) is not None
    pids = kenv.path(home("pids"), "web", "pids.max")
    pids.write_text("50")
    assert snapshot.verify(roots) is None
    assert kenv.cgman("plan", "--detailed-exitcode")[0] == 3
