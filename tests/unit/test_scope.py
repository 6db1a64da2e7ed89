"""scope.py: which groups an edit changed, the partial configuration laid out for them, the record
split and merged around them, and when a partial plan must give way to the full one."""

from __future__ import annotations

from cgmand import commands, config, scope
from cgmand.kernel import record
from cgmand.model import DesiredState, GroupSpec, ManagerSpec
from cgmand.plan import DISABLE, ENABLE, MKDIR, REFUSED, WRITE, Action, Notice, Plan
from fakes import hybrid_host_with_web, write_config


def state(manager=ManagerSpec(), **groups) -> DesiredState:
    return DesiredState(manager, {name.replace("__", "/"): GroupSpec(name.replace("__", "/"), settings)
                                  for name, settings in groups.items()})


BEFORE = state(web={"cpu.weight": 100}, batch={"cpu.weight": 50})


def test_an_edit_of_one_group_changes_that_group():
    assert scope.changed(BEFORE, state(web={"cpu.weight": 200}, batch={"cpu.weight": 50})) == {"web"}


def test_added_groups_are_in_the_edit():
    after = state(web={"cpu.weight": 100}, batch={"cpu.weight": 50}, new={"pids.max": 5})
    assert scope.changed(BEFORE, after) == {"new"}


def test_nothing_changed_is_an_empty_edit():
    assert scope.changed(BEFORE, state(web={"cpu.weight": 100}, batch={"cpu.weight": 50})) == frozenset()


def test_a_group_moved_to_another_file_is_changed():
    moved = BEFORE._replace(groups=dict(BEFORE.groups, web=BEFORE.groups["web"]._replace(source="b.toml")))
    assert scope.changed(BEFORE, moved) == {"web"}


def test_a_removed_group_or_a_manager_change_needs_the_full_reconcile():
    assert scope.changed(BEFORE, state(web={"cpu.weight": 100})) is None
    other = state(ManagerSpec(drift_interval=5.0), web={"cpu.weight": 100}, batch={"cpu.weight": 50})
    assert scope.changed(BEFORE, other) is None


def test_an_edit_that_takes_a_controller_from_a_group_needs_the_full_reconcile():
    """Its parent may no longer need the controller (v2: a disable; v1: a cgroup to remove)."""
    before = state(web={"cpu.weight": 100, "memory.max": 2**30}, batch={"cpu.weight": 50})
    assert scope.changed(before, state(web={"cpu.weight": 100}, batch={"cpu.weight": 50})) is None
    table = before._replace(groups=dict(before.groups, web=before.groups["web"]._replace(
        controllers=frozenset({"pids"}))))
    assert scope.changed(table, before) is None  # its pids = {} table went
    assert scope.changed(before, table) == {"web"}  # gaining one is planned alone
    spelled = state(web={"cpu.shares": 1024, "memory.max": 2**30}, batch={"cpu.weight": 50})
    assert scope.changed(before, spelled) == {"web"}  # the same controller, spelled the v1 way


def test_the_partial_configuration_keeps_declared_ancestors_and_descendants_only():
    full = state(a={}, a__b={}, a__b__c={}, a__b__c__d={}, a__x={}, ab={}, other={})
    assert sorted(scope.reduce(full, frozenset({"a/b"})).groups) == ["a", "a/b", "a/b/c", "a/b/c/d"]
    assert scope.reduce(full, frozenset({"a/b"})).manager == full.manager


def test_within_is_the_groups_cgroups_and_what_lies_below():
    inside = scope.within("/cgman", frozenset({"a/b", "z"}))
    assert [p for p in ("/cgman/a/b", "/cgman/a/b/c", "/cgman/z", "/cgman/a/bc", "/cgman/a", "/cgman",
                        "/", "/cgman/zz") if inside(p)] == ["/cgman/a/b", "/cgman/a/b/c", "/cgman/z"]
    assert scope.within("/", frozenset({"a"}))("/a/b")


def test_the_record_is_split_and_merged_around_the_scope():
    inside = scope.within("/cgman", frozenset({"web"}))
    created = {"cpu": {"/cgman", "/cgman/web", "/cgman/web/x", "/cgman/batch"}, "pids": {"/cgman/batch"}}
    managed = {"cpu": {"/cgman/web": frozenset({"cpu.shares"}), "/cgman/batch": frozenset({"cpu.shares"})}}
    assert scope.part(created, inside) == {"cpu": {"/cgman/web", "/cgman/web/x"}, "pids": set()}
    assert scope.part(managed, inside) == {"cpu": {"/cgman/web": frozenset({"cpu.shares"})}}
    # the edit removed web/x, created web in memory, and web no longer sets cpu.shares
    assert scope.merged(created, {"cpu": {"/cgman/web"}, "memory": {"/cgman/web"}, "pids": set()}, inside) == {
        "cpu": {"/cgman", "/cgman/web", "/cgman/batch"}, "pids": {"/cgman/batch"}, "memory": {"/cgman/web"}}
    assert scope.merged(managed, {"cpu": {}}, inside) == {"cpu": {"/cgman/batch": frozenset({"cpu.shares"})}}
    assert scope.merged({"cpu": {"/cgman/web": frozenset({"x"})}}, {}, inside) == {}
    # the edit's layout also lists its declared ancestors: the record's entries stand for them
    ancestor = {"cpu": {"/cgman": frozenset({"cpu.shares", "cpu.cfs_quota_us"})}}
    assert scope.merged(ancestor, {"cpu": {"/cgman": frozenset({"cpu.shares"})}}, inside) == ancestor


def action(id_, verb, path, after=()):
    return Action(id_, verb, "unified", path, after=after)


INSIDE = scope.within("/cgman", frozenset({"web"}))


def test_restrict_keeps_the_edit_and_drops_the_partial_views_disables():
    plan = Plan([action(0, WRITE, "/cgman/web"), action(1, WRITE, "/cgman/web/x"),
                 action(2, DISABLE, "/cgman")], warnings=["w"])
    plan.resets = {("unified", "/cgman/web", "pids.max")}
    kept = scope.restrict(plan, INSIDE)
    assert [a.id for a in kept.actions] == [0, 1] and kept.warnings == ["w"] and kept.resets == plan.resets


def test_restrict_gives_way_when_the_cgroups_above_need_work():
    for verb in (MKDIR, ENABLE, WRITE):
        assert scope.restrict(Plan([action(0, WRITE, "/cgman/web"), action(1, verb, "/cgman")]), INSIDE) is None
    notice = Notice(REFUSED, "unified", "/cgman", "cannot fill cpuset.cpus")
    assert scope.restrict(Plan([action(0, WRITE, "/cgman/web")], [notice]), INSIDE) is None
    waits = Plan([action(0, DISABLE, "/cgman"), action(1, WRITE, "/cgman/web", after=(0,))])
    assert scope.restrict(waits, INSIDE) is None


def test_an_edit_on_a_fake_host_writes_only_its_group_and_keeps_the_rest_of_the_record(tmp_path):
    """reconcile_edit on this machine's layout: web's new weight is written; batch, changed by
    hand, is not read (the drift check's job); batch's record entries survive the merge."""
    roots = hybrid_host_with_web(tmp_path)
    batch = tmp_path / "cgroup/cpu/cgman/batch"
    batch.mkdir()
    for name, text in {"cpu.shares": "512\n", "cgroup.procs": "", "tasks": ""}.items():
        (batch / name).write_text(text)
    text = '[group."web"]\ncpu.weight = {}\n[group."batch"]\ncpu.weight = 50\n'
    write_config(roots, "10-web.toml", text.format(200))
    assert commands.reconcile_once(roots).report.failed is False
    kept = record.load(roots.run_root)
    (batch / "cpu.shares").write_text("5\n")  # by hand
    old = config.load(roots.config_dir)
    write_config(roots, "10-web.toml", text.format(300))
    new = config.load(roots.config_dir)
    done = commands.reconcile_edit(roots, new, scope.changed(old, new))
    assert [o.action.describe() for o in done.report.outcomes] == ["cpu:/cgman/web/cpu.shares: 2048 -> 3072"]
    assert (batch / "cpu.shares").read_text() == "5\n"
    assert record.load(roots.run_root) == kept
