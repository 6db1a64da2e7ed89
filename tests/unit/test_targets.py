"""targets.py: -g CONTROLLERS:PATH read as libcgroup's tools take it (minus their bugs), and the
cgroups it names on each kind of host."""

from __future__ import annotations

import pytest

from cgmand import targets
from cgmand.hierarchy import Systemd, build, parse_mountinfo, to_hierarchy
from cgmand.targets import SpecError
from fakes import mountinfo_sample

ALL_V2 = "cpuset cpu io memory hugetlb pids rdma misc\n"
SYSTEMD = Systemd("cgman-groups.service", "/cgman.slice/cgman-groups.service", True)


def host(sample: str, v2: str = "", systemd=None):
    found = (to_hierarchy(m, v2) for m in parse_mountinfo(mountinfo_sample(sample)))
    return build([h for h in found if h is not None], "/cgman", systemd=systemd)


def resolved(host_, *texts, mirrors=True):
    return [(t.hierarchy.key, t.path, sorted(t.v2_controllers), t.optional, t.mirror)
            for t in targets.resolve(host_, [targets.parse(text) for text in texts], mirrors)]


def test_a_spec_is_controllers_and_a_path():
    spec = targets.parse("cpu,memory:web/front")
    assert (spec.controllers, spec.group) == (frozenset({"cpu", "memory"}), "web/front")
    assert targets.parse("blkio,,cpu:/web").controllers == frozenset({"io", "cpu"})  # v1 names, empty items
    assert targets.parse("cpu:/web").group == "web"  # a leading "/" means the same
    assert targets.parse("*:web").controllers is None
    assert targets.parse(":web").controllers == frozenset()  # the v2 form
    assert targets.parse("cpu:/").group == "" and targets.parse("cpu:").group == ""  # cgman's base
    assert targets.parse("cpu:a:b").group == "a:b"  # libcgroup drops what follows a second colon


@pytest.mark.parametrize("text, message", [
    ("cpu", 'expected CONTROLLERS:PATH, such as "cpu,memory:web"'),
    ("cpux:web", 'unknown controller "cpux"'),
    ("cpu:web/../x", "invalid group path"),
    ("cpu:we.b", 'contains a dot'),
])
def test_a_spec_that_cannot_be_read_says_why(text, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(".", r"\.")) as err:
        targets.parse(text)
    assert err.value.reference == "group-spec-invalid" and text in str(err.value)


def test_on_this_machines_layout_controllers_go_to_their_v1_hierarchies_and_the_mirror_last():
    hybrid = host("hybrid-debian12-6.18.txt", "hugetlb\n")
    assert resolved(hybrid, "cpu,memory:web") == [
        ("cpu", "/cgman/web", [], False, False), ("memory", "/cgman/web", [], False, False),
        ("unified", "/cgman/web", [], True, True)]  # without systemd a mirror is optional
    assert resolved(hybrid, "cpu:web", mirrors=False) == [("cpu", "/cgman/web", [], False, False)]
    assert resolved(hybrid, "hugetlb:web")[0] == ("unified", "/cgman/web", ["hugetlb"], False, False)


def test_on_cgroup_v2_the_controllers_named_must_be_enabled_for_the_group():
    unified = host("unified-systemd.txt", ALL_V2, SYSTEMD)
    base = "/cgman.slice/cgman-groups.service/web"
    assert resolved(unified, "cpu,memory:web") == [("unified", base, ["cpu", "memory"], False, False)]
    assert resolved(unified, ":web") == [("unified", base, [], False, False)]


def test_under_systemd_the_tracking_hierarchy_is_required():
    hybrid = host("hybrid-systemd.txt", "", SYSTEMD)
    mirrors = [r for r in resolved(hybrid, "cpu:web") if r[4]]
    assert {r[0] for r in mirrors} == {"unified", "name=systemd"} and not any(r[3] for r in mirrors)


def test_star_is_every_hierarchy_the_group_is_in():
    hybrid = host("hybrid-debian12-6.18.txt", "hugetlb\n")
    found = resolved(hybrid, "*:web")
    assert {r[0] for r in found} == {h.key for h in hybrid.hierarchies}
    assert all(r[3] for r in found)  # each optional: joined where the group exists


def test_one_hierarchy_one_group():
    legacy = host("legacy-centos7.txt")  # cpu and cpuacct mounted together
    assert resolved(legacy, "cpu:web", "cpuacct:web") == [("cpu,cpuacct", "/cgman/web", [], False, False)]
    with pytest.raises(SpecError, match="two cgroups of the cpu,cpuacct hierarchy"):
        resolved(legacy, "cpu:web", "cpuacct:db")


def test_what_the_host_lacks_is_refused():
    legacy = host("legacy-centos7.txt")
    with pytest.raises(SpecError, match="no cgroup2 hierarchy"):
        resolved(legacy, ":web")
    unified = host("unified-systemd.txt", ALL_V2, SYSTEMD)
    with pytest.raises(SpecError, match=r"the devices controller is not available on this host \(cgroup v2"):
        resolved(unified, "devices:web")
