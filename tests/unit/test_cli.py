"""The CLI end to end on fake trees: `main([...])` in-process with the root flags.

A fake tree cannot create interface files on mkdir the way the kernel does, so
these tests start from cgroups that already exist (drift, refusals, systemd
detection, exit statuses); cold creation is covered by tests/kernel.
"""

from __future__ import annotations

import errno
import json
import os
import stat

import pytest

from cgmand import cli
from fakes import build, fake_host, hybrid_host_with_web, read_tree, v1_group, v2_group, write_config

WEB = """
[group."web"]
cpu.weight = 200
memory.max = "1G"
"""


def run(roots, *args):
    return cli.main(["--config-dir", roots.config_dir, "--cgroup-root", roots.cgroup_root,
                     "--proc-root", roots.proc_root, "--run-root", roots.run_root, *args])


def run_json(capsys, roots, *args):
    capsys.readouterr()
    code = run(roots, *args, "--json")
    return code, json.loads(capsys.readouterr().out)


def refuse_writes(monkeypatch, refused: str) -> None:
    """Make the kernel (CgroupFS) reject every write to ``refused`` with EINVAL."""
    from cgmand.kernel.cgroupfs import CgroupFS, fail

    real = CgroupFS.write

    def write(self, cgroup, file, text):
        if file == refused:
            raise fail("write", self.path(cgroup, file), OSError(errno.EINVAL, "Invalid argument"), text)
        return real(self, cgroup, file, text)

    monkeypatch.setattr(CgroupFS, "write", write)


@pytest.fixture(name="hybrid")
def _hybrid(tmp_path):
    """This machine's layout with /cgman/web already present everywhere it belongs."""
    roots = hybrid_host_with_web(tmp_path)
    write_config(roots, "10-web.toml", WEB)
    return roots


def test_plan_then_apply_then_nothing_left_to_do(hybrid, capsys, tmp_path):
    """plan lists the two drifted knobs (exit 3), apply writes them, the re-plan is empty (exit 0)."""
    code, plan = run_json(capsys, hybrid, "plan", "--detailed-exitcode")
    assert code == 3
    assert [(a["hierarchy"], a["file"], a["old"], a["new"]) for a in plan["actions"]] == [
        ("cpu", "cpu.shares", "1024", "2048"), ("memory", "memory.limit_in_bytes", "max", "1G")]
    code, report = run_json(capsys, hybrid, "apply")
    assert code == 0 and report["counts"]["written"] == 2
    assert (tmp_path / "cgroup/cpu/cgman/web/cpu.shares").read_text() == "2048"
    assert (tmp_path / "cgroup/memory/cgman/web/memory.limit_in_bytes").read_text() == str(1 << 30)
    assert run(hybrid, "plan", "--detailed-exitcode") == 0


def test_invalid_config_changes_nothing(hybrid, capsys, tmp_path):
    """A bad value anywhere exits 78, names file and key, and leaves the tree untouched."""
    before = read_tree(tmp_path / "cgroup")
    path = write_config(hybrid, "20-bad.toml", '[group."x"]\nmemory.max = "lots"\n')
    assert run(hybrid, "apply") == 78
    err = capsys.readouterr().err
    assert f'{path}: group."x".memory.max: expected a size' in err
    assert read_tree(tmp_path / "cgroup") == before


def test_check_passes_and_reports_json(hybrid, capsys):
    """check exits 0 on a valid config and reports the host layout."""
    code, data = run_json(capsys, hybrid, "check")
    assert code == 0
    assert data["valid"] is True and data["groups"] == 1 and data["host"]["layout"] == "mixed"


def test_check_refuses_a_knob_this_host_cannot_honour(hybrid, capsys):
    """memory.high has no v1 counterpart: check exits 78 naming the key and why."""
    write_config(hybrid, "20-high.toml", '[group."h"]\nmemory.high = "1G"\n')
    code, data = run_json(capsys, hybrid, "check")
    assert code == 78
    assert data["error"]["reference"] == "config-invalid"
    assert 'group."h".memory.high: cannot be honoured on this host: cgroup v1 has no memory.high' \
        in data["error"]["message"]
    assert run(hybrid, "check", "--no-host") == 0


def test_memory_limit_below_usage_is_refused_unless_forced(hybrid, capsys, tmp_path):
    """A limit under current usage is refused (exit 1, nothing written); --force writes it."""
    (tmp_path / "cgroup/memory/cgman/web/memory.usage_in_bytes").write_text(str(2 << 30))
    code, report = run_json(capsys, hybrid, "apply")
    assert code == 1
    assert [n["reference"] for n in report["notices"]] == ["memory-below"]
    assert "below current usage 2G" in report["notices"][0]["message"]
    limit = tmp_path / "cgroup/memory/cgman/web/memory.limit_in_bytes"
    assert limit.read_text() == "9223372036854771712\n"
    code, report = run_json(capsys, hybrid, "apply", "--force")
    assert code == 0 and limit.read_text() == str(1 << 30)


def test_removed_group_with_processes_is_kept(hybrid, capsys, tmp_path):
    """A recorded group that left the config but holds a process is kept, and apply exits 0."""
    build(tmp_path / "run/cgman", {"created.json": json.dumps(
        {"version": 1, "created": {"cpu": ["/cgman/old"]}})})
    build(tmp_path / "cgroup/cpu/cgman/old", v1_group("cpu", **{"cgroup.procs": "4242\n"}))
    code, plan = run_json(capsys, hybrid, "plan")
    kept = [n for n in plan["notices"] if n["verb"] == "kept"]
    assert [(n["path"], n["reference"]) for n in kept] == [("/cgman/old", "group-kept")]
    assert "still holds 1 process(es) (e.g. pid 4242); kept, never killed" in kept[0]["message"]
    # apply leaves the refusal to the kernel (EBUSY), then says why
    code, report = run_json(capsys, hybrid, "apply")
    assert code == 0 and report["counts"]["kept"] == 1
    assert [(o["path"], o["status"], o["message"]) for o in report["outcomes"] if o["verb"] == "rmdir"] == [
        ("/cgman/old", "kept", "still holds 1 process(es) (e.g. pid 4242); kept, never killed")]
    assert (tmp_path / "cgroup/cpu/cgman/old").is_dir()


def test_status_shows_drift_and_usage(hybrid, capsys, tmp_path):
    """status --json reports each setting's kernel value, drift, and usage."""
    (tmp_path / "cgroup/memory/cgman/web/memory.usage_in_bytes").write_text("1048576\n")
    (tmp_path / "cgroup/cpu/cgman/web/cgroup.procs").write_text("7\n8\n")
    code, data = run_json(capsys, hybrid, "status")
    assert code == 0
    (web,) = data["groups"]
    assert web["name"] == "web" and web["in_sync"] is False and web["processes"] == 2
    assert web["memory_bytes"] == 1 << 20
    shares = next(s for s in web["settings"] if s["file"] == "cpu.shares")
    assert (shares["key"], shares["desired"], shares["actual"], shares["in_sync"]) == \
        ("cpu.weight", "2048", "1024", False)


UNIFIED = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"


@pytest.fixture(name="systemd_host")
def _systemd_host(tmp_path, monkeypatch):
    """A pure v2 host with systemd as PID 1 and a fake systemctl on PATH."""
    delegated = dict(v2_group(), **{"cgroup.controllers": "cpu memory pids\n"}, web=v2_group())
    roots = fake_host(tmp_path, UNIFIED, {"": {
        "cgroup.controllers": "cpuset cpu io memory pids\n", "cgroup.subtree_control": "cpu memory pids\n",
        "cgroup.procs": "1\n", "cgman.slice": dict(v2_group(), **{"cgman-groups.service": delegated})}},
        systemd=True)
    write_config(roots, "10-web.toml", WEB)
    return roots


def fake_systemctl(tmp_path, monkeypatch, output: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "systemctl"
    script.write_text(f"#!/bin/sh\nprintf '{output}'\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_systemd_groups_live_below_the_delegated_unit(systemd_host, capsys, tmp_path, monkeypatch):
    """Under systemd the base is the unit's cgroup; cgman enables controllers there, never above."""
    fake_systemctl(tmp_path, monkeypatch, "ControlGroup=/cgman.slice/cgman-groups.service\\nDelegate=yes\\n")
    code, plan = run_json(capsys, systemd_host, "plan")
    assert code == 0
    base = "/cgman.slice/cgman-groups.service"
    assert plan["host"]["base"] == base
    assert [(a["verb"], a["path"], a["writes"]) for a in plan["actions"]] == [
        ("evacuate", base, []),
        ("enable", base, ["+cpu +memory"]),
        ("write", f"{base}/web", ["1073741824"]),
        ("write", f"{base}/web", ["200"]),
    ]
    assert all(a["path"].startswith(base) for a in plan["actions"])


def test_systemd_without_the_unit_refuses_to_write(systemd_host, capsys, tmp_path, monkeypatch):
    """No running cgman-groups.service: exit 69 with a hint, and nothing is written. (The fake
    system's run root has no systemd/system: detection follows proc/1/comm, not --run-root.)"""
    fake_systemctl(tmp_path, monkeypatch, "ControlGroup=\\nDelegate=no\\n")
    before = read_tree(tmp_path / "cgroup")
    assert run(systemd_host, "apply") == 69
    err = capsys.readouterr().err
    assert "systemd is PID 1 but cgman-groups.service is not running" in err
    assert "systemctl start cgman-groups.service" in err
    assert read_tree(tmp_path / "cgroup") == before


def test_systemd_unit_without_delegation_is_refused(systemd_host, capsys, tmp_path, monkeypatch):
    """A payload unit without Delegate=yes is refused (exit 69)."""
    fake_systemctl(tmp_path, monkeypatch, "ControlGroup=/cgman.slice/cgman-groups.service\\nDelegate=no\\n")
    assert run(systemd_host, "plan") == 69
    assert "has no Delegate=yes" in capsys.readouterr().err


def test_controller_not_delegated_is_a_config_error(systemd_host, capsys, tmp_path, monkeypatch):
    """io is available on the host but not in the delegated cgroup: exit 78 naming the unit."""
    fake_systemctl(tmp_path, monkeypatch, "ControlGroup=/cgman.slice/cgman-groups.service\\nDelegate=yes\\n")
    write_config(systemd_host, "20-io.toml", '[group."disk"]\nio.weight = 50\n')
    assert run(systemd_host, "check") == 78
    assert "the io controller is not delegated to cgman-groups.service" in capsys.readouterr().err


def test_populated_group_cannot_gain_controlled_children(tmp_path, capsys):
    """v2: a group with processes is refused controllers for a new child; the child's writes wait."""
    roots = fake_host(tmp_path, UNIFIED, {"": {
        "cgroup.controllers": "cpu memory pids\n", "cgroup.subtree_control": "cpu memory\n",
        "cgroup.procs": "1\n", "cgman": dict(v2_group(**{"cgroup.subtree_control": "cpu\n"}),
                                             web=v2_group(**{"cgroup.procs": "99\n"},
                                                          child=v2_group()))}})
    write_config(roots, "10.toml", '[group."web"]\ncpu.weight = 100\n[group."web/child"]\nmemory.max = "1G"\n')
    code, plan = run_json(capsys, roots, "plan")
    assert [(n["verb"], n["reference"]) for n in plan["notices"]] == [
        ("refused", "no-processes"), ("blocked", "blocked")]
    assert "holds 1 process(es) (e.g. pid 99)" in plan["notices"][0]["message"]
    assert "memory.max waits on" in plan["notices"][1]["message"]
    assert [(a["verb"], a["path"], a["writes"]) for a in plan["actions"]] == [("enable", "/cgman", ["+memory"])]


def test_leaf_group_is_read_and_its_former_childs_controllers_disabled(tmp_path, capsys):
    """v2: web's child left the config; observe reads the now-leaf web's subtree_control and the plan
    disables what the child needed (a leaf with controllers enabled cannot hold processes)."""
    roots = fake_host(tmp_path, UNIFIED, {"": {
        "cgroup.controllers": "cpu memory pids\n", "cgroup.subtree_control": "cpu memory\n",
        "cgroup.procs": "1\n", "cgman": dict(v2_group(**{"cgroup.subtree_control": "cpu memory\n"}),
                                             web=v2_group(**{"cgroup.subtree_control": "cpu memory\n",
                                                             "cpu.weight": "200\n",
                                                             "memory.max": "1073741824\n"},
                                                          child=v2_group()))}})
    build(tmp_path / "run/cgman", {"created.json": json.dumps(
        {"version": 1, "created": {"unified": ["/cgman", "/cgman/web", "/cgman/web/child"]}})})
    write_config(roots, "10-web.toml", WEB)
    code, plan = run_json(capsys, roots, "plan")
    assert code == 0
    assert [(a["verb"], a["path"], a["writes"]) for a in plan["actions"]] == [
        ("rmdir", "/cgman/web/child", []), ("disable", "/cgman/web", ["-cpu -memory"])]


def test_recorded_cgroups_that_vanished_leave_the_record(hybrid, capsys, tmp_path):
    """A recorded cgroup removed by someone else is dropped from the record, so a cgroup that
    another tool later makes at the same path is theirs and never removed by cgman."""
    record = tmp_path / "run/cgman/created.json"
    build(tmp_path / "run/cgman", {"created.json": json.dumps(
        {"version": 1, "created": {"cpu": ["/cgman/gone"]}})})
    assert run(hybrid, "apply") == 0
    assert json.loads(record.read_text())["created"] == {}
    build(tmp_path / "cgroup/cpu/cgman/gone", v1_group("cpu"))  # someone else's, now
    code, plan = run_json(capsys, hybrid, "plan")
    assert code == 0 and plan["actions"] == []
    assert run(hybrid, "apply") == 0
    assert (tmp_path / "cgroup/cpu/cgman/gone").is_dir()


@pytest.mark.parametrize("body, found", [
    ("[1, 2]", "expected a JSON object, found list"),
    ('{"version": 1, "created": ["/cgman/x"]}', '"created" must map hierarchies'),
    ('{"version": 1, "created": {"cpu": ["/cgman/../../etc"]}}', '"created" must map hierarchies'),
    ('{"version": 1, "created": {"cpu": "/cgman/x"}}', '"created" must map hierarchies'),
    ("{not json", "Expecting property name"),
    ('{"version": 1, "managed": {"cpu": {"/cgman/x": ["../tasks"]}}}', '"managed" must map hierarchies'),
    ('{"version": 1, "managed": {"cpu": ["/cgman/x"]}}', '"managed" must map hierarchies'),
])
def test_a_malformed_record_is_refused_and_nothing_written(hybrid, capsys, tmp_path, body, found):
    """A record cgman cannot trust stops apply (exit 69) before any write, naming the file."""
    build(tmp_path / "run/cgman", {"created.json": body})
    before = read_tree(tmp_path / "cgroup")
    assert run(hybrid, "apply") == 69
    err = capsys.readouterr().err
    assert f"cannot read cgman's record {tmp_path}/run/cgman/created.json" in err and found in err
    assert "remove the file" in err
    assert read_tree(tmp_path / "cgroup") == before


def test_a_key_removed_from_the_config_goes_back_to_the_default(hybrid, capsys, tmp_path):
    """cpu.weight leaves web's config (cpu.max stays): cpu.shares goes back to 1024, the record
    stops answering for it once written, and the next plan is empty."""
    assert run(hybrid, "apply") == 0
    shares = tmp_path / "cgroup/cpu/cgman/web/cpu.shares"
    assert shares.read_text() == "2048"
    record = tmp_path / "run/cgman/created.json"
    assert json.loads(record.read_text())["managed"]["cpu"] == {"/cgman/web": ["cpu.shares"]}
    write_config(hybrid, "10-web.toml", '[group."web"]\ncpu.max = "50000 100000"\nmemory.max = "1G"\n')
    capsys.readouterr()
    assert run(hybrid, "plan") == 0
    assert "cpu:/cgman/web/cpu.shares: 2048 -> 1024  (no longer configured: back to the default)" \
        in capsys.readouterr().out
    assert run(hybrid, "apply") == 0
    assert shares.read_text() == "1024"
    assert json.loads(record.read_text())["managed"]["cpu"] == {
        "/cgman/web": ["cpu.cfs_period_us", "cpu.cfs_quota_us"]}
    assert run(hybrid, "plan", "--detailed-exitcode") == 0


def test_a_reset_that_fails_stays_in_the_record(hybrid, capsys, tmp_path, monkeypatch):
    """If the default cannot be written, cgman keeps answering for the file and tries next time."""
    assert run(hybrid, "apply") == 0
    write_config(hybrid, "10-web.toml", '[group."web"]\ncpu.max = "50000 100000"\nmemory.max = "1G"\n')
    refuse_writes(monkeypatch, "cpu.shares")
    code, report = run_json(capsys, hybrid, "apply")
    assert code == 1
    assert [(o["file"], o["status"]) for o in report["outcomes"] if o["status"] != "ok"] == [("cpu.shares", "failed")]
    record = json.loads((tmp_path / "run/cgman/created.json").read_text())
    assert record["managed"]["cpu"] == {"/cgman/web": ["cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.shares"]}
    monkeypatch.undo()
    code, report = run_json(capsys, hybrid, "apply")
    assert code == 0 and [o["file"] for o in report["outcomes"]] == ["cpu.shares"]
    assert (tmp_path / "cgroup/cpu/cgman/web/cpu.shares").read_text() == "1024"


def test_a_knob_this_kernel_lacks_is_refused_at_check(hybrid, capsys, tmp_path):
    """Without swap accounting v1 has no memsw file (a child cgroup shows what the kernel offers):
    check exits 78 naming the key, the missing file and the boot option."""
    for memsw in (tmp_path / "cgroup/memory/cgman").rglob("memory.memsw.limit_in_bytes"):
        memsw.unlink()
    write_config(hybrid, "20-swap.toml", '[group."s"]\nmemory.max = "1G"\nmemory.swap.max = "0"\n')
    assert run(hybrid, "check") == 78
    err = capsys.readouterr().err
    assert ('group."s".memory.swap.max: cannot be honoured on this host: this kernel has no '
            'memory.memsw.limit_in_bytes in the memory hierarchy (swap accounting is off)') in err
    assert "hint: boot with swapaccount=1" in err


def test_a_hierarchy_without_child_cgroups_cannot_tell_and_accepts(hybrid, capsys, tmp_path):
    """No child cgroup to look at (pids here has none): unknown, so the key is accepted."""
    assert not [p for p in (tmp_path / "cgroup/pids").iterdir() if p.is_dir()]
    write_config(hybrid, "20-pids.toml", '[group."p"]\npids.max = 10\n')
    assert run(hybrid, "check") == 0


def test_apply_dry_run_json_counts_like_apply(hybrid, capsys, tmp_path, monkeypatch):
    """apply --dry-run --json has apply's count names (created, written, ...) and writes nothing;
    from the snapshot too, once in sync."""
    from cgmand import configcache
    from cgmand.kernel import snapshot

    monkeypatch.setattr(configcache, "SETTLE_NS", 0)
    before = read_tree(tmp_path / "cgroup")
    code, preview = run_json(capsys, hybrid, "apply", "--dry-run")
    assert code == 0 and preview["dry_run"] is True
    assert preview["counts"] == {"created": 0, "written": 2, "removed": 0, "failed": 0, "skipped": 0,
                                 "refused": 0, "kept": 0}
    assert [a["file"] for a in preview["actions"]] == ["cpu.shares", "memory.limit_in_bytes"]
    assert read_tree(tmp_path / "cgroup") == before
    code, report = run_json(capsys, hybrid, "apply")
    assert set(report["counts"]) == set(preview["counts"])
    assert snapshot.verify(hybrid) is not None  # the next preview comes from the snapshot
    code, preview = run_json(capsys, hybrid, "apply", "--dry-run")
    assert preview["dry_run"] is True and preview["counts"]["written"] == 0
    assert set(preview["counts"]) == set(report["counts"])


def test_record_entries_of_an_unmounted_hierarchy_are_kept(hybrid, capsys, tmp_path):
    """A hierarchy missing from mountinfo now (unmounted for a while) is not evidence that its
    cgroups are gone: its record entries stay."""
    record = tmp_path / "run/cgman/created.json"
    build(tmp_path / "run/cgman", {"created.json": json.dumps(
        {"version": 1, "created": {"rdma": ["/cgman/x"], "cpu": ["/cgman/gone"]}})})
    assert run(hybrid, "apply") == 0
    assert json.loads(record.read_text())["created"] == {"rdma": ["/cgman/x"]}


def _v2_web_with_child(tmp_path, child):
    roots = fake_host(tmp_path, UNIFIED, {"": {
        "cgroup.controllers": "cpu memory pids\n", "cgroup.subtree_control": "cpu memory\n", "cgroup.procs": "1\n",
        "cgman": dict(v2_group(**{"cgroup.subtree_control": "cpu memory\n"}),
                      web=v2_group(**{"cgroup.subtree_control": "cpu memory\n", "cpu.weight": "200\n",
                                      "memory.max": "1073741824\n"}, **child))}})
    write_config(roots, "10-web.toml", WEB)
    return roots


def test_a_removed_child_kept_for_its_processes_keeps_its_parents_controllers(tmp_path, capsys):
    """web/child left the config but holds pid 4242: it is kept, web's controllers stay (disabling
    them would strip the child's limits), and apply exits 0."""
    roots = _v2_web_with_child(tmp_path, {"child": v2_group(**{"cgroup.procs": "4242\n"})})
    build(tmp_path / "run/cgman", {"created.json": json.dumps(
        {"version": 1, "created": {"unified": ["/cgman", "/cgman/web", "/cgman/web/child"]}})})
    code, plan = run_json(capsys, roots, "plan")
    assert [(n["verb"], n["path"]) for n in plan["notices"]] == [
        ("kept", "/cgman/web/child"), ("blocked", "/cgman/web")]
    code, report = run_json(capsys, roots, "apply")
    assert code == 0
    assert [(o["verb"], o["path"], o["status"]) for o in report["outcomes"]] == [
        ("rmdir", "/cgman/web/child", "kept"), ("disable", "/cgman/web", "skipped")]
    assert (tmp_path / "cgroup/cgman/web/cgroup.subtree_control").read_text() == "cpu memory\n"


def test_controllers_a_workload_uses_below_a_leaf_are_kept_not_failed(tmp_path, capsys):
    """The workload in leaf web made web/inner and enabled memory for it: cgman keeps web's
    controllers (kept, exit 0) instead of failing on every run."""
    roots = _v2_web_with_child(tmp_path, {"inner": v2_group(**{"cgroup.procs": "4242\n"})})
    code, report = run_json(capsys, roots, "apply")
    assert code == 0
    assert [(n["verb"], n["reference"], n["message"]) for n in report["notices"]] == [
        ("kept", "controllers-kept", "contains cgroups cgman does not manage: /cgman/web/inner")]


def test_v1_a_controllers_last_key_removed_is_put_back_before_the_cgroup_goes(hybrid, capsys, tmp_path):
    """memory.max leaves web (cpu.weight stays): the memory cgroup, which cgman did not make and
    could hold processes, gets its limit back to unlimited; the record then forgets it."""
    limit = tmp_path / "cgroup/memory/cgman/web/memory.limit_in_bytes"
    assert run(hybrid, "apply") == 0 and limit.read_text() == str(1 << 30)
    write_config(hybrid, "10-web.toml", '[group."web"]\ncpu.weight = 200\n')
    assert run(hybrid, "apply") == 0
    assert limit.read_text() == "-1"
    assert "memory" not in json.loads((tmp_path / "run/cgman/created.json").read_text())["managed"]
    assert run(hybrid, "plan", "--detailed-exitcode") == 0


def test_a_half_done_cfs_reset_is_finished_whole(hybrid, capsys, tmp_path, monkeypatch):
    """cpu.max leaves the config and the period write fails once: the record keeps the period, and
    the next apply puts back period and quota together (v1 orders them as one ratio)."""
    write_config(hybrid, "10-web.toml", '[group."web"]\ncpu.weight = 200\ncpu.max = "50000 200000"\n')
    assert run(hybrid, "apply") == 0
    write_config(hybrid, "10-web.toml", '[group."web"]\ncpu.weight = 200\n')
    refuse_writes(monkeypatch, "cpu.cfs_period_us")
    assert run(hybrid, "apply") == 1
    managed = json.loads((tmp_path / "run/cgman/created.json").read_text())["managed"]["cpu"]["/cgman/web"]
    assert managed == ["cpu.cfs_period_us", "cpu.shares"]
    monkeypatch.undo()
    code, report = run_json(capsys, hybrid, "apply")
    assert code == 0
    assert [(o["file"], o["writes"]) for o in report["outcomes"]] == [("cpu.cfs_period_us", ["100000"])]
    assert (tmp_path / "cgroup/cpu/cgman/web/cpu.cfs_quota_us").read_text() == "-1"


@pytest.mark.parametrize("argv", [
    ["apply"], ["plan"], ["apply", "--json"], ["apply", "--dry-run", "--force", "--json"],
    ["plan", "--detailed-exitcode", "--json", "--force"],
    ["--config-dir", "/x", "--run-root", "/r", "apply", "--cgroup-root", "/c", "--proc-root", "/p"],
    ["--config-dir", "/a", "plan", "--config-dir", "/b"], ["--config-dir", "", "apply"],
    ["apply", "--json", "--json"],
])
def test_the_quick_parser_agrees_with_argparse(argv):
    """The fast path's parser builds exactly the namespace argparse builds."""
    assert vars(cli.quick_parse(argv)) == vars(cli.build_parser().parse_args(argv))


@pytest.mark.parametrize("argv", [
    [], ["status"], ["check"], ["apply", "-v"], ["-v", "plan"], ["apply", "--dry"], ["apply", "--help"],
    ["--config-dir=/x", "apply"], ["--config-dir"], ["--config-dir", "-x", "apply"], ["--json", "apply"],
    ["apply", "--detailed-exitcode"], ["plan", "--dry-run"], ["apply", "extra"], ["--version"],
    ["apply", "--log-format", "json"],
])
def test_anything_else_is_left_to_argparse(argv):
    """Abbreviations, -v, --opt=value, unknown or misplaced options: argparse decides and reports."""
    assert cli.quick_parse(argv) is None


def test_own_parser_verbs_after_other_global_options_say_what_they_take(capsys):
    """exec, list, ... read only the root options before them; anything else reaches argparse."""
    from cgmand import cli

    assert cli.main(["-v", "list"]) == 2
    assert "list takes only --config-dir, --cgroup-root, --proc-root and --run-root before it" in \
        capsys.readouterr().err
