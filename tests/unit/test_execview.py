"""exec's kept host view (kernel/execview.py): used only when built from exactly what it depends
on now (cgroup mounts, the cgroup2 root's controllers, PID 1, the configuration files), and not
kept from files changed in the last seconds (a second change in the same timestamp tick would
look like none)."""

from __future__ import annotations

import os
import time

import pytest

from cgmand.kernel import execview
from cgmand.roots import Roots


class FakeHost:
    """What save() reads of a host model."""

    def __init__(self, base: str):
        self.hierarchies = []
        self.base = base
        self.systemd = None


@pytest.fixture(name="roots")
def _roots(tmp_path):
    unified = tmp_path / "unified"
    unified.mkdir()
    (unified / "cgroup.controllers").write_text("cpu memory pids\n")
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "1").mkdir()
    (proc / "1" / "comm").write_text("init\n")
    (proc / "self" / "mountinfo").write_text(
        f"30 1 0:26 / {unified} rw,nosuid shared:4 - cgroup2 cgroup2 rw\n"
        "22 1 0:21 / /proc rw shared:12 - proc proc rw\n")
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "10.toml").write_text('[manager]\nroot = "/a"\n')
    return Roots(config_dir=str(conf), proc_root=str(proc), run_root=str(tmp_path / "run"))


def test_a_view_is_used_only_while_everything_it_depends_on_is_the_same(roots, tmp_path, monkeypatch):
    from cgmand import configcache

    monkeypatch.setattr(configcache, "SETTLE_NS", 0)  # a file's ctime cannot be set back: settle at once
    wanted = execview.key(roots)
    assert wanted is not None and execview.load(roots, wanted) is None  # nothing kept yet
    execview.save(roots, wanted, FakeHost("/a"))
    assert execview.load(roots, wanted).base == "/a"
    changes = [
        lambda: (tmp_path / "unified" / "cgroup.controllers").write_text("cpu memory\n"),  # a controller went to v1
        lambda: (tmp_path / "proc" / "1" / "comm").write_text("systemd\n"),
        lambda: (tmp_path / "conf" / "20.toml").write_text("# another file\n"),
    ]
    for change in changes:
        change()
        now = execview.key(roots)
        assert now != wanted and execview.load(roots, now) is None
        wanted = now


def test_no_view_is_kept_from_files_changed_in_the_last_seconds(roots, tmp_path):
    (tmp_path / "conf" / "10.toml").write_text('[manager]\nroot = "/b"\n')  # just now
    wanted = execview.key(roots)
    view = execview.save(roots, wanted, FakeHost("/b"))
    assert view.base == "/b"  # used for this exec
    assert execview.load(roots, wanted) is None  # but not kept
    old = time.time() - 60
    os.utime(tmp_path / "conf" / "10.toml", (old, old))  # an old mtime does not help: the ctime is recent
    wanted = execview.key(roots)
    execview.save(roots, wanted, FakeHost("/b"))
    assert execview.load(roots, wanted) is None


def test_no_view_with_fake_cgroup_mounts(roots, tmp_path):
    faked = Roots(config_dir=roots.config_dir, proc_root=roots.proc_root, run_root=roots.run_root,
                  cgroup_root=str(tmp_path / "cg"))
    assert execview.key(faked) is None
