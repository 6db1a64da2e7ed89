"""The planner: ordered actions, dependencies, guards, removals, refusals and ownership."""

from __future__ import annotations

from typing import Dict, Iterable, Optional

from cgmand import knobs
from cgmand.hierarchy import Host, Systemd, build as build_host, parse_mountinfo, to_hierarchy
from cgmand.hierarchy.layout import Layout, Node, build as build_layout
from cgmand.model import DesiredState, GroupSpec, Ownership, Perm
from cgmand.plan import (
    BLOCKED, CHILDREN_KNOWN, CHOWN, DISABLE, ENABLE, EVACUATE, KEPT, MEMORY_BELOW, MKDIR, NO_PROCESSES,
    REFUSED, REMOVABLE, RMDIR, WRITE, Guard, NodeState, Plan, counts, make, perm_changes,
)
from cgmand.values import MAX
from fakes import mountinfo_sample

SOURCE = "/etc/cgman/10-web.toml"
D = "/cgman.slice/cgman-groups.service"
SYSTEMD = Systemd("cgman-groups.service", D, True)
ALL_V2 = "cpuset cpu io memory hugetlb pids rdma misc"
G = 1 << 30
M = 1 << 20
V1_MAX = "9223372036854771712\n"  # what v1 prints for an unlimited page counter


# --- helpers -------------------------------------------------------------------------------


def group(name: str, settings: Optional[dict] = None, controllers: Iterable[str] = (),
          perm: Optional[Perm] = None) -> GroupSpec:
    typed = {key: knobs.lookup(key)[2].parse(raw) for key, raw in (settings or {}).items()}
    return GroupSpec(name, typed, frozenset(controllers), perm, SOURCE)


def host(sample: str, v2: str = "", base: str = "/cgman", systemd=None) -> Host:
    found = (to_hierarchy(m, v2) for m in parse_mountinfo(mountinfo_sample(sample)))
    return build_host([h for h in found if h is not None], base, systemd=systemd)


def unified(**kw) -> Host:
    return host("unified-systemd.txt", ALL_V2, **kw)


def hybrid(**kw) -> Host:
    return host("hybrid-systemd.txt", "", **kw)


def lay(host_: Host, *groups: GroupSpec) -> Layout:
    return build_layout(DesiredState(groups={g.name: g for g in groups}), host_)


def exists(key: str, path: str, subtree=None, entries=None, **files: str):
    """One observed cgroup: file names use "__" for "." (memory__max -> memory.max)."""
    named = {name.replace("__", "."): text for name, text in files.items()}
    return (key, path), NodeState(True, named, None if subtree is None else frozenset(subtree), entries)


def observed(*items) -> Dict:
    return dict(items)


def rows(plan: Plan):
    """(verb, hierarchy, path, file, texts, after) of each action, with ids replaced by positions."""
    position = {a.id: i for i, a in enumerate(plan.actions)}
    return [(a.verb, a.hierarchy, a.path, a.file, a.texts, tuple(position.get(i, f"#{i}") for i in a.after))
            for a in plan.actions]


def brief(plan: Plan, key: Optional[str] = None):
    """(verb, path, file, texts) of the actions, optionally of one hierarchy."""
    return [(a.verb, a.path, a.file, a.texts) for a in plan.actions if key is None or a.hierarchy == key]


def notices(plan: Plan):
    return [(n.verb, n.hierarchy, n.path, n.message, n.group, n.reference) for n in plan.notices]


# A v2 layout used by several tests: web (memory, cpu) with a child front (cpuset, cpu.max).
def v2_web() -> Layout:
    return lay(unified(), group("web", {"memory.max": "1G", "cpu.weight": 200}),
               group("web/front", {"cpuset.cpus": "0-1", "cpu.max": "50000 100000"}))


def v2_web_converged(*overrides):
    """The kernel state matching v2_web(); each ``exists(...)`` given replaces or adds one cgroup."""
    state = observed(
        exists("unified", "/", subtree={"cpu", "cpuset", "memory", "io"}),
        exists("unified", "/cgman", subtree={"cpu", "cpuset", "memory"}),
        exists("unified", "/cgman/web", subtree={"cpu", "cpuset"},
               memory__max="1073741824\n", cpu__weight="200\n"),
        exists("unified", "/cgman/web/front", cpuset__cpus="0-1\n", cpu__max="50000 100000\n"),
    )
    state.update(dict(overrides))
    return state


# --- cold plans ----------------------------------------------------------------------------


def test_cold_v2_plan_order_and_dependencies():
    """New v2 tree: mkdir parent before child; per cgroup cpuset, limits, then one +controller write."""
    plan = make(v2_web(), observed(exists("unified", "/", subtree={"memory"})), {})
    assert rows(plan) == [
        (ENABLE, "unified", "/", None, ("+cpu +cpuset",), ()),
        (MKDIR, "unified", "/cgman", None, (), ()),
        (ENABLE, "unified", "/cgman", None, ("+cpu +cpuset +memory",), (0, 1)),
        (MKDIR, "unified", "/cgman/web", None, (), (1,)),
        (WRITE, "unified", "/cgman/web", "memory.max", ("1073741824",), (1, 2, 3)),
        (WRITE, "unified", "/cgman/web", "cpu.weight", ("200",), (1, 2, 3)),
        (ENABLE, "unified", "/cgman/web", None, ("+cpu +cpuset",), (1, 2, 3)),
        (MKDIR, "unified", "/cgman/web/front", None, (), (3,)),
        (WRITE, "unified", "/cgman/web/front", "cpuset.cpus", ("0-1",), (3, 6, 7)),
        (WRITE, "unified", "/cgman/web/front", "cpu.max", ("50000 100000",), (3, 6, 7)),
    ]
    assert plan.notices == []


def test_cold_v2_plan_guards_enables_except_at_the_root():
    """The root is exempt from no-internal-processes; an enable with a domain controller (memory)
    checks for processes first; one of threaded controllers only (cpu, cpuset) needs not."""
    plan = make(v2_web(), observed(exists("unified", "/", subtree={"memory"})), {})
    guards = {a.path: a.guard for a in plan.actions if a.verb == ENABLE}
    assert guards == {"/": None, "/cgman": Guard(NO_PROCESSES), "/cgman/web": None}
    assert all(a.guard is None for a in plan.actions if a.verb != ENABLE)


def test_cold_v2_plan_action_details():
    """Writes carry display values, the typed value the read-back must show, and the config key."""
    plan = make(v2_web(), observed(exists("unified", "/", subtree={"memory"})), {})
    write = next(a for a in plan.actions if a.file == "memory.max")
    assert (write.old, write.new, write.desired, write.source, write.group) == ("(new)", "1G", G, "memory.max", "web")
    assert write.setting.file == "memory.max" and write.setting.value == G
    enable = plan.actions[2]
    assert (enable.old, enable.new) == ("", "cpu cpuset memory")
    root = plan.actions[0]
    assert (root.old, root.new) == ("memory", "cpu cpuset memory")
    assert counts(plan) == {MKDIR: 3, WRITE: 4, ENABLE: 3, DISABLE: 0, RMDIR: 0, CHOWN: 0, EVACUATE: 0}


def test_cold_plan_across_hybrid_hierarchies():
    """Hybrid: each hierarchy planned in layout order (cpuset first), each with its own ids."""
    layout = lay(hybrid(), group("web", {"cpuset.cpus": "1", "memory.max": "1G"}))
    state = observed(exists("cpuset", "/", cpuset__cpus="0-3\n", cpuset__mems="0\n"),
                     exists("unified", "/"), exists("memory", "/"))
    plan = make(layout, state, {})
    assert rows(plan) == [
        (MKDIR, "cpuset", "/cgman", None, (), ()),
        (WRITE, "cpuset", "/cgman", "cpuset.cpus", ("0-3",), (0,)),
        (WRITE, "cpuset", "/cgman", "cpuset.mems", ("0",), (0,)),
        (MKDIR, "cpuset", "/cgman/web", None, (), (0,)),
        (WRITE, "cpuset", "/cgman/web", "cpuset.cpus", ("1",), (0, 3)),
        (WRITE, "cpuset", "/cgman/web", "cpuset.mems", ("0",), (0, 3)),
        (MKDIR, "unified", "/cgman", None, (), ()),
        (MKDIR, "unified", "/cgman/web", None, (), (6,)),
        (MKDIR, "memory", "/cgman", None, (), ()),
        (MKDIR, "memory", "/cgman/web", None, (), (8,)),
        (WRITE, "memory", "/cgman/web", "memory.limit_in_bytes", ("1073741824",), (8, 9)),
    ]
    assert len({a.id for a in plan.actions}) == len(plan.actions)


# --- idempotence and small changes ---------------------------------------------------------


def test_converged_v2_tree_plans_nothing():
    """Observed equal to desired (extra controllers at the "add"-only root kept): no action, no notice."""
    plan = make(v2_web(), v2_web_converged(), {"unified": {"/cgman", "/cgman/web", "/cgman/web/front"}})
    assert plan.actions == []
    assert plan.notices == []
    assert plan.drift is False


def test_converged_hybrid_tree_plans_nothing():
    """Hybrid with v1 cpuset, memory and memsw: matching kernel text (v1 "unlimited" included) is no drift."""
    layout = lay(hybrid(), group("web", {"cpuset.cpus": "1", "memory.limit_in_bytes": "1G",
                                         "memory.memsw.limit_in_bytes": "2G", "cpu.cfs_quota_us": -1}))
    state = observed(
        exists("cpuset", "/", cpuset__cpus="0-3\n", cpuset__mems="0\n"),
        exists("cpuset", "/cgman", cpuset__cpus="0-3\n", cpuset__mems="0\n"),
        exists("cpuset", "/cgman/web", cpuset__cpus="1\n", cpuset__mems="0\n"),
        exists("unified", "/"), exists("unified", "/cgman"), exists("unified", "/cgman/web"),
        exists("cpu,cpuacct", "/"), exists("cpu,cpuacct", "/cgman"),
        exists("cpu,cpuacct", "/cgman/web", cpu__cfs_period_us="100000\n", cpu__cfs_quota_us="-1\n"),
        exists("memory", "/"), exists("memory", "/cgman"),
        exists("memory", "/cgman/web", memory__limit_in_bytes="1073741824\n",
               memory__memsw__limit_in_bytes="2147483648\n"),
    )
    plan = make(layout, state, {})
    assert plan.actions == []
    assert plan.notices == []


def test_one_knob_change_is_one_write():
    """cpu.weight drifted to 100: exactly one write of "200", depending on nothing."""
    state = v2_web_converged(exists("unified", "/cgman/web", subtree={"cpu", "cpuset"},
                                    memory__max="1073741824\n", cpu__weight="100\n"))
    plan = make(v2_web(), state, {})
    assert rows(plan) == [(WRITE, "unified", "/cgman/web", "cpu.weight", ("200",), ())]
    write = plan.actions[0]
    assert (write.old, write.new, write.guard) == ("100", "200", None)
    assert plan.notices == []


def test_missing_controller_files_are_rewritten_after_the_parents_enable():
    """A controller newly enabled at the parent: the child's limits are written after that enable."""
    state = v2_web_converged(
        exists("unified", "/cgman", subtree={"cpu", "cpuset"}),
        exists("unified", "/cgman/web", subtree={"cpu", "cpuset"}, cpu__weight="200\n"),
    )
    plan = make(v2_web(), state, {}, force=True)
    assert rows(plan) == [
        (ENABLE, "unified", "/cgman", None, ("+memory",), ()),
        (WRITE, "unified", "/cgman/web", "memory.max", ("1073741824",), (0,)),
    ]
    assert plan.actions[1].old == "(missing)"


# --- v1 hierarchical ordering --------------------------------------------------------------


def v1_memory_layout(**settings_by_group) -> Layout:
    groups = [group(name.replace("_", "/"), values) for name, values in settings_by_group.items()]
    return lay(hybrid(), *groups)


def v1_memory_state(**limits):
    """Existing memory cgroups with the given limit_in_bytes / memsw texts (tuples)."""
    items = [exists("memory", "/"), exists("memory", "/cgman"), exists("unified", "/"),
             exists("unified", "/cgman")]
    for name, (limit, memsw) in limits.items():
        path = "/cgman/" + name.replace("_", "/")
        files = {"memory__limit_in_bytes": limit}
        if memsw is not None:
            files["memory__memsw__limit_in_bytes"] = memsw
        items.append(exists("memory", path, **files))
        items.append(exists("unified", path))
    return observed(*items)


def test_v1_raising_memory_limits_goes_top_down():
    """Raising parent and child limits on v1: parent first, in the top-down pass, with no guard."""
    layout = v1_memory_layout(web={"memory.limit_in_bytes": "2G"}, web_a={"memory.limit_in_bytes": "1G"})
    plan = make(layout, v1_memory_state(web=("1073741824\n", None), web_a=("536870912\n", None)), {})
    assert brief(plan) == [
        (WRITE, "/cgman/web", "memory.limit_in_bytes", ("2147483648",)),
        (WRITE, "/cgman/web/a", "memory.limit_in_bytes", ("1073741824",)),
    ]
    assert [a.guard for a in plan.actions] == [None, None]


def test_v1_lowering_memory_limits_goes_bottom_up_with_guards():
    """Lowering on v1: child first (bottom-up pass), each guarded against usage above the new limit."""
    layout = v1_memory_layout(web={"memory.limit_in_bytes": "2G"}, web_a={"memory.limit_in_bytes": "1G"})
    plan = make(layout, v1_memory_state(web=("4294967296\n", None), web_a=(V1_MAX, None)), {})
    assert brief(plan) == [
        (WRITE, "/cgman/web/a", "memory.limit_in_bytes", ("1073741824",)),
        (WRITE, "/cgman/web", "memory.limit_in_bytes", ("2147483648",)),
    ]
    assert [a.guard for a in plan.actions] == [Guard(MEMORY_BELOW, limit=G), Guard(MEMORY_BELOW, limit=2 * G)]
    assert plan.actions[0].old == "max"


def test_v1_lowering_with_force_has_no_memory_guard():
    """force=True drops the memory guard but keeps the bottom-up order."""
    layout = v1_memory_layout(web={"memory.limit_in_bytes": "2G"}, web_a={"memory.limit_in_bytes": "1G"})
    plan = make(layout, v1_memory_state(web=("4294967296\n", None), web_a=(V1_MAX, None)), {}, force=True)
    assert [(a.path, a.guard) for a in plan.actions] == [("/cgman/web/a", None), ("/cgman/web", None)]


def test_v1_raising_writes_memsw_before_limit():
    """limit <= memsw at all times: when raising both, memsw goes first."""
    layout = v1_memory_layout(web={"memory.limit_in_bytes": "2G", "memory.memsw.limit_in_bytes": "3G"})
    plan = make(layout, v1_memory_state(web=("1073741824\n", "2147483648\n")), {})
    assert brief(plan) == [
        (WRITE, "/cgman/web", "memory.memsw.limit_in_bytes", ("3221225472",)),
        (WRITE, "/cgman/web", "memory.limit_in_bytes", ("2147483648",)),
    ]


def test_v1_lowering_writes_limit_before_memsw():
    """When lowering both, the limit goes first, then memsw."""
    layout = v1_memory_layout(web={"memory.limit_in_bytes": "1G", "memory.memsw.limit_in_bytes": "2G"})
    plan = make(layout, v1_memory_state(web=("2147483648\n", "4294967296\n")), {})
    assert brief(plan) == [
        (WRITE, "/cgman/web", "memory.limit_in_bytes", ("1073741824",)),
        (WRITE, "/cgman/web", "memory.memsw.limit_in_bytes", ("2147483648",)),
    ]


def test_v1_unlimiting_writes_memsw_first():
    """Back to unlimited: memsw = -1 first, then limit = -1 (a finite memsw over an unlimited limit fails)."""
    layout = v1_memory_layout(web={"memory.limit_in_bytes": "max", "memory.memsw.limit_in_bytes": "max"})
    plan = make(layout, v1_memory_state(web=("1073741824\n", "2147483648\n")), {})
    assert brief(plan) == [
        (WRITE, "/cgman/web", "memory.memsw.limit_in_bytes", ("-1",)),
        (WRITE, "/cgman/web", "memory.limit_in_bytes", ("-1",)),
    ]


def test_v1_new_cgroup_writes_limit_before_memsw():
    """A new v1 cgroup starts unlimited: limit first, then memsw, both after its mkdir."""
    layout = v1_memory_layout(web={"memory.limit_in_bytes": "1G", "memory.memsw.limit_in_bytes": "2G"})
    plan = make(layout, v1_memory_state(), {})
    memory = [r for r in rows(plan) if r[1] == "memory"]
    mkdir = next(i for i, a in enumerate(plan.actions) if a.verb == MKDIR and a.hierarchy == "memory")
    assert memory == [
        (MKDIR, "memory", "/cgman/web", None, (), ()),
        (WRITE, "memory", "/cgman/web", "memory.limit_in_bytes", ("1073741824",), (mkdir,)),
        (WRITE, "memory", "/cgman/web", "memory.memsw.limit_in_bytes", ("2147483648",), (mkdir,)),
    ]
    assert all(a.guard is None for a in plan.actions)


def cpuset_state(**cpus):
    """Existing v1 cpuset tree: root and base 0-3, the named groups with the given cpus, mems 0."""
    items = [exists("cpuset", "/", cpuset__cpus="0-3\n", cpuset__mems="0\n"),
             exists("cpuset", "/cgman", cpuset__cpus="0-3\n", cpuset__mems="0\n"),
             exists("unified", "/"), exists("unified", "/cgman")]
    for name, text in cpus.items():
        path = "/cgman/" + name.replace("_", "/")
        items.append(exists("cpuset", path, cpuset__cpus=text, cpuset__mems="0\n"))
        items.append(exists("unified", path))
    return observed(*items)


def test_v1_unrelated_cpuset_change_widens_top_down_then_narrows_bottom_up():
    """0-1 -> 2-3 (child 0 -> 2): the unions go top-down first, the new sets bottom-up afterwards."""
    layout = lay(hybrid(), group("web", {"cpuset.cpus": "2-3"}), group("web/a", {"cpuset.cpus": "2"}))
    plan = make(layout, cpuset_state(web="0-1\n", web_a="0\n"), {})
    assert brief(plan) == [
        (WRITE, "/cgman/web", "cpuset.cpus", ("0-3",)),
        (WRITE, "/cgman/web/a", "cpuset.cpus", ("0,2",)),
        (WRITE, "/cgman/web/a", "cpuset.cpus", ("2",)),
        (WRITE, "/cgman/web", "cpuset.cpus", ("2-3",)),
    ]
    assert [a.desired for a in plan.actions] == [
        frozenset({0, 1, 2, 3}), frozenset({0, 2}), frozenset({2}), frozenset({2, 3})]
    assert [(a.old, a.new) for a in plan.actions] == [("0-1", "2-3"), ("0", "2"), ("0", "2"), ("0-1", "2-3")]


def test_v1_cpuset_widening_and_narrowing_directions():
    """Widening a cpuset is top-down (pass A), narrowing bottom-up (pass B)."""
    layout = lay(hybrid(), group("wide", {"cpuset.cpus": "0-3"}), group("narrow", {"cpuset.cpus": "1"}))
    plan = make(layout, cpuset_state(wide="0\n", narrow="0-1\n"), {})
    assert brief(plan) == [
        (WRITE, "/cgman/wide", "cpuset.cpus", ("0-3",)),
        (WRITE, "/cgman/narrow", "cpuset.cpus", ("1",)),
    ]


def test_v2_cpuset_and_limits_have_no_direction():
    """v2 bounds nothing: a narrowing cpuset and a lowered cpu.max are plain top-down writes."""
    state = v2_web_converged(exists("unified", "/cgman/web/front", cpuset__cpus="0-3\n",
                                    cpu__max="max 100000\n"))
    plan = make(v2_web(), state, {})
    assert brief(plan) == [
        (WRITE, "/cgman/web/front", "cpuset.cpus", ("0-1",)),
        (WRITE, "/cgman/web/front", "cpu.max", ("50000 100000",)),
    ]


# --- v1 cpuset fill ------------------------------------------------------------------------


def test_v1_new_cgroups_fill_cpuset_from_the_parent():
    """New v1 cpusets get the parent's cpus/mems (the explicit value where one is set) right after mkdir."""
    layout = lay(hybrid(), group("web", {"cpuset.cpus": "0-1"}), group("web/a", controllers={"cpuset"}))
    plan = make(layout, cpuset_state(), {})
    cpuset = [r for r in rows(plan) if r[1] == "cpuset"]
    assert cpuset == [
        (MKDIR, "cpuset", "/cgman/web", None, (), ()),
        (WRITE, "cpuset", "/cgman/web", "cpuset.cpus", ("0-1",), (0,)),
        (WRITE, "cpuset", "/cgman/web", "cpuset.mems", ("0",), (0,)),
        (MKDIR, "cpuset", "/cgman/web/a", None, (), (0,)),
        (WRITE, "cpuset", "/cgman/web/a", "cpuset.cpus", ("0-1",), (0, 3)),
        (WRITE, "cpuset", "/cgman/web/a", "cpuset.mems", ("0",), (0, 3)),
    ]
    assert [a.new for a in plan.actions if a.hierarchy == "cpuset" and a.verb == WRITE] == [
        "0-1", "0 (from parent)", "0-1 (from parent)", "0 (from parent)"]


def test_v1_cold_cpuset_fills_every_new_level_from_the_root():
    """With nothing but the root, the base and the group are both filled from the root's values."""
    layout = lay(hybrid(), group("web", controllers={"cpuset"}))
    state = observed(exists("cpuset", "/", cpuset__cpus="0-7\n", cpuset__mems="0-1\n"), exists("unified", "/"))
    plan = make(layout, state, {})
    assert brief(plan, "cpuset") == [
        (MKDIR, "/cgman", None, ()),
        (WRITE, "/cgman", "cpuset.cpus", ("0-7",)),
        (WRITE, "/cgman", "cpuset.mems", ("0-1",)),
        (MKDIR, "/cgman/web", None, ()),
        (WRITE, "/cgman/web", "cpuset.cpus", ("0-7",)),
        (WRITE, "/cgman/web", "cpuset.mems", ("0-1",)),
    ]


def test_v1_unset_cpuset_follows_the_parent():
    """A cgman cgroup without its own cpuset tracks its parent's (v2's "empty = inherit")."""
    layout = lay(hybrid(), group("web", controllers={"cpuset"}), group("web/a", controllers={"cpuset"}))
    plan = make(layout, cpuset_state(web="3\n"), {})
    assert brief(plan, "cpuset") == [
        (WRITE, "/cgman/web", "cpuset.cpus", ("0-3",)),
        (MKDIR, "/cgman/web/a", None, ()),
        (WRITE, "/cgman/web/a", "cpuset.cpus", ("0-3",)),
        (WRITE, "/cgman/web/a", "cpuset.mems", ("0",)),
    ]


def test_v1_narrowing_a_parent_narrows_following_children_first():
    """Parent 0-3 -> 0-1 with an inheriting child at 0-3: the child is narrowed first (bottom-up)."""
    layout = lay(hybrid(), group("web", {"cpuset.cpus": "0-1"}), group("web/a", controllers={"cpuset"}))
    plan = make(layout, cpuset_state(web="0-3\n", web_a="0-3\n"), {})
    assert brief(plan, "cpuset") == [
        (WRITE, "/cgman/web/a", "cpuset.cpus", ("0-1",)),
        (WRITE, "/cgman/web", "cpuset.cpus", ("0-1",)),
    ]


def test_v1_empty_ancestor_cgman_created_is_filled():
    """An ancestor above the base that cgman created (e.g. systemd's slice in cpuset) is filled when empty."""
    layout = lay(hybrid(base="/a/b"), group("web", controllers={"cpuset"}))
    state = observed(exists("cpuset", "/", cpuset__cpus="0-3\n", cpuset__mems="0\n"),
                     exists("cpuset", "/a", cpuset__cpus="\n", cpuset__mems="\n"),
                     exists("unified", "/"), exists("unified", "/a"))
    plan = make(layout, state, {"cpuset": {"/a"}})
    assert brief(plan, "cpuset")[:2] == [(WRITE, "/a", "cpuset.cpus", ("0-3",)), (WRITE, "/a", "cpuset.mems", ("0",))]
    assert notices(plan) == []


def test_v1_existing_empty_cgman_cpuset_is_filled():
    """An existing cgroup of cgman's with an empty cpuset (cannot take tasks) is filled from its parent."""
    layout = lay(hybrid(), group("web", controllers={"cpuset"}))
    plan = make(layout, cpuset_state(web="\n"), {})
    assert brief(plan, "cpuset") == [(WRITE, "/cgman/web", "cpuset.cpus", ("0-3",))]
    assert (plan.actions[0].old, plan.actions[0].new) == ("", "0-3 (from parent)")


def test_v1_cpuset_of_cgroups_not_cgmans_is_never_filled():
    """An ancestor (not cgman's) with an empty cpuset is left alone; its new child cannot be filled."""
    layout = lay(hybrid(base="/a/b"), group("web", controllers={"cpuset"}))
    state = observed(exists("cpuset", "/", cpuset__cpus="0-3\n", cpuset__mems="0\n"),
                     exists("cpuset", "/a", cpuset__cpus="\n", cpuset__mems="\n"),
                     exists("unified", "/"), exists("unified", "/a"))
    plan = make(layout, state, {})
    assert brief(plan, "cpuset") == [(MKDIR, "/a/b", None, ()), (MKDIR, "/a/b/web", None, ())]
    assert notices(plan) == [
        (REFUSED, "cpuset", "/a/b", "cannot fill cpuset.cpus: the parent's is empty or unknown", None,
         "cpuset-parent-empty"),
        (REFUSED, "cpuset", "/a/b", "cannot fill cpuset.mems: the parent's is empty or unknown", None,
         "cpuset-parent-empty"),
        (REFUSED, "cpuset", "/a/b/web", "cannot fill cpuset.cpus: the parent's is empty or unknown", "web",
         "cpuset-parent-empty"),
        (REFUSED, "cpuset", "/a/b/web", "cannot fill cpuset.mems: the parent's is empty or unknown", "web",
         "cpuset-parent-empty"),
    ]


# --- guards --------------------------------------------------------------------------------


def memory_plan(text: Optional[str], value="1G", force=False, present=True) -> Plan:
    layout = lay(unified(), group("web", {"memory.max": value}))
    items = [exists("unified", "/", subtree={"memory"}), exists("unified", "/cgman", subtree={"memory"})]
    if present:
        items.append(exists("unified", "/cgman/web", memory__max=text))
    return make(layout, observed(*items), {}, force=force)


def test_lowering_v2_memory_max_is_guarded():
    """memory.max 2G -> 1G on an existing cgroup needs memory.current below 1G first."""
    (write,) = memory_plan("2147483648\n").actions
    assert (write.file, write.texts, write.guard) == ("memory.max", ("1073741824",), Guard(MEMORY_BELOW, limit=G))


def test_first_v2_memory_limit_is_guarded():
    """max -> 1G is a lowering too."""
    (write,) = memory_plan("max\n").actions
    assert write.guard == Guard(MEMORY_BELOW, limit=G)


def test_raising_or_unlimiting_v2_memory_max_is_not_guarded():
    """Raising (512M -> 1G) or going to max cannot OOM-kill: no guard."""
    assert memory_plan("536870912\n").actions[0].guard is None
    assert memory_plan("1073741824\n", value="max").actions[0].guard is None


def test_memory_guard_is_skipped_with_force_and_for_new_cgroups():
    """force=True, or a cgroup that does not exist yet (no usage), plan the write unguarded."""
    assert memory_plan("2147483648\n", force=True).actions[0].guard is None
    plan = memory_plan(None, present=False)
    assert [(a.verb, a.guard) for a in plan.actions] == [(MKDIR, None), (WRITE, None)]


def test_memory_guard_is_skipped_where_the_controller_is_about_to_be_enabled():
    """An existing v2 cgroup without memory.max (its parent enables memory in this plan) has nothing
    charged to it yet: checking its memory.current, which does not exist, would refuse for nothing."""
    assert memory_plan(None).actions[0].guard is None


def test_guard_only_on_the_hard_limit():
    """Lowering memory.high or memory.low is never guarded (only memory.max can OOM-kill)."""
    layout = lay(unified(), group("web", {"memory.high": "1G", "memory.low": "0"}))
    state = observed(exists("unified", "/", subtree={"memory"}), exists("unified", "/cgman", subtree={"memory"}),
                     exists("unified", "/cgman/web", memory__high="max\n", memory__low="536870912\n"))
    plan = make(layout, state, {})
    assert [(a.file, a.guard) for a in plan.actions] == [("memory.high", None), ("memory.low", None)]


# --- removals ------------------------------------------------------------------------------


def test_removals_only_recorded_existing_paths_deepest_first():
    """Only cgroups cgman recorded, no longer laid out and still present are removed, children first."""
    record = {"unified": {"/", "/cgman", "/cgman/web", "/cgman/web/front", "/cgman/old", "/cgman/old/x",
                          "/cgman/vanished", "/cgman/zz"}}
    state = v2_web_converged(exists("unified", "/cgman/old"), exists("unified", "/cgman/old/x"),
                             exists("unified", "/cgman/zz"))
    plan = make(v2_web(), state, record)
    assert rows(plan) == [
        (RMDIR, "unified", "/cgman/old/x", None, (), ()),
        (RMDIR, "unified", "/cgman/old", None, (), (0,)),
        (RMDIR, "unified", "/cgman/zz", None, (), ()),
    ]
    assert [a.guard for a in plan.actions] == [
        Guard(REMOVABLE, children=frozenset()),
        Guard(REMOVABLE, children=frozenset({"/cgman/old/x"})),
        Guard(REMOVABLE, children=frozenset()),
    ]


def test_unrecorded_cgroups_are_never_removed():
    """A cgroup present in the kernel but not in cgman's record is not cgman's: left alone."""
    state = v2_web_converged(exists("unified", "/cgman/someone-else"))
    assert make(v2_web(), state, {"unified": {"/cgman/web"}}).actions == []


def test_removals_of_a_hierarchy_no_longer_used():
    """A hierarchy the config stopped using (no target) still gets its recorded cgroups removed."""
    layout = lay(hybrid(), group("web", {"cpu.weight": 200}))
    state = observed(exists("unified", "/"), exists("unified", "/cgman"), exists("unified", "/cgman/web"),
                     exists("cpu,cpuacct", "/"), exists("cpu,cpuacct", "/cgman"),
                     exists("cpu,cpuacct", "/cgman/web", cpu__shares="2048\n"),
                     exists("memory", "/cgman"), exists("memory", "/cgman/web"), exists("blkio", "/cgman"))
    record = {"memory": {"/cgman", "/cgman/web"}, "blkio": {"/cgman"}, "unified": {"/cgman", "/cgman/web"}}
    plan = make(layout, state, record)
    assert rows(plan) == [
        (RMDIR, "blkio", "/cgman", None, (), ()),
        (RMDIR, "memory", "/cgman/web", None, (), ()),
        (RMDIR, "memory", "/cgman", None, (), (1,)),
    ]


def test_removals_come_between_the_top_down_and_bottom_up_passes():
    """Pass A (writes, enables) comes first, then removals, then pass B (disables, bottom-up)."""
    layout = lay(unified(), group("web", {"memory.max": "1G", "pids.max": 200}),
                 group("web/a", {"memory.max": "512M"}))
    state = observed(
        exists("unified", "/", subtree={"memory", "pids"}),
        exists("unified", "/cgman", subtree={"memory", "pids"}),
        exists("unified", "/cgman/web", subtree={"memory", "pids"}, memory__max="2147483648\n", pids__max="100\n"),
        exists("unified", "/cgman/web/a", memory__max="536870912\n"),
        exists("unified", "/cgman/web/old"),
    )
    plan = make(layout, state, {"unified": {"/cgman/web", "/cgman/web/a", "/cgman/web/old"}})
    assert brief(plan) == [
        (WRITE, "/cgman/web", "memory.max", ("1073741824",)),
        (WRITE, "/cgman/web", "pids.max", ("200",)),
        (RMDIR, "/cgman/web/old", None, ()),
        (DISABLE, "/cgman/web", None, ("-pids",)),
    ]


# --- subtree_control removal ---------------------------------------------------------------


def test_exact_subtree_control_is_trimmed_bottom_up():
    """Unused controllers are disabled in cgman's cgroups, deepest first, each guarded by its known children."""
    state = v2_web_converged(
        exists("unified", "/", subtree={"cpu", "cpuset", "memory", "io", "pids"}),
        exists("unified", "/cgman", subtree={"cpu", "cpuset", "memory", "io"}),
        exists("unified", "/cgman/web", subtree={"cpu", "cpuset", "memory", "pids"},
               memory__max="1073741824\n", cpu__weight="200\n"),
    )
    plan = make(v2_web(), state, {})
    assert rows(plan) == [
        (DISABLE, "unified", "/cgman/web", None, ("-memory -pids",), ()),
        (DISABLE, "unified", "/cgman", None, ("-io",), ()),
    ]
    assert [a.guard for a in plan.actions] == [
        Guard(CHILDREN_KNOWN, children=frozenset({"/cgman/web/front"})),
        Guard(CHILDREN_KNOWN, children=frozenset({"/cgman/web"})),
    ]
    assert (plan.actions[0].old, plan.actions[0].new) == ("cpu cpuset memory pids", "cpu cpuset")


def test_a_leaf_whose_child_left_the_config_disables_the_childs_controllers():
    """web's child front is removed: web, now a leaf, drops every controller, then /cgman drops cpuset
    (otherwise /cgman's disable fails with EBUSY forever, and web could never hold processes)."""
    layout = lay(unified(), group("web", {"memory.max": "1G", "cpu.weight": 200}))
    state = v2_web_converged()
    plan = make(layout, state, {"unified": {"/cgman", "/cgman/web", "/cgman/web/front"}})
    assert rows(plan) == [
        (RMDIR, "unified", "/cgman/web/front", None, (), ()),
        (DISABLE, "unified", "/cgman/web", None, ("-cpu -cpuset",), (0,)),  # waits: front may be kept
        (DISABLE, "unified", "/cgman", None, ("-cpuset",), ()),
    ]
    assert plan.actions[1].guard == Guard(CHILDREN_KNOWN, children=frozenset())


def test_new_cgroups_read_what_no_write_reads_back():
    """A new cgroup's files that get no write (throttles without a limit) and its subtree_control are
    read after mkdir, so the snapshot holds a fact for every file observe() would read. (Not a leaf's
    subtree_control below a parent that enables nothing: observe() infers that one.)"""
    layout = lay(hybrid(), group("disk", {"io.max": "8:0 rbps=1000"}))
    plan = make(layout, observed(exists("blkio", "/"), exists("unified", "/", subtree=set())), {})
    reads = {(a.hierarchy, a.path): a.reads for a in plan.actions if a.verb == MKDIR}
    assert reads == {
        ("unified", "/cgman"): ("cgroup.subtree_control",),
        ("unified", "/cgman/disk"): (),
        ("blkio", "/cgman"): (),
        ("blkio", "/cgman/disk"): ("blkio.throttle.write_bps_device", "blkio.throttle.read_iops_device",
                                   "blkio.throttle.write_iops_device"),
    }
    assert brief(plan, "blkio")[-1] == (WRITE, "/cgman/disk", "blkio.throttle.read_bps_device", ("8:0 1000",))


def test_add_policy_ancestors_are_never_trimmed():
    """The root and ancestors above the base only ever get controllers added."""
    layout = lay(unified(base="/a/b"), group("web", {"pids.max": 10}))
    state = observed(exists("unified", "/", subtree={"cpu", "io", "memory"}),
                     exists("unified", "/a", subtree={"memory"}),
                     exists("unified", "/a/b", subtree={"pids"}), exists("unified", "/a/b/web", pids__max="10\n"))
    plan = make(layout, state, {})
    assert rows(plan) == [
        (ENABLE, "unified", "/", None, ("+pids",), ()),
        (ENABLE, "unified", "/a", None, ("+pids",), (0,)),
    ]
    assert [a.guard for a in plan.actions] == [None, None]  # pids is threaded: no process check


# --- systemd: cgroups cgman may not create -------------------------------------------------


def test_missing_delegated_base_is_refused_and_nothing_below_is_planned():
    """v2 + systemd: a missing unit cgroup is systemd's to create; one REFUSED notice, no action."""
    layout = lay(unified(systemd=SYSTEMD), group("web", {"memory.max": "1G"}), group("web/a", {"pids.max": 5}))
    state = observed(exists("unified", "/", subtree={"memory", "pids"}), exists("unified", "/cgman.slice"))
    plan = make(layout, state, {})
    assert plan.actions == []
    assert notices(plan) == [
        (REFUSED, "unified", D, "missing, and it is not cgman's to create (systemd owns it)", None, "base-missing")]


def test_missing_slice_is_refused_once():
    """A missing ancestor blocks its whole subtree with one notice at the highest missing cgroup."""
    layout = lay(unified(systemd=SYSTEMD), group("web", {"memory.max": "1G"}))
    plan = make(layout, observed(exists("unified", "/", subtree={"memory"})), {})
    assert plan.actions == []
    assert notices(plan) == [(REFUSED, "unified", "/cgman.slice",
                              "missing, and it is not cgman's to create (systemd owns it)", None, "base-missing")]


def test_hybrid_systemd_creates_the_base_only_in_up_for_grabs_hierarchies():
    """Hybrid + systemd, base absent everywhere: cpuset gets the whole path, systemd's hierarchies refuse."""
    layout = lay(hybrid(systemd=SYSTEMD), group("web", {"cpuset.cpus": "1", "memory.max": "1G"}))
    state = observed(exists("cpuset", "/", cpuset__cpus="0-3\n", cpuset__mems="0\n"),
                     *[exists(k, p) for k in ("unified", "name=systemd", "memory") for p in ("/", "/cgman.slice")])
    plan = make(layout, state, {})
    assert [(a.verb, a.hierarchy, a.path, a.file) for a in plan.actions] == [
        (MKDIR, "cpuset", "/cgman.slice", None),
        (WRITE, "cpuset", "/cgman.slice", "cpuset.cpus"),
        (WRITE, "cpuset", "/cgman.slice", "cpuset.mems"),
        (MKDIR, "cpuset", D, None),
        (WRITE, "cpuset", D, "cpuset.cpus"),
        (WRITE, "cpuset", D, "cpuset.mems"),
        (MKDIR, "cpuset", D + "/web", None),
        (WRITE, "cpuset", D + "/web", "cpuset.cpus"),
        (WRITE, "cpuset", D + "/web", "cpuset.mems"),
    ]
    assert [(n.verb, n.hierarchy, n.path) for n in plan.notices] == [
        (REFUSED, "unified", D), (REFUSED, "name=systemd", D), (REFUSED, "memory", D)]


def test_systemd_ancestors_are_not_written_and_the_base_is_evacuated_before_enable():
    """v2 + systemd: nothing is written above the base; the base's own processes move out before +ctrl."""
    layout = lay(unified(systemd=SYSTEMD), group("web", {"memory.max": "1G"}))
    state = observed(exists("unified", "/", subtree={"cpu"}), exists("unified", "/cgman.slice", subtree=set()),
                     exists("unified", D, subtree=set()))
    plan = make(layout, state, {})
    assert rows(plan) == [
        (EVACUATE, "unified", D, "cgroup.procs", (), ()),
        (ENABLE, "unified", D, None, ("+memory",), (0,)),
        (MKDIR, "unified", D + "/web", None, (), ()),
        (WRITE, "unified", D + "/web", "memory.max", ("1073741824",), (1, 2)),
    ]
    assert plan.actions[0].new == D + "/anchor"
    assert plan.actions[1].guard is None


def test_delegated_base_trim_knows_the_anchor_and_systemd_leaves():
    """Disabling at the delegated base expects the anchor leaf and systemd's .control as known children."""
    layout = lay(unified(systemd=SYSTEMD), group("web", {"pids.max": 5}))
    state = observed(exists("unified", "/", subtree={"pids"}), exists("unified", "/cgman.slice", subtree={"pids"}),
                     exists("unified", D, subtree={"pids", "memory"}), exists("unified", D + "/web", pids__max="5\n"))
    plan = make(layout, state, {})
    assert rows(plan) == [(DISABLE, "unified", D, None, ("-memory",), ())]
    assert plan.actions[0].guard == Guard(CHILDREN_KNOWN, children=frozenset(
        {D + "/web", D + "/anchor", D + "/.control"}))


# --- Plan.refuse ---------------------------------------------------------------------------


def test_refuse_drops_the_action_and_its_dependents():
    """Refusing /cgman's enable blocks every action that waits on it, transitively, with a notice each."""
    plan = make(v2_web(), observed(exists("unified", "/", subtree={"memory"})), {})
    enable = plan.actions[2]
    doomed = plan.refuse(enable, "cgroup /cgman has processes")
    assert brief(plan) == [
        (ENABLE, "/", None, ("+cpu +cpuset",)),
        (MKDIR, "/cgman", None, ()),
        (MKDIR, "/cgman/web", None, ()),
        (MKDIR, "/cgman/web/front", None, ()),
    ]
    assert doomed == {2, 4, 5, 6, 8, 9}
    assert notices(plan) == [
        (REFUSED, "unified", "/cgman", "cgroup /cgman has processes", None, "refused"),
        (BLOCKED, "unified", "/cgman/web", "write memory.max waits on: cgroup /cgman has processes", "web", "blocked"),
        (BLOCKED, "unified", "/cgman/web", "write cpu.weight waits on: cgroup /cgman has processes", "web", "blocked"),
        (BLOCKED, "unified", "/cgman/web", "enable /cgman/web waits on: cgroup /cgman has processes", "web",
         "blocked"),
        (BLOCKED, "unified", "/cgman/web/front", "write cpuset.cpus waits on: cgroup /cgman has processes",
         "web/front", "blocked"),
        (BLOCKED, "unified", "/cgman/web/front", "write cpu.max waits on: cgroup /cgman has processes",
         "web/front", "blocked"),
    ]


def test_refuse_a_child_rmdir_keeps_its_parent():
    """A kept child cgroup blocks the removal of its parent."""
    state = v2_web_converged(exists("unified", "/cgman/old"), exists("unified", "/cgman/old/x"))
    plan = make(v2_web(), state, {"unified": {"/cgman/old", "/cgman/old/x"}})
    plan.refuse(plan.actions[0], "has processes", verb=KEPT, reference="kept-busy")
    assert plan.actions == []
    assert notices(plan) == [
        (KEPT, "unified", "/cgman/old/x", "has processes", None, "kept-busy"),
        (BLOCKED, "unified", "/cgman/old", "rmdir /cgman/old waits on: has processes", None, "blocked"),
    ]


def test_refuse_an_independent_action_drops_only_it():
    """An action nothing waits on is dropped alone."""
    plan = make(v2_web(), observed(exists("unified", "/", subtree={"memory"})), {})
    last = plan.actions[-1]
    assert plan.refuse(last, "no") == {last.id}
    assert len(plan.actions) == 9
    assert len(plan.notices) == 1


# --- ownership -----------------------------------------------------------------------------


PERM = Perm(admin=Ownership(uid=0, gid=1001, dperm=0o775, fperm=0o664),
            task=Ownership(uid=1002, gid=1002, fperm=0o666))


def perm_node(perm: Perm = PERM) -> Node:
    return Node("/cgman/web", "group", "web", perm=perm)


def test_new_group_with_perm_plans_chown_after_mkdir_and_settings():
    """A new cgroup with a perm block is chowned after its mkdir and writes, before its +controller write."""
    layout = lay(unified(), group("web", {"pids.max": 5}, perm=PERM), group("web/a", {"pids.max": 1}))
    plan = make(layout, observed(exists("unified", "/", subtree={"pids"}), exists("unified", "/cgman",
                                                                                subtree={"pids"})), {})
    assert rows(plan) == [
        (MKDIR, "unified", "/cgman/web", None, (), ()),
        (WRITE, "unified", "/cgman/web", "pids.max", ("5",), (0,)),
        (CHOWN, "unified", "/cgman/web", None, (), (0,)),
        (ENABLE, "unified", "/cgman/web", None, ("+pids",), (0,)),
        (MKDIR, "unified", "/cgman/web/a", None, (), (0,)),
        (WRITE, "unified", "/cgman/web/a", "pids.max", ("1",), (0, 3, 4)),
    ]
    chown = plan.actions[2]
    assert chown.node is layout.target("unified").nodes["/cgman/web"]
    assert chown.new == "perm"


def test_existing_group_is_chowned_only_on_drift():
    """Matching owners and modes plan nothing; one differing file plans a CHOWN."""
    layout = lay(hybrid(), group("web", {"memory.limit_in_bytes": "1G"}, perm=PERM))
    good = {".": (0, 1001, 0o775), "memory.limit_in_bytes": (0, 1001, 0o664),
            "memory.usage_in_bytes": (0, 1001, 0o444), "tasks": (1002, 1002, 0o666),
            "cgroup.procs": (1002, 1002, 0o666)}
    base = [exists("memory", "/"), exists("memory", "/cgman"), exists("unified", "/"), exists("unified", "/cgman"),
            exists("unified", "/cgman/web", entries={".": (0, 1001, 0o775), "cgroup.procs": (1002, 1002, 0o666),
                                                     "cgroup.threads": (1002, 1002, 0o666)})]
    converged = observed(*base, exists("memory", "/cgman/web", entries=good,
                                       memory__limit_in_bytes="1073741824\n"))
    assert make(layout, converged, {}).actions == []
    drifted = observed(*base, exists("memory", "/cgman/web", entries=dict(good, tasks=(0, 0, 0o644)),
                                     memory__limit_in_bytes="1073741824\n"))
    assert brief(make(layout, drifted, {})) == [(CHOWN, "/cgman/web", None, ())]


def test_perm_changes_v1_admin_and_task_owners():
    """v1: admin owns the directory and files, task owns tasks and cgroup.procs; dperm applies to "."."""
    entries = {".": (0, 0, 0o755), "memory.limit_in_bytes": (0, 0, 0o644), "memory.usage_in_bytes": (0, 0, 0o444),
               "tasks": (0, 0, 0o644), "cgroup.procs": (0, 0, 0o644)}
    assert perm_changes(perm_node(), entries, ("tasks", "cgroup.procs")) == [
        (".", 0, 1001, 0o775),
        ("cgroup.procs", 1002, 1002, 0o666),
        ("memory.limit_in_bytes", 0, 1001, 0o664),
        ("memory.usage_in_bytes", 0, 1001, 0o444),
        ("tasks", 1002, 1002, 0o666),
    ]


def test_perm_changes_v2_task_files():
    """v2: the task owner gets cgroup.procs and cgroup.threads; other files stay the admin's."""
    entries = {"cgroup.procs": (0, 0, 0o644), "cgroup.threads": (0, 0, 0o644),
               "cgroup.subtree_control": (0, 0, 0o644)}
    assert perm_changes(perm_node(), entries, ("cgroup.procs", "cgroup.threads")) == [
        ("cgroup.procs", 1002, 1002, 0o666),
        ("cgroup.subtree_control", 0, 1001, 0o664),
        ("cgroup.threads", 1002, 1002, 0o666),
    ]


def test_fperm_is_masked_by_the_owner_bits_like_cgconfig():
    """fperm 0777: a 0644 file becomes 0666, a 0444 file stays 0444, a 0200 file becomes 0222."""
    perm = Perm(admin=Ownership(fperm=0o777))
    entries = {"rw": (0, 0, 0o644), "ro": (0, 0, 0o444), "wo": (0, 0, 0o200)}
    assert perm_changes(perm_node(perm), entries, ("tasks",)) == [
        ("rw", 0, 0, 0o666),
        ("wo", 0, 0, 0o222),
    ]


def test_fperm_masks_with_the_kernels_owner_bits_so_a_lowered_mode_can_rise_again():
    """After fperm 0444 took the owner's write bit, 0664 restores it: the mask comes from the
    same file in the root (the kernel's 0644), not from the lowered file; the directory and files
    the root lacks use their own bits."""
    perm = Perm(admin=Ownership(fperm=0o664, dperm=0o775))
    entries = {".": (0, 0, 0o755), "cpu.shares": (0, 0, 0o444), "cpu.stat": (0, 0, 0o444),
               "pids.max": (0, 0, 0o444), "pids.current": (0, 0, 0o444)}
    base = {".": (0, 0, 0o555), "cpu.shares": (0, 0, 0o644), "cpu.stat": (0, 0, 0o444)}
    assert perm_changes(perm_node(perm), entries, ("tasks",), base) == [
        (".", 0, 0, 0o775),
        ("cpu.shares", 0, 0, 0o664),
        ("pids.max", 0, 0, 0o664),  # not on the root, but a knob: the kernel's rw-
    ]
    lowered = {".": (0, 0, 0o555)}  # an earlier dperm 0555: 0775 still applies in full
    assert perm_changes(perm_node(perm), lowered, ("tasks",), base) == [(".", 0, 0, 0o775)]


def test_fperm_can_also_remove_bits():
    """fperm 0600 takes group/other access away from a 0664 file."""
    perm = Perm(admin=Ownership(fperm=0o600))
    assert perm_changes(perm_node(perm), {"f": (0, 0, 0o664)}, ()) == [("f", 0, 0, 0o600)]


def test_dperm_applies_to_the_directory():
    """dperm sets the cgroup directory's mode (sticky bit included); fperm does not touch it."""
    perm = Perm(admin=Ownership(dperm=0o1770, fperm=0o600))
    assert perm_changes(perm_node(perm), {".": (0, 0, 0o755)}, ()) == [(".", 0, 0, 0o1770)]


def test_unset_fields_keep_what_is_there():
    """Unset uid/gid/modes keep the entry's own; a perm block with nothing set changes nothing."""
    entries = {".": (5, 6, 0o755), "tasks": (7, 8, 0o644), "cpu.shares": (9, 10, 0o600)}
    assert perm_changes(perm_node(Perm()), entries, ("tasks",)) == []
    assert perm_changes(perm_node(Perm(admin=Ownership(gid=100))), entries, ("tasks",)) == [
        (".", 5, 100, 0o755), ("cpu.shares", 9, 100, 0o600), ("tasks", 7, 100, 0o644)]


def test_task_files_fall_back_to_admin_when_task_is_unset():
    """Without a task section the admin owner also gets tasks and cgroup.procs."""
    perm = Perm(admin=Ownership(uid=1000, gid=1000, fperm=0o664))
    entries = {"tasks": (0, 0, 0o644), "cgroup.procs": (0, 0, 0o644)}
    assert perm_changes(perm_node(perm), entries, ("tasks", "cgroup.procs")) == [
        ("cgroup.procs", 1000, 1000, 0o664), ("tasks", 1000, 1000, 0o664)]


def test_warnings_of_the_host_are_carried_into_the_plan():
    """Host warnings (manager.root ignored under systemd) reach the plan."""
    found = (to_hierarchy(m, ALL_V2) for m in parse_mountinfo(mountinfo_sample("unified-systemd.txt")))
    host_ = build_host([h for h in found if h is not None], "/x", systemd=SYSTEMD, root_set=True)
    plan = make(lay(host_, group("web", {"pids.max": 1})), {}, {})
    assert plan.warnings == [f"manager.root is ignored under systemd: groups live below {D}"]


def test_plan_values_use_canonical_max():
    """A v2 limit set to max is written as "max"."""
    (write,) = memory_plan("1073741824\n", value="max").actions
    assert write.texts == ("max",) and write.desired == MAX


def cfs_plan(groups, kernel):
    """v1 CFS plan on the hybrid host: ``groups`` {name: "quota period"}, ``kernel`` {name: (quota, period)}."""
    layout = lay(hybrid(), *(group(name, {"cpu.max": value}) for name, value in groups.items()))
    state = observed(exists("cpu,cpuacct", "/"), exists("cpu,cpuacct", "/cgman"), exists("unified", "/"),
                     exists("unified", "/cgman"),
                     *(exists("unified", f"/cgman/{name}") for name in kernel),
                     *(exists("cpu,cpuacct", f"/cgman/{name}", cpu__cfs_quota_us=f"{q}\n",
                              cpu__cfs_period_us=f"{p}\n") for name, (q, p) in kernel.items()))
    plan = make(layout, state, {})
    return [(a.path.rsplit("/", 1)[1], a.file.rsplit("_", 1)[0][-6:], a.texts) for a in plan.actions]


def test_v1_cfs_quota_alone_moves_in_its_own_direction():
    """Same period: only the quota is written (v1 checks the ratio, which moves with the quota)."""
    assert cfs_plan({"web": "20000 100000"}, {"web": (50000, 100000)}) == [("web", "_quota", ("20000",))]
    assert cfs_plan({"web": "max 100000"}, {"web": (50000, 100000)}) == [("web", "_quota", ("-1",))]


def test_v1_cfs_period_change_passes_through_an_unlimited_quota():
    """50000/100000 -> 20000/50000: -1, period, quota; written directly, either order could leave the
    ratio outside what the parent and the children allow (EINVAL)."""
    assert cfs_plan({"web": "20000 50000"}, {"web": (50000, 100000)}) == [
        ("web", "_quota", ("-1",)), ("web", "period", ("50000",)), ("web", "_quota", ("20000",))]
    # the quota keeps its value, the period alone changes the ratio: the quota is written again
    assert cfs_plan({"web": "50000 200000"}, {"web": (50000, 100000)}) == [
        ("web", "_quota", ("-1",)), ("web", "period", ("200000",)), ("web", "_quota", ("50000",))]


def test_v1_cfs_period_change_without_a_quota_before_or_after():
    """Unlimited before: period, then quota. Unlimited after: -1 first, then the period."""
    assert cfs_plan({"web": "30000 50000"}, {"web": (-1, 100000)}) == [
        ("web", "period", ("50000",)), ("web", "_quota", ("30000",))]
    assert cfs_plan({"web": "max 50000"}, {"web": (30000, 100000)}) == [
        ("web", "_quota", ("-1",)), ("web", "period", ("50000",))]


def test_v1_cfs_pair_follows_the_ratio_not_the_quota():
    """parent 50000/100000 -> 60000/200000 grows its quota but shrinks its ratio (0.5 -> 0.3): the
    child shrinks first (bottom-up), then the parent; each cgroup's three writes stay in order."""
    plan = cfs_plan({"p": "60000 200000", "p/c": "20000 100000"}, {"p": (50000, 100000), "p/c": (40000, 100000)})
    assert plan == [("c", "_quota", ("20000",)),
                    ("p", "_quota", ("-1",)), ("p", "period", ("200000",)), ("p", "_quota", ("60000",))]
    grown = cfs_plan({"p": "90000 100000", "p/c": "60000 100000"}, {"p": (50000, 100000), "p/c": (40000, 100000)})
    assert grown == [("p", "_quota", ("90000",)), ("c", "_quota", ("60000",))]


# --- keys that left the configuration -----------------------------------------------------


def test_a_file_cgman_set_whose_key_left_the_config_is_put_back():
    """The record says cgman set memory.max on web; the config no longer has it: back to max."""
    layout = build_layout(DesiredState(groups={"web": group("web", {"cpu.weight": 200})}), unified(),
                          {"unified": {"/cgman/web": frozenset({"memory.max", "cpu.weight"})}})
    state = observed(exists("unified", "/", subtree={"cpu", "memory"}), exists("unified", "/cgman", subtree={"cpu"}),
                     exists("unified", "/cgman/web", memory__max="1073741824\n", cpu__weight="200\n"))
    plan = make(layout, state, {})
    assert brief(plan) == [(WRITE, "/cgman/web", "memory.max", ("max",))]
    assert plan.resets == {("unified", "/cgman/web", "memory.max")}
    assert plan.actions[0].setting.reset and plan.actions[0].old == "1G"
    assert layout.managed() == {"unified": {"/cgman/web": frozenset({"cpu.weight"})}}


def test_nothing_to_put_back_when_already_default_or_gone():
    """A reset file already at its default, or missing (its controller disabled), plans nothing."""
    layout = build_layout(DesiredState(groups={"web": group("web", {"cpu.weight": 200})}), unified(),
                          {"unified": {"/cgman/web": frozenset({"memory.max", "pids.max"})}})
    state = observed(exists("unified", "/", subtree={"cpu"}), exists("unified", "/cgman", subtree={"cpu"}),
                     exists("unified", "/cgman/web", memory__max="max\n", cpu__weight="200\n"))
    plan = make(layout, state, {})
    assert plan.actions == [] and plan.resets == set()


def test_resets_skip_twins_groups_gone_and_files_without_a_default():
    """cpu.weight.nice shares cpu.weight's value; a group that left the config goes whole; v1
    swappiness follows the parent, so it has no default to go back to."""
    layout = build_layout(DesiredState(groups={"web": group("web", {"cpu.weight": 200, "memory.max": "1G"})}),
                          hybrid(), {"cpu,cpuacct": {"/cgman/web": frozenset({"cpu.shares"}),
                                                     "/cgman/old": frozenset({"cpu.shares"})},
                                     "memory": {"/cgman/web": frozenset({"memory.swappiness"})}})
    files = {t.hierarchy.key: [s.file for s in t.nodes["/cgman/web"].settings] for t in layout.targets
             if "/cgman/web" in t.nodes}
    assert files["cpu,cpuacct"] == ["cpu.shares"]
    assert files["memory"] == ["memory.limit_in_bytes"]
    unified_layout = build_layout(DesiredState(groups={"w": group("w", {"cpu.weight.nice": 5})}), unified(),
                                  {"unified": {"/cgman/w": frozenset({"cpu.weight"})}})
    assert [s.file for s in unified_layout.target("unified").nodes["/cgman/w"].settings] == ["cpu.weight.nice"]


def test_v1_orphaned_memsw_is_put_back_before_the_limit_rises():
    """swap left the config and the limit rises past the old memsw: memsw -1 goes first (top-down,
    knob order), or the kernel refuses the new limit (limit <= memsw)."""
    layout = build_layout(DesiredState(groups={"m": group("m", {"memory.max": "64M"})}), hybrid(),
                          {"memory": {"/cgman/m": frozenset({"memory.limit_in_bytes",
                                                             "memory.memsw.limit_in_bytes"})}})
    state = observed(exists("memory", "/"), exists("memory", "/cgman"),
                     exists("memory", "/cgman/m", memory__limit_in_bytes=f"{32 * M}\n",
                            memory__memsw__limit_in_bytes=f"{32 * M}\n"),
                     exists("unified", "/", subtree=set()), exists("unified", "/cgman", subtree=set()),
                     exists("unified", "/cgman/m", subtree=set()))
    assert brief(make(layout, state, {}), "memory") == [
        (WRITE, "/cgman/m", "memory.memsw.limit_in_bytes", ("-1",)),
        (WRITE, "/cgman/m", "memory.limit_in_bytes", (str(64 * M),)),
    ]
