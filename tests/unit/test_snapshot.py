"""kernel/snapshot.py: an unchanged system is confirmed from the last verified facts,
and anything different at all sends plan/apply down the full pipeline."""

from __future__ import annotations

import json
import os

import pytest

from cgmand import cli, configcache
from cgmand.kernel import snapshot
from fakes import hybrid_host_with_web, write_config

WEB = '[group."web"]\ncpu.weight = 200\nmemory.max = "1G"\n'


def run(roots, *args):
    return cli.main(["--config-dir", roots.config_dir, "--cgroup-root", roots.cgroup_root,
                     "--proc-root", roots.proc_root, "--run-root", roots.run_root, *args])


@pytest.fixture(autouse=True)
def _settled_at_once(monkeypatch):
    """Config files just written count as settled (the 2 s rule has its own test)."""
    monkeypatch.setattr(configcache, "SETTLE_NS", 0)


@pytest.fixture(name="synced")
def _synced(tmp_path, capsys):
    """A fake host that one clean apply brought in sync (so a snapshot exists)."""
    roots = hybrid_host_with_web(tmp_path)
    write_config(roots, "10-web.toml", WEB)
    assert run(roots, "apply") == 0
    capsys.readouterr()
    return roots


def test_a_clean_apply_leaves_a_snapshot_that_verifies(synced):
    """After a clean apply the snapshot exists and still holds."""
    assert os.path.exists(os.path.join(synced.run_root, "cgman", "snapshot"))
    outputs = snapshot.verify(synced)
    assert outputs is not None and "No changes" in outputs["plan_text"]


def test_plan_and_apply_answer_from_the_snapshot(synced, capsys):
    """With the snapshot holding, plan/apply print the stored in-sync output (proof: planted text)."""
    facts = snapshot._load(snapshot._path(synced))[1]
    planted = {"plan_text": "PLANTED PLAN", "plan_json": {"drift": False, "planted": True},
               "apply_text": "PLANTED APPLY", "apply_json": {}, "warnings": []}
    assert snapshot.save(synced, list(facts), planted, snapshot.key(synced))
    assert run(synced, "plan", "--detailed-exitcode") == 0
    assert capsys.readouterr().out == "PLANTED PLAN\n"
    assert run(synced, "apply") == 0
    assert capsys.readouterr().out == "PLANTED APPLY\n"
    assert run(synced, "plan", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"drift": False, "planted": True}


def test_a_value_changed_by_hand_is_seen(synced, tmp_path, capsys):
    """Any different text in a managed file means the full plan, which finds the drift."""
    (tmp_path / "cgroup/cpu/cgman/web/cpu.shares").write_text("1024\n")
    assert snapshot.verify(synced) is None
    assert run(synced, "plan", "--detailed-exitcode") == 3


def test_equal_but_differently_spelled_text_still_falls_back(synced, tmp_path):
    """The shortcut compares bytes: the same number spelled differently is not the verified text."""
    path = tmp_path / "cgroup/cpu/cgman/web/cpu.shares"
    assert path.read_text() == "2048"
    path.write_text("2048\n")
    assert snapshot.verify(synced) is None
    assert run(synced, "plan", "--detailed-exitcode") == 0  # the full plan calls it equal


def test_a_removed_mirror_cgroup_is_seen(synced, tmp_path):
    """A cgroup that must exist (the cgroup2 mirror, no files read) is checked too."""
    mirror = tmp_path / "cgroup/unified/cgman/web"
    for entry in mirror.iterdir():
        entry.unlink()
    mirror.rmdir()
    assert snapshot.verify(synced) is None


@pytest.mark.parametrize("change", ["config", "record", "mountinfo", "controllers"])
def test_changed_inputs_invalidate(synced, tmp_path, change):
    """A config edit, a new record, a remount or a controller offered by cgroup2 each invalidate it."""
    if change == "controllers":
        (tmp_path / "cgroup/unified/cgroup.controllers").write_text("hugetlb pids\n")
    elif change == "config":
        write_config(synced, "10-web.toml", WEB + "\n")
    elif change == "record":
        with open(os.path.join(synced.run_root, "cgman", "created.json"), "w") as handle:
            json.dump({"version": 1, "created": {"cpu": ["/cgman/x"]}}, handle)
    else:
        with open(os.path.join(synced.proc_root, "self", "mountinfo"), "a") as handle:
            handle.write("99 31 0:99 / /sys/fs/cgroup/rdma rw - cgroup cgroup rw,rdma\n")
    assert snapshot.verify(synced) is None


def test_groups_with_perm_are_never_snapshotted(tmp_path, capsys):
    """Ownership is not in the facts, so a config with perm always plans in full."""
    roots = hybrid_host_with_web(tmp_path)
    write_config(roots, "10-web.toml", WEB + '[group."web".perm]\nadmin = { fperm = "0644" }\n')
    assert run(roots, "apply") == 0
    assert run(roots, "plan", "--detailed-exitcode") == 0
    assert not os.path.exists(os.path.join(roots.run_root, "cgman", "snapshot"))


def test_a_snapshot_others_can_write_is_ignored(synced):
    """A group/world-writable snapshot is not trusted."""
    os.chmod(snapshot._path(synced), 0o666)
    assert snapshot.verify(synced) is None


def test_an_unclean_apply_forgets_the_snapshot(synced, tmp_path, capsys):
    """An apply with a refusal leaves no snapshot: the next run plans in full."""
    (tmp_path / "cgroup/memory/cgman/web/memory.usage_in_bytes").write_text(str(4 << 30))
    write_config(synced, "10-web.toml", WEB.replace('"1G"', '"2G"').replace("cpu.weight = 200", "cpu.weight = 100")
                 .replace('"2G"', '"512M"'))
    assert run(synced, "apply") == 1
    assert not os.path.exists(snapshot._path(synced))


def test_facts_from_before_a_config_edit_are_not_kept(synced):
    """The key is taken before the config is read: an edit while the plan ran means no snapshot."""
    facts = snapshot._load(snapshot._path(synced))[1]
    started = snapshot.key(synced)
    write_config(synced, "10-web.toml", WEB.replace("200", "300"))
    assert snapshot.save(synced, list(facts), {}, started) is False
    assert snapshot.save(synced, list(facts), {}, None) is False


def test_only_a_record_written_by_the_caller_may_differ(synced):
    """apply rewrites the record itself (under the lock): that part of the key may move, nothing else."""
    facts = snapshot._load(snapshot._path(synced))[1]
    started = snapshot.key(synced)
    with open(os.path.join(synced.run_root, "cgman", "created.json"), "w") as handle:
        json.dump({"version": 1, "created": {"cpu": ["/cgman/x"]}}, handle)
    assert snapshot.save(synced, list(facts), {}, started) is False
    assert snapshot.save(synced, list(facts), {}, started, wrote_record=True) is True
    write_config(synced, "10-web.toml", WEB + "\n")
    assert snapshot.save(synced, list(facts), {}, started, wrote_record=True) is False


def test_a_config_written_just_now_is_not_snapshotted(synced, monkeypatch):
    """Two same-size edits in one timestamp tick look alike: a just-edited config is never trusted."""
    facts = snapshot._load(snapshot._path(synced))[1]
    monkeypatch.setattr(configcache, "SETTLE_NS", 60 * 10**9)
    assert snapshot.save(synced, list(facts), {}, snapshot.key(synced)) is False


def test_a_config_edited_while_the_plan_runs_leaves_no_snapshot(synced, monkeypatch):
    """make_plan takes the key before it reads the config: an edit landing after the read (here,
    right after configcache.load) must not be saved as in sync with the old facts."""
    snapshot.forget(synced)
    real = configcache.load

    def load_then_edit(directory, cache_dir, memo=None):
        state = real(directory, cache_dir, memo)
        write_config(synced, "10-web.toml", WEB.replace("200", "300"))
        return state

    monkeypatch.setattr(configcache, "load", load_then_edit)
    assert run(synced, "plan") == 0
    assert not os.path.exists(snapshot._path(synced))
    monkeypatch.setattr(configcache, "load", real)
    assert run(synced, "plan", "--detailed-exitcode") == 3  # the edit is seen
