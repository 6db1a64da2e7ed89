"""kernel/attach.py on fake trees: which file and text each move writes, the refusals before and
after the write, and reading /proc/PID/cgroup."""

from __future__ import annotations

import errno

import pytest

from cgmand import targets
from cgmand.errors import ProcessGone
from cgmand.hierarchy import Hierarchy
from cgmand.kernel import attach
from cgmand.kernel.attach import AttachError
from cgmand.kernel.cgroupfs import CgroupFS, fail
from fakes import build, v1_group, v2_group

CPU = frozenset({"cpu", "cpuacct"})


@pytest.fixture(name="tree")
def _tree(tmp_path):
    build(tmp_path / "cpu", dict(v1_group("cpu"), cgman=dict(v1_group("cpu"), web=v1_group("cpu"))))
    build(tmp_path / "unified", dict(v2_group(), cgman=dict(
        v2_group(**{"cgroup.subtree_control": "cpu\n"}),
        web=v2_group(**{"cgroup.controllers": "cpu\n"}))))
    build(tmp_path / "proc", {"self": {"task": {"100": {}}, "cgroup": "1:cpu,cpuacct:/cgman/web\n0::/cgman/web\n"},
                              "42": {"cgroup": "1:cpuacct,cpu:/\n0::/\n"}})
    return tmp_path


def target(tree, key, path="/cgman/web", v2=(), optional=False, mirror=False):
    hierarchy = Hierarchy(1, str(tree / "cpu"), "/", CPU) if key == "cpu" else \
        Hierarchy(2, str(tree / "unified"), "/", frozenset({"cpu", "memory"}))
    return targets.Target(hierarchy, path, frozenset(v2), optional, f"cpu:{path}", mirror)


def test_a_single_threaded_exec_writes_0_to_v1_tasks_and_v2_cgroup_procs(tree):
    joined = attach.join_self([target(tree, "cpu"), target(tree, "unified", v2=["cpu"])], str(tree / "proc"))
    assert len(joined) == 2
    assert (tree / "cpu/cgman/web/tasks").read_text() == "0"
    assert (tree / "cpu/cgman/web/cgroup.procs").read_text() == ""
    assert (tree / "unified/cgman/web/cgroup.procs").read_text() == "0"


def test_a_threaded_process_moves_whole_on_v1_too(tree):
    (tree / "proc/self/task/101").mkdir()
    attach.join_self([target(tree, "cpu")], str(tree / "proc"))
    assert (tree / "cpu/cgman/web/cgroup.procs").read_text() == "0"
    assert (tree / "cpu/cgman/web/tasks").read_text() == ""


def test_classify_writes_the_pid(tree):
    attach.move(42, [target(tree, "cpu")])
    assert (tree / "cpu/cgman/web/cgroup.procs").read_text() == "42"


def test_a_missing_group_is_named_with_its_hierarchy(tree):
    with pytest.raises(AttachError, match=r"no group /cgman/db in the cpu,cpuacct hierarchy \(-g cpu:/cgman/db\)") \
            as err:
        attach.join_self([target(tree, "cpu", "/cgman/db")], str(tree / "proc"))
    assert err.value.reference == "group-missing"


def test_optional_targets_are_skipped_where_the_group_is_not_but_not_everywhere(tree):
    mirror = target(tree, "unified", "/cgman/db", optional=True, mirror=True)
    build(tree / "cpu/cgman/db", v1_group("cpu"))
    assert [t.hierarchy.key for t in attach.join_self([target(tree, "cpu", "/cgman/db"), mirror],
                                                      str(tree / "proc"))] == ["cpu,cpuacct"]
    with pytest.raises(AttachError, match="no group /cgman/nope in any hierarchy"):
        attach.join_self([target(tree, "cpu", "/cgman/nope", optional=True)], str(tree / "proc"))


def test_a_v2_controller_not_enabled_for_the_group_is_refused_before_writing(tree):
    with pytest.raises(AttachError, match="the memory controller is not enabled for /cgman/web") as err:
        attach.join_self([target(tree, "unified", v2=["cpu", "memory"])], str(tree / "proc"))
    assert err.value.reference == "controller-not-enabled"
    assert (tree / "unified/cgman/web/cgroup.procs").read_text() == ""


@pytest.mark.parametrize("code, version, reference, message", [
    (errno.EBUSY, 2, "group-inner", "no-internal-process rule"),
    (errno.EACCES, 1, "permission-denied", "permission denied"),
    (errno.EINVAL, 1, "attach-refused", "cpu.rt_runtime_us"),
    (errno.ENOSPC, 1, "attach-refused", "cannot move a process into"),
])
def test_kernel_refusals_say_what_they_mean(tree, monkeypatch, code, version, reference, message):
    def refuse(self, cgroup, file, text):
        raise fail("write", self.path(cgroup, file), OSError(code, "refused"), text)

    monkeypatch.setattr(CgroupFS, "write", refuse)
    with pytest.raises(AttachError, match=message) as err:
        attach.join_self([target(tree, "cpu" if version == 1 else "unified")], str(tree / "proc"))
    assert err.value.reference == reference


def test_a_vanished_process_is_process_gone(tree, monkeypatch):
    monkeypatch.setattr(CgroupFS, "write", lambda self, cgroup, file, text: (_ for _ in ()).throw(
        fail("write", self.path(cgroup, file), OSError(errno.ESRCH, "gone"), text)))
    with pytest.raises(ProcessGone):
        attach.move(42, [target(tree, "cpu")])
    with pytest.raises(ProcessGone):
        attach.cgroups_of(4242, str(tree / "proc"))


def test_proc_cgroup_is_read_per_hierarchy(tree):
    assert attach.cgroups_of(42, str(tree / "proc")) == {"cpu,cpuacct": "/", "unified": "/"}
    moved = [target(tree, "cpu"), target(tree, "unified")]
    assert attach.misplaced("self", moved, str(tree / "proc")) == []
    assert attach.misplaced(42, moved, str(tree / "proc")) == moved
