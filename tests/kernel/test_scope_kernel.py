"""cgmand's edit path (scope.py, commands.reconcile_edit) against the real kernel: after an edit
planned for its changed groups alone, the full planner finds nothing left to do and the record
is what a full reconcile keeps. Each case starts from a fully applied configuration."""

from __future__ import annotations

import os

import pytest

from cgmand import commands, config, scope
from cgmand.kernel import record, snapshot
from cgmand.roots import Roots
from conftest import KernelEnv, home

TWO_CPUS = len(os.sched_getaffinity(0)) >= 2


def cpu_max_of(env, group: str) -> str:
    if home("cpu") == "unified":
        return env.read("unified", group, "cpu.max")
    quota = env.read("cpu", group, "cpu.cfs_quota_us")
    return f"{'max' if quota == '-1' else quota} {env.read('cpu', group, 'cpu.cfs_period_us')}"


@pytest.fixture(name="twin")
def _twin(tmp_path, capsys):
    """A second test environment (its own prefix) where the same edit runs the full pipeline."""
    (tmp_path / "full").mkdir()
    env = KernelEnv(tmp_path / "full", capsys)
    try:
        yield env
    finally:
        env.cleanup()
        assert not env.leftovers(), f"cleanup left cgroups behind: {env.leftovers()}"


def roots_of(env) -> Roots:
    return Roots(config_dir=str(env.conf), run_root=str(env.run_root))


def edit(kenv, twin, before: str, after: str, hand=None):
    """Apply ``before`` in full in both environments (then ``hand(env)``, a change made by hand),
    and reconcile ``after``: in kenv as cgmand does after an edit, in twin in full. Both must
    end the same: the same record, and the same work left for the full planner. Returns the
    edit's outcome (None: it fell back to the full reconcile, as cgmand then does)."""
    outcomes = []
    for env, scoped in ((kenv, True), (twin, False)):
        roots = roots_of(env)
        env.config(before)
        code, report = env.cgman_json("apply")
        assert code == 0, report
        if hand is not None:
            hand(env)
        old = config.load(roots.config_dir)
        env.config(after)
        new = config.load(roots.config_dir)
        names = scope.changed(old, new)
        assert names != frozenset(), "each case changes or adds a group"
        done = commands.reconcile_edit(roots, new, names) if scoped and names else None
        # What a snapshot vouches for right after the edit (state() below plans in full, and
        # may then keep a fresh snapshot of its own once the files are 2 s old: slow guests).
        env.vouched = snapshot.verify(roots)
        outcomes.append(done)
        full = commands.reconcile_once(roots, desired=new) if done is None else done
        assert not full.report.failed, [(o.action.describe(), o.message) for o in full.report.outcomes]
    assert state(kenv) == state(twin)
    return outcomes[0]


def state(env) -> tuple:
    """The record and the full planner's verdict, with the environment's prefix taken out."""
    roots = roots_of(env)
    plan = commands.make_plan(roots, force=False).plan
    rec = record.load(roots.run_root)
    text = repr(({key: sorted(paths) for key, paths in sorted(rec.created.items())},
                 {key: sorted((p, sorted(files)) for p, files in cgroups.items())
                  for key, cgroups in sorted(rec.managed.items())},
                 sorted(a.describe() for a in plan.actions), sorted(n.message for n in plan.notices)))
    return text.replace(env.prefix, "<prefix>")


WEB = '[group."web"]\ncpu.weight = 200\npids.max = 100\n[group."batch"]\ncpu.weight = 50\n'
KNOB = "cpu.weight" if home("cpu") == "unified" else "cpu.shares"


def test_a_value_edit_is_planned_for_its_group_alone(kenv, twin):
    done = edit(kenv, twin, WEB, WEB.replace("200", "300"))
    assert done is not None and done.report.counts()["written"] == 1
    assert kenv.read(home("cpu"), "web", KNOB) in ("300", "3072")
    assert kenv.vouched is None  # no snapshot vouched for the files the edit changed


def test_a_value_edit_leaves_other_groups_to_the_drift_check(kenv, twin):
    """The edit path reads only its groups: a change made by hand elsewhere stays until the
    full reconcile (cgmand's drift check) repairs it."""
    def hand(env):
        env.path(home("cpu"), "batch", KNOB).write_text("300" if KNOB == "cpu.weight" else "3072")

    with pytest.raises(AssertionError):  # the twin's full reconcile repaired it
        edit(kenv, twin, WEB, WEB.replace("200", "300"), hand)
    assert kenv.read(home("cpu"), "batch", KNOB) in ("300", "3072")
    commands.reconcile_once(roots_of(kenv))
    assert kenv.read(home("cpu"), "batch", KNOB) in ("50", "512")


def test_a_removed_key_goes_back_to_its_default(kenv, twin):
    cpu_max = WEB.replace("pids.max = 100\n", 'pids.max = 100\ncpu.max = "50000 100000"\n')
    done = edit(kenv, twin, cpu_max, WEB)
    assert done is not None and done.report.counts()["written"] >= 1
    assert cpu_max_of(kenv, "web") == "max 100000"


def test_a_group_that_loses_a_controller_is_planned_in_full(kenv, twin):
    """web's only pids key goes: its parent may no longer need pids (v2: a disable there;
    v1: the parent's pids cgroup to remove once web's leftover is reset)."""
    assert edit(kenv, twin, WEB, WEB.replace("pids.max = 100\n", "")) is None


def test_a_group_added_below_an_existing_one(kenv, twin):
    tree = '[group."app"]\ncpu.weight = 100\n[group."app/a"]\ncpu.weight = 50\n'
    done = edit(kenv, twin, tree, tree + '[group."app/b"]\ncpu.weight = 150\n')
    assert done is not None
    assert kenv.path(home("cpu"), "app/b").is_dir()


def test_a_group_that_gains_a_controller(kenv, twin):
    """A new controller (v1: a hierarchy where the base does not exist yet; v2: one the parent
    must enable) needs work above the edited group: the edit falls back to the full reconcile."""
    tree = '[group."app"]\ncpu.weight = 100\n[group."app/a"]\ncpu.weight = 50\n'
    done = edit(kenv, twin, tree, tree + 'pids.max = 20\n')
    assert done is None
    assert kenv.read(home("pids"), "app/a", "pids.max") == "20"


def test_a_parent_edit_reaches_its_descendants(kenv, twin):
    """cpu.max of a parent with a child: v1 orders the pair by ratio against the child's."""
    tree = '[group."p"]\ncpu.max = "{}"\n[group."p/c"]\ncpu.max = "40000 100000"\n'
    assert edit(kenv, twin, tree.format("50000 100000"), tree.format("100000 200000")) is not None


@pytest.mark.skipif(not TWO_CPUS, reason="needs two CPUs")
def test_a_parent_cpuset_edit_narrows_an_inheriting_child(kenv, twin):
    """v1: a child with only cpuset.mems set copies its parent's cpus (cgman fills them); the
    parent's narrowing must reach the child first, or the kernel refuses the parent's write."""
    tree = '[group."p"]\ncpuset.cpus = "{}"\n[group."p/c"]\ncpuset.mems = "0"\n'
    assert edit(kenv, twin, tree.format("0-1"), tree.format("1")) is not None
    assert kenv.read(home("cpuset"), "p", "cpuset.cpus") == "1"
    if home("cpuset") != "unified":
        assert kenv.read("cpuset", "p/c", "cpuset.cpus") == "1"


def test_a_group_deleted_by_hand_and_then_edited_is_recreated(kenv, twin):
    def hand(env):
        for controller in {home("cpu"), home("pids")}:
            env.path(controller, "web").rmdir()

    done = edit(kenv, twin, WEB, WEB.replace("200", "300"), hand)
    assert done is not None
    assert kenv.read(home("pids"), "web", "pids.max") == "100"
