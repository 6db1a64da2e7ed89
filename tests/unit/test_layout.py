"""Laying desired groups out on a host's hierarchies: nodes, kinds, needs, policies, refusals."""

from __future__ import annotations

from typing import Iterable, Optional

import pytest

from cgmand import knobs
from cgmand.errors import ConfigErrors
from cgmand.hierarchy import Host, Systemd, build as build_host, parse_mountinfo, to_hierarchy
from cgmand.hierarchy.layout import (
    ADD, ANCESTOR, BASE, EXACT, GROUP, IMPLICIT, NONE, Layout, build,
)
from cgmand.model import DesiredState, GroupSpec, Perm
from cgmand.values import CpuList
from fakes import mountinfo_sample

SOURCE = "/etc/cgman/10-web.toml"
UNIT = "cgman-groups.service"
D = "/cgman.slice/cgman-groups.service"
SYSTEMD = Systemd(UNIT, D, True)
ALL_V2 = "cpuset cpu io memory hugetlb pids rdma misc"


def group(name: str, settings: Optional[dict] = None, controllers: Iterable[str] = (),
          perm: Optional[Perm] = None) -> GroupSpec:
    """A GroupSpec as config.py makes it: each value parsed by its key's value type."""
    typed = {key: knobs.lookup(key)[2].parse(raw) for key, raw in (settings or {}).items()}
    return GroupSpec(name, typed, frozenset(controllers), perm, SOURCE)


def desired(*groups: GroupSpec) -> DesiredState:
    return DesiredState(groups={g.name: g for g in groups})


def host(sample: str, v2: str = "", base: str = "/cgman", systemd=None, delegated=None) -> Host:
    found = (to_hierarchy(m, v2) for m in parse_mountinfo(mountinfo_sample(sample)))
    return build_host([h for h in found if h is not None], base, systemd=systemd, delegated=delegated)


def hybrid(**kw) -> Host:
    """Ubuntu 20.04 hybrid: v1 controllers, name=systemd, controller-less cgroup2."""
    return host("hybrid-systemd.txt", "", **kw)


def unified(**kw) -> Host:
    return host("unified-systemd.txt", ALL_V2, **kw)


def legacy(**kw) -> Host:
    return host("legacy-centos7.txt", "", **kw)


def lay(host_: Host, *groups: GroupSpec) -> Layout:
    return build(desired(*groups), host_)


def target_keys(layout: Layout):
    return [t.hierarchy.key for t in layout.targets]


def shape(layout: Layout, key: str):
    """path -> (kind, group) of one hierarchy's nodes, in node order."""
    return [(p, n.kind, n.group) for p, n in layout.target(key).nodes.items()]


def settings(layout: Layout, key: str, path: str):
    return [(s.file, s.value, s.source, s.order, s.inherit)
            for s in layout.target(key).nodes[path].settings]


def errors_of(host_: Host, *groups: GroupSpec):
    with pytest.raises(ConfigErrors) as caught:
        lay(host_, *groups)
    return [(e.message, e.hint, e.reference) for e in caught.value.errors]


# --- which hierarchies a group lands in ----------------------------------------------------


def test_hybrid_group_lands_in_its_v1_hierarchies_and_the_v2_mirror():
    """memory.max + cpu.weight on hybrid without systemd: memory, cpu,cpuacct and the cgroup2 mount."""
    layout = lay(hybrid(), group("web", {"memory.max": "1G", "cpu.weight": 200}))
    assert target_keys(layout) == ["unified", "cpu,cpuacct", "memory"]
    assert settings(layout, "memory", "/cgman/web") == [
        ("memory.limit_in_bytes", 1073741824, "memory.max", 11, False)]
    assert settings(layout, "cpu,cpuacct", "/cgman/web") == [("cpu.shares", 2048, "cpu.weight", 22, False)]
    assert settings(layout, "unified", "/cgman/web") == []


def test_hybrid_group_under_systemd_also_lands_in_name_systemd():
    """Under systemd the tracking hierarchy name=systemd is mirrored as well."""
    layout = lay(hybrid(systemd=SYSTEMD), group("web", {"cpu.weight": 200}))
    assert target_keys(layout) == ["unified", "name=systemd", "cpu,cpuacct"]


def test_cpuset_hierarchies_come_first():
    """Targets are ordered with cpuset hierarchies before the others (cpuset before limits)."""
    layout = lay(hybrid(), group("web", {"io.weight": 100, "cpuset.cpus": "0-1"}))
    assert target_keys(layout) == ["cpuset", "unified", "blkio"]
    assert settings(layout, "blkio", "/cgman/web") == [("blkio.weight", 500, "io.weight", 31, False)]


def test_empty_controller_tables_place_the_group_without_settings():
    """pids = {} and freezer = {} put the group in those hierarchies with no files to write."""
    layout = lay(hybrid(), group("web", controllers={"pids", "freezer"}))
    assert target_keys(layout) == ["unified", "pids", "freezer"]
    assert settings(layout, "pids", "/cgman/web") == []


def test_group_without_controller_lives_only_in_cgroup2():
    """A group naming no controller exists in the mirrors only."""
    assert target_keys(lay(hybrid(), group("idle"))) == ["unified"]
    assert target_keys(lay(legacy(systemd=SYSTEMD), group("idle"))) == ["name=systemd"]


def test_unified_group_is_one_target_with_v2_files():
    """Pure v2: every knob lands in the one cgroup2 hierarchy in v2 spelling and write order."""
    layout = lay(unified(), group("web", {"cpu.shares": 2048, "memory.limit_in_bytes": "1G",
                                          "cpuset.cpus": "0-1"}))
    assert target_keys(layout) == ["unified"]
    assert settings(layout, "unified", "/cgman/web") == [
        ("cpuset.cpus", frozenset({0, 1}), "cpuset.cpus", 0, False),
        ("memory.max", 1073741824, "memory.limit_in_bytes", 11, False),
        ("cpu.weight", 200, "cpu.shares", 22, False),
    ]


def test_sizes_are_rounded_down_to_the_page():
    """A size that is not a page multiple is kept as the kernel will read it back."""
    layout = lay(unified(), group("web", {"memory.max": 10000}))
    assert settings(layout, "unified", "/cgman/web")[0][1] == 8192


# --- node kinds and ancestors --------------------------------------------------------------


def test_nodes_below_default_base():
    """Base /cgman: the root is an ancestor, /cgman the base, undeclared levels implicit."""
    layout = lay(unified(), group("web/front", {"pids.max": 10}))
    assert shape(layout, "unified") == [
        ("/", ANCESTOR, None),
        ("/cgman", BASE, None),
        ("/cgman/web", IMPLICIT, None),
        ("/cgman/web/front", GROUP, "web/front"),
    ]
    nodes = layout.target("unified").nodes
    assert nodes["/"].children == ["/cgman"]
    assert nodes["/cgman"].children == ["/cgman/web"]
    assert nodes["/cgman/web"].children == ["/cgman/web/front"]
    assert nodes["/cgman/web/front"].children == []


def test_nodes_with_manager_root_slash():
    """manager.root = "/": groups hang off the root, which stays an ancestor (never the base)."""
    layout = lay(unified(base="/"), group("web", {"pids.max": 10}), group("db", {"pids.max": 5}))
    assert shape(layout, "unified") == [("/", ANCESTOR, None), ("/db", GROUP, "db"), ("/web", GROUP, "web")]
    assert layout.target("unified").nodes["/"].children == ["/db", "/web"]


def test_nodes_with_deep_manager_root():
    """manager.root = "/a/b": /a is an ancestor, /a/b the base."""
    layout = lay(legacy(base="/a/b"), group("web", {"memory.max": "1G"}))
    assert shape(layout, "memory") == [
        ("/", ANCESTOR, None), ("/a", ANCESTOR, None), ("/a/b", BASE, None), ("/a/b/web", GROUP, "web")]


def test_nodes_under_systemd_live_below_the_delegated_cgroup():
    """Under systemd the slice is an ancestor and the unit's cgroup the base."""
    layout = lay(unified(systemd=SYSTEMD), group("web", {"pids.max": 10}))
    assert shape(layout, "unified") == [
        ("/", ANCESTOR, None), ("/cgman.slice", ANCESTOR, None), (D, BASE, None), (D + "/web", GROUP, "web")]


def test_declared_parent_in_other_hierarchies_is_implicit_where_it_has_no_controller():
    """web (memory) and web/a (cpu): in cpu,cpuacct web is implicit, in memory web/a is absent."""
    layout = lay(hybrid(), group("web", {"memory.max": "1G"}), group("web/a", {"cpu.weight": 50}))
    assert shape(layout, "cpu,cpuacct")[2:] == [("/cgman/web", IMPLICIT, None), ("/cgman/web/a", GROUP, "web/a")]
    assert shape(layout, "memory")[2:] == [("/cgman/web", GROUP, "web")]
    assert shape(layout, "unified")[2:] == [("/cgman/web", GROUP, "web"), ("/cgman/web/a", GROUP, "web/a")]


def test_owned_is_false_only_for_ancestors():
    """Base and below belong to cgman; ancestors do not."""
    nodes = lay(legacy(base="/a/b"), group("web", {"memory.max": "1G"})).target("memory").nodes
    assert {p: n.owned for p, n in nodes.items()} == {"/": False, "/a": False, "/a/b": True, "/a/b/web": True}


def test_group_perm_is_carried_on_its_nodes():
    """A group's perm block is on its node in every hierarchy, not on implicit levels."""
    perm = Perm()
    layout = lay(hybrid(), group("web", {"memory.max": "1G"}, perm=perm))
    assert layout.target("memory").nodes["/cgman/web"].perm is perm
    assert layout.target("unified").nodes["/cgman/web"].perm is perm
    assert layout.target("memory").nodes["/cgman"].perm is None


# --- v2 needs and subtree_control ----------------------------------------------------------


def test_v2_needs_propagate_to_every_ancestor():
    """Each node needs its own v2 controllers plus its descendants'; subtree_control is the children's."""
    layout = lay(unified(),
                 group("web", {"memory.max": "1G", "cpu.weight": 200}),
                 group("web/front", {"cpuset.cpus": "0-1", "pids.max": 100}),
                 group("batch", {"io.weight": 50}))
    target = layout.target("unified")
    nodes = target.nodes
    assert nodes["/cgman/web/front"].own == {"cpuset", "pids"}
    assert nodes["/cgman/web/front"].needs == {"cpuset", "pids"}
    assert nodes["/cgman/web"].own == {"cpu", "memory"}
    assert nodes["/cgman/web"].needs == {"cpu", "memory", "cpuset", "pids"}
    assert nodes["/cgman/batch"].needs == {"io"}
    assert nodes["/cgman"].own == set()
    assert nodes["/cgman"].needs == {"cpu", "memory", "cpuset", "pids", "io"}
    assert target.subtree_control(nodes["/"]) == frozenset({"cpu", "memory", "cpuset", "pids", "io"})
    assert target.subtree_control(nodes["/cgman"]) == frozenset({"cpu", "memory", "cpuset", "pids", "io"})
    assert target.subtree_control(nodes["/cgman/web"]) == frozenset({"cpuset", "pids"})
    assert target.subtree_control(nodes["/cgman/batch"]) == frozenset()
    assert target.subtree_control(nodes["/cgman/web/front"]) == frozenset()


def test_core_v2_controllers_need_nothing_in_subtree_control():
    """cpuacct and freezer on v2 are core: the group is placed but enables no controller."""
    layout = lay(unified(), group("web", controllers={"cpuacct", "freezer"}))
    target = layout.target("unified")
    assert target_keys(layout) == ["unified"]
    assert target.nodes["/cgman/web"].own == set()
    assert target.subtree_control(target.nodes["/"]) == frozenset()


def test_v1_controllers_give_no_v2_needs_on_hybrid():
    """On hybrid the v1-homed controllers add nothing to the cgroup2 mirror's subtree_control."""
    layout = lay(hybrid(), group("web", {"memory.max": "1G", "cpu.weight": 200}))
    target = layout.target("unified")
    assert all(n.needs == set() for n in target.nodes.values())
    assert layout.target("memory").nodes["/cgman/web"].own == set()


def test_mixed_host_needs_hugetlb_on_cgroup2():
    """This machine: hugetlb lives on cgroup2, so the root must enable it for cgman's tree."""
    layout = lay(host("hybrid-debian12-6.18.txt", "hugetlb"), group("web", {"hugetlb.2MB.max": "4M",
                                                                             "memory.max": "1G"}))
    target = layout.target("unified")
    assert target.subtree_control(target.nodes["/"]) == frozenset({"hugetlb"})
    assert settings(layout, "unified", "/cgman/web") == [("hugetlb.2MB.max", 4194304, "hugetlb.2MB.max", 50, False)]
    assert settings(layout, "memory", "/cgman/web") == [
        ("memory.limit_in_bytes", 1073741824, "memory.max", 11, False)]


# --- subtree policies and may_create -------------------------------------------------------


def policies(layout: Layout, key: str):
    return {p: (n.may_create, n.subtree) for p, n in layout.target(key).nodes.items()}


def test_policies_on_v2_without_systemd():
    """No systemd: the root only gets "add" and is never created; base and groups are "exact"."""
    assert policies(lay(unified(), group("web", {"pids.max": 1})), "unified") == {
        "/": (False, ADD), "/cgman": (True, EXACT), "/cgman/web": (True, EXACT)}


def test_root_is_never_exact_even_as_manager_root():
    """manager.root = "/": the root cgroup is everyone's, so its subtree_control is only added to."""
    assert policies(lay(unified(base="/"), group("web", {"pids.max": 1})), "unified") == {
        "/": (False, ADD), "/web": (True, EXACT)}


def test_ancestors_below_root_are_add_and_creatable_without_systemd():
    """manager.root = "/a/b": /a is cgman's to create but its subtree_control is only added to."""
    assert policies(lay(unified(base="/a/b"), group("web", {"pids.max": 1})), "unified") == {
        "/": (False, ADD), "/a": (True, ADD), "/a/b": (True, EXACT), "/a/b/web": (True, EXACT)}


def test_policies_on_v2_under_systemd():
    """Under systemd ancestors are never written ("none") or created; the delegated base is exact."""
    assert policies(lay(unified(systemd=SYSTEMD), group("web", {"pids.max": 1})), "unified") == {
        "/": (False, NONE), "/cgman.slice": (False, NONE), D: (False, EXACT), D + "/web": (True, EXACT)}


def test_v1_nodes_have_no_subtree_policy():
    """v1 has no subtree_control: every node's policy is "none"."""
    layout = lay(legacy(base="/a/b"), group("web", {"memory.max": "1G"}))
    assert {n.subtree for n in layout.target("memory").nodes.values()} == {NONE}


def test_may_create_under_systemd_on_hybrid():
    """Under systemd only up-for-grabs v1 hierarchies (cpuset, freezer) may get the slice and base created."""
    layout = lay(hybrid(systemd=SYSTEMD),
                 group("web", {"cpuset.cpus": "0", "memory.max": "1G", "cpu.weight": 10, "pids.max": 5},
                       controllers={"freezer"}))
    managed = {"/": False, "/cgman.slice": False, D: False, D + "/web": True}
    grabs = {"/": False, "/cgman.slice": True, D: True, D + "/web": True}
    for key in ("unified", "name=systemd", "memory", "cpu,cpuacct", "pids"):
        assert {p: n.may_create for p, n in layout.target(key).nodes.items()} == managed, key
    for key in ("cpuset", "freezer"):
        assert {p: n.may_create for p, n in layout.target(key).nodes.items()} == grabs, key


def test_may_create_under_systemd_on_legacy():
    """Legacy + systemd: name=systemd and memory are systemd's; cpuset is up for grabs."""
    layout = lay(legacy(systemd=SYSTEMD), group("web", {"cpuset.cpus": "0", "memory.max": "1G"}))
    assert layout.target("name=systemd").nodes[D].may_create is False
    assert layout.target("memory").nodes[D].may_create is False
    assert layout.target("cpuset").nodes[D].may_create is True
    assert layout.target("cpuset").nodes["/cgman.slice"].may_create is True


# --- v1 cpuset inheritance -----------------------------------------------------------------


def inherit(file: str, order: int):
    return (file, None, "(from parent)", order, True)


def test_v1_cpuset_nodes_inherit_unset_cpus_and_mems():
    """Every v1 cpuset node, the root included, fills an unset cpus/mems from its parent."""
    layout = lay(hybrid(), group("web", {"cpuset.cpus": "0-1"}), group("web/a", controllers={"cpuset"}))
    both = [inherit("cpuset.cpus", 0), inherit("cpuset.mems", 1)]
    assert settings(layout, "cpuset", "/") == both
    assert settings(layout, "cpuset", "/cgman") == both
    assert settings(layout, "cpuset", "/cgman/web") == [
        ("cpuset.cpus", frozenset({0, 1}), "cpuset.cpus", 0, False), inherit("cpuset.mems", 1)]
    assert settings(layout, "cpuset", "/cgman/web/a") == both
    node_settings = layout.target("cpuset").nodes["/"].settings
    assert all(isinstance(s.vtype, CpuList) for s in node_settings)


def test_v1_cpuset_inheritance_keeps_explicit_values_and_write_order():
    """Explicit mems stays, cpus is inherited first; v1 cpuset flags keep their place after them."""
    layout = lay(legacy(), group("a", {"cpuset.mems": "0"}), group("b", {"cpuset.cpus": "1",
                                                                        "cpuset.mem_exclusive": True}))
    assert settings(layout, "cpuset", "/cgman/a") == [
        inherit("cpuset.cpus", 0), ("cpuset.mems", frozenset({0}), "cpuset.mems", 1, False)]
    assert settings(layout, "cpuset", "/cgman/b") == [
        ("cpuset.cpus", frozenset({1}), "cpuset.cpus", 0, False), inherit("cpuset.mems", 1),
        ("cpuset.mem_exclusive", 1, "cpuset.mem_exclusive", 2, False)]


def test_v2_cpuset_does_not_inherit():
    """On v2 an empty cpuset already means "the parent's": nothing is added."""
    layout = lay(unified(), group("web", controllers={"cpuset"}))
    assert all(n.settings == [] for n in layout.target("unified").nodes.values())
    assert layout.target("unified").nodes["/cgman/web"].own == {"cpuset"}


def test_v1_cpuset_inheritance_under_systemd_covers_the_slice_and_base():
    """Under systemd the whole path in the cpuset hierarchy gets fill settings."""
    layout = lay(hybrid(systemd=SYSTEMD), group("web", controllers={"cpuset"}))
    for path in ("/", "/cgman.slice", D, D + "/web"):
        assert settings(layout, "cpuset", path) == [inherit("cpuset.cpus", 0), inherit("cpuset.mems", 1)]


# --- refusals ------------------------------------------------------------------------------


def test_controller_not_available_on_unified_host():
    """devices on pure v2 is refused with the reason v2 gives, naming file and key."""
    assert errors_of(unified(), group("dev", controllers={"devices"})) == [(
        '/etc/cgman/10-web.toml: group."dev".devices: the devices controller is not available on this host '
        "(cgroup v2 controls devices with eBPF only)", None, "knob-unmappable")]


def test_knob_of_a_controller_the_host_lacks():
    """pids.max and a hugetlb limit on the cgconfig host (no pids, no hugetlb mount) are both refused."""
    assert errors_of(host("legacy-cgconfig-cgroup-dir.txt"),
                     group("web", {"pids.max": 10, "hugetlb.2MB.limit_in_bytes": "4M", "memory.max": "1G"})) == [
        ('/etc/cgman/10-web.toml: group."web".pids.max: the pids controller is not available on this host',
         None, "knob-unmappable"),
        ('/etc/cgman/10-web.toml: group."web".hugetlb.2MB.limit_in_bytes: the hugetlb controller is not '
         "available on this host", None, "knob-unmappable"),
    ]


def test_hugetlb_on_machine_sample_with_empty_cgroup2():
    """Without hugetlb in cgroup.controllers this machine's layout refuses a hugetlb limit."""
    assert errors_of(host("hybrid-debian12-6.18.txt", ""), group("web", {"hugetlb.2MB.max": "4M"})) == [
        ('/etc/cgman/10-web.toml: group."web".hugetlb.2MB.max: the hugetlb controller is not available '
         "on this host", None, "knob-unmappable")]


def test_v2_controller_not_delegated_by_systemd():
    """A v2 controller missing from the delegated cgroup's cgroup.controllers is refused, naming the unit."""
    host_ = unified(systemd=SYSTEMD, delegated=frozenset({"cpu", "memory", "pids"}))
    hint = "set Delegate=yes on the unit; systemd does not delegate hugetlb, rdma or misc"
    assert errors_of(host_, group("web", {"io.weight": 50, "memory.max": "1G"}),
                     group("huge", {"hugetlb.2MB.max": "2M"})) == [
        ('/etc/cgman/10-web.toml: group."web".io.weight: the io controller is not delegated to '
         "cgman-groups.service", hint, "knob-unmappable"),
        ('/etc/cgman/10-web.toml: group."huge".hugetlb.2MB.max: the hugetlb controller is not delegated to '
         "cgman-groups.service", hint, "knob-unmappable"),
    ]


def test_delegated_controllers_allow_what_is_delegated():
    """Delegated controllers pass, and core ones (freezer) are not checked against the list."""
    host_ = unified(systemd=SYSTEMD, delegated=frozenset({"cpu", "memory"}))
    layout = lay(host_, group("web", {"memory.max": "1G"}, controllers={"freezer"}))
    assert layout.target("unified").nodes[D + "/web"].own == {"memory"}


def test_untranslatable_knob_on_v1():
    """memory.high on a v1 memory hierarchy names the key, the reason and a hint."""
    assert errors_of(hybrid(), group("web", {"memory.high": "1G"})) == [(
        '/etc/cgman/10-web.toml: group."web".memory.high: cannot be honoured on this host: '
        "cgroup v1 has no memory.high (throttle limit)", "use memory.max for a hard limit", "knob-unmappable")]


def test_untranslatable_knob_on_v2():
    """cpu.rt_runtime_us on v2 is refused: v2 has no realtime bandwidth."""
    assert errors_of(unified(), group("rt", {"cpu.rt_runtime_us": 950000})) == [(
        '/etc/cgman/10-web.toml: group."rt".cpu.rt_runtime_us: cannot be honoured on this host: '
        "cgroup v2 has no realtime bandwidth (cpu.rt_*)", None, "knob-unmappable")]


def test_group_without_controller_on_host_without_cgroup2():
    """Legacy without systemd: a group with no controller has nowhere to exist."""
    assert errors_of(legacy(), group("empty")) == [(
        '/etc/cgman/10-web.toml: group."empty": the group names no controller, and this host has no '
        "cgroup2 hierarchy to hold it", "add a controller table such as cpu = {}", "knob-unmappable")]


def test_all_refusals_are_reported_together():
    """Problems of several groups come in one ConfigErrors, in group order, rendered with a count."""
    with pytest.raises(ConfigErrors) as caught:
        lay(legacy(), group("a", {"memory.high": "1G"}), group("b"))
    assert [e.key for e in caught.value.errors] == ['group."a".memory.high', 'group."b"']
    assert caught.value.render().startswith("configuration is invalid (2 problems):\n  /etc/cgman/10-web.toml")


def test_root_needs_include_what_its_descendants_need():
    """needs is computed bottom-up with "/" last, so the root knows what the tree needs."""
    layout = lay(unified(), group("web", {"pids.max": 5}))
    assert layout.target("unified").nodes["/"].needs == {"pids"}


def test_perf_event_is_implicit_on_v2():
    """perf_event is never listed in cgroup.controllers on v2: an empty table places the group, no error."""
    layout = lay(unified(), group("web", controllers={"perf_event"}))
    assert layout.target("unified").nodes["/cgman/web"].own == set()


def test_unavailable_controllers_are_the_only_errors():
    """When a group's only controllers are unavailable, no extra "names no controller" error appears."""
    cgconfig_host = host("legacy-cgconfig-cgroup-dir.txt")
    problems = errors_of(cgconfig_host, group("web", {"hugetlb.2MB.limit_in_bytes": "2M"}))
    assert len(problems) == 1 and "hugetlb controller is not available" in problems[0][0]


def with_rule(place: str, *groups: GroupSpec, templates: Optional[dict] = None) -> DesiredState:
    from cgmand import rules

    errors: list = []
    made = rules.parse([{"name": "r", "comm": "x", "place": place}], "rules.toml", errors)
    assert not errors
    return DesiredState(groups={g.name: g for g in groups}, rules=tuple(made), templates=templates or {})


def test_a_rule_into_an_inner_group_is_refused_on_cgroup_v2():
    """Children that need memory make web refuse processes (no-internal-process rule)."""
    groups = (group("web", {"memory.max": "1G"}), group("web/api", {"memory.max": "512M"}))
    with pytest.raises(ConfigErrors) as caught:
        build(with_rule("web", *groups), unified())
    (error,) = caught.value.errors
    assert error.key == "rule[0].place" and error.reference == "group-inner"
    assert 'place = "web" is an inner group on cgroup v2' in error.render() and "memory" in error.render()
    build(with_rule("web/api", *groups), unified())  # a leaf is fine
    build(with_rule("web", *groups), hybrid())  # and v1 has no such rule


def test_threaded_controllers_below_do_not_make_a_group_inner():
    groups = (group("web", {"cpu.weight": 100}), group("web/api", {"cpu.weight": 50, "pids.max": 10}))
    build(with_rule("web", *groups), unified())


def test_a_template_below_a_group_makes_it_inner_for_rules():
    templates = {"batch/%u": group("batch/%u", {"memory.max": "1G"})}
    with pytest.raises(ConfigErrors, match='place = "batch" is an inner group'):
        build(with_rule("batch", group("batch", {"cpu.weight": 10}), templates=templates), unified())
