"""The host model: mountinfo parsing, layout classification, homes, mirrors, rebase, build()."""

from __future__ import annotations

import pytest

from cgmand.errors import ExitCode, HostError
from cgmand.hierarchy import (
    Hierarchy,
    Host,
    Mount,
    Systemd,
    build,
    parse_mountinfo,
    rebase,
    to_hierarchy,
)
from fakes import mountinfo_sample

ALL_V2 = "cpuset cpu io memory hugetlb pids rdma misc\n"  # a pure v2 root's cgroup.controllers
UNIT = "cgman-groups.service"
DELEGATED = "/cgman.slice/cgman-groups.service"
SYSTEMD = Systemd(UNIT, DELEGATED, True)


def hierarchies(sample: str, v2: str = ""):
    """Hierarchies of a sample, the cgroup2 one offering ``v2`` (its cgroup.controllers)."""
    found = (to_hierarchy(m, v2) for m in parse_mountinfo(mountinfo_sample(sample)))
    return [h for h in found if h is not None]


def host(sample: str, v2: str = "", systemd=None) -> Host:
    return build(hierarchies(sample, v2), "/cgman", systemd=systemd)


def keys(sample: str, v2: str = ""):
    return [h.key for h in hierarchies(sample, v2)]


def by_key(host_: Host):
    return {h.key: h for h in host_.hierarchies}


# --- parsing -------------------------------------------------------------------------------


def test_unified_sample_is_one_cgroup2_mount():
    """A pure v2 host's mountinfo yields only its cgroup2 mount, with root, device and super options."""
    assert parse_mountinfo(mountinfo_sample("unified-systemd.txt")) == [
        Mount("0:27", "/", "/sys/fs/cgroup", "cgroup2", ("rw", "nsdelegate", "memory_recursiveprot"))
    ]


def test_unified_sample_hierarchy_takes_controllers_from_cgroup_controllers():
    """The cgroup2 hierarchy's controllers are the words of its cgroup.controllers, not mount options."""
    (unified,) = hierarchies("unified-systemd.txt", ALL_V2)
    assert unified == Hierarchy(2, "/sys/fs/cgroup", "/", frozenset(ALL_V2.split()))
    assert unified.name is None


def test_hybrid_systemd_sample_hierarchies_in_mount_order():
    """Ubuntu 20.04 hybrid: cgroup2, name=systemd and every v1 controller mount, co-mounts once each."""
    assert keys("hybrid-systemd.txt") == [
        "unified", "name=systemd", "devices", "rdma", "cpuset", "cpu,cpuacct", "pids", "hugetlb",
        "net_cls,net_prio", "memory", "perf_event", "blkio", "freezer",
    ]


def test_hybrid_systemd_sample_versions_and_controllers():
    """v1 mounts are version 1 with canonical controllers (blkio is io); named ones carry none."""
    found = by_key(host("hybrid-systemd.txt"))
    assert found["unified"].version == 2
    assert found["unified"].controllers == frozenset()
    assert found["unified"].mount_point == "/sys/fs/cgroup/unified"
    assert found["cpu,cpuacct"] == Hierarchy(1, "/sys/fs/cgroup/cpu,cpuacct", "/", frozenset({"cpu", "cpuacct"}))
    assert found["net_cls,net_prio"].controllers == frozenset({"net_cls", "net_prio"})
    assert found["blkio"].controllers == frozenset({"io"})
    assert found["blkio"].mount_point == "/sys/fs/cgroup/blkio"
    assert found["name=systemd"] == Hierarchy(1, "/sys/fs/cgroup/systemd", "/", frozenset(), "systemd")
    assert all(h.version == 1 for k, h in found.items() if k != "unified")


def test_legacy_centos7_sample_has_no_cgroup2():
    """CentOS 7: only v1 hierarchies; kernel 3.10's "cpuacct,cpu" option order still keys as cpu,cpuacct."""
    assert keys("legacy-centos7.txt") == [
        "name=systemd", "net_cls,net_prio", "blkio", "cpu,cpuacct", "memory", "freezer", "cpuset",
        "perf_event", "hugetlb", "pids", "devices",
    ]
    assert all(h.version == 1 for h in hierarchies("legacy-centos7.txt"))


def test_legacy_centos7_named_hierarchy_ignores_other_options():
    """xattr, seclabel and release_agent=... do not hide name=systemd nor become controllers."""
    systemd = by_key(host("legacy-centos7.txt"))["name=systemd"]
    assert systemd.name == "systemd"
    assert systemd.controllers == frozenset()
    assert by_key(host("legacy-centos7.txt"))["cpu,cpuacct"].controllers == frozenset({"cpu", "cpuacct"})


def test_cgconfig_sample_mounts_live_under_slash_cgroup():
    """An old cgconfig host mounts each controller at /cgroup/<ctrl>; nothing assumes /sys/fs/cgroup."""
    found = hierarchies("legacy-cgconfig-cgroup-dir.txt")
    assert [(h.key, h.mount_point) for h in found] == [
        ("cpuset", "/cgroup/cpuset"), ("cpu", "/cgroup/cpu"), ("cpuacct", "/cgroup/cpuacct"),
        ("memory", "/cgroup/memory"), ("devices", "/cgroup/devices"), ("freezer", "/cgroup/freezer"),
        ("net_cls", "/cgroup/net_cls"), ("blkio", "/cgroup/blkio"),
    ]
    assert by_key(build(found, "/cgman"))["blkio"].controllers == frozenset({"io"})


def test_machine_sample_parses_each_controller_on_its_own_mount():
    """This machine (Debian 12, 6.18): separate v1 mounts, name=systemd, cgroup2 at unified."""
    assert keys("hybrid-debian12-6.18.txt", "hugetlb\n") == [
        "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "name=systemd", "unified",
    ]
    unified = by_key(host("hybrid-debian12-6.18.txt", "hugetlb\n"))["unified"]
    assert unified.controllers == frozenset({"hugetlb"})


def test_bind_mounts_are_deduplicated_keeping_the_root_mount():
    """One entry per device; a "/" mount replaces an earlier subtree bind mount and is kept over later ones."""
    mounts = parse_mountinfo(mountinfo_sample("bind-mounted.txt"))
    assert [(m.dev, m.root, m.mount_point) for m in mounts] == [
        ("0:23", "/", "/sys/fs/cgroup/openrc"),
        ("0:24", "/", "/sys/fs/cgroup/unified"),
        ("0:25", "/", "/sys/fs/cgroup/cpu"),  # the later "/" bind at /mnt/cpu view is dropped
        ("0:26", "/", "/sys/fs/cgroup/cpuacct"),
        ("0:28", "/", "/sys/fs/cgroup/memory"),  # the container's /lxc/web app bind is dropped
        ("0:29", "/", "/sys/fs/cgroup/pids"),
        ("0:27", "/", "/sys/fs/cgroup/cpuset"),  # first seen as a /lxc/web app bind, replaced by "/"
        ("0:45", "/", "/srv/batch jobs/cgroup"),
    ]


def test_bind_mounted_sample_unescapes_mount_points():
    """\\040 in a mount point is a space; the named hierarchy there is found with its name."""
    batch = by_key(host("bind-mounted.txt"))["name=batch"]
    assert batch == Hierarchy(1, "/srv/batch jobs/cgroup", "/", frozenset(), "batch")


def test_subtree_only_mount_keeps_its_unescaped_root():
    """A hierarchy seen only through a subtree bind mount keeps that root, unescaped."""
    lines = [line for line in mountinfo_sample("bind-mounted.txt").splitlines() if line.startswith("60 ")]
    assert parse_mountinfo("\n".join(lines)) == [
        Mount("0:27", "/lxc/web app", "/var/lib/lxc/web/rootfs/sys/fs/cgroup/cpuset", "cgroup",
              ("rw", "cpuset"))
    ]


def test_unescape_handles_tab_newline_backslash():
    """The kernel's octal escapes \\011 \\012 \\134 become tab, newline, backslash; \\134040 stays text."""
    text = "40 26 0:50 / /mnt/a\\011b\\012c\\134d\\134040e rw - cgroup2 cgroup2 rw\n"
    (mount,) = parse_mountinfo(text)
    assert mount.mount_point == "/mnt/a\tb\nc\\d\\040e"


def test_lines_with_several_optional_fields_are_parsed():
    """Optional fields (shared:N master:M) vary in number; parsing splits at the lone " - "."""
    text = "5094 5093 0:30 / /sys/fs/cgroup/systemd ro,nosuid shared:11 master:9 - cgroup cgroup rw,xattr,name=systemd\n"
    assert parse_mountinfo(text) == [
        Mount("0:30", "/", "/sys/fs/cgroup/systemd", "cgroup", ("rw", "xattr", "name=systemd"))
    ]


def test_non_cgroup_and_malformed_lines_are_skipped():
    """tmpfs at /sys/fs/cgroup, other filesystems and lines without a separator give no mounts."""
    text = (
        "34 24 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
        "garbage line without separator\n"
        "\n"
        "35 24 0:30 / /sys/fs/cgroup rw - cgroup2\n"
        "22 1 0:21 / /proc rw,relatime - proc proc rw\n"
    )
    assert parse_mountinfo(text) == []


def test_v1_mount_without_controllers_or_name_is_not_a_hierarchy():
    """A v1 mount whose options name no known controller and no name= is ignored by to_hierarchy."""
    mount = Mount("0:50", "/", "/sys/fs/cgroup/debug", "cgroup", ("rw", "debug"))
    assert to_hierarchy(mount) is None


def test_hierarchy_keys():
    """Keys: "unified" for v2, name=X for named ones, sorted v1 subsystem names otherwise."""
    def v1(*controllers, name=None):
        return Hierarchy(1, "/x", "/", frozenset(controllers), name).key

    assert Hierarchy(2, "/sys/fs/cgroup", "/", frozenset({"memory", "cpu"})).key == "unified"
    assert v1("cpuacct", "cpu") == "cpu,cpuacct"
    assert v1("net_prio", "net_cls") == "net_cls,net_prio"
    assert v1("io") == "blkio"
    assert v1("hugetlb") == "hugetlb"
    assert v1(name="systemd") == "name=systemd"


def test_hierarchy_path_maps_cgroup_paths_below_the_mount_point():
    """The root cgroup is the mount point itself; others are appended."""
    hierarchy = Hierarchy(1, "/cgroup/cpu", "/", frozenset({"cpu"}))
    assert hierarchy.path("/") == "/cgroup/cpu"
    assert hierarchy.path("/cgman/web") == "/cgroup/cpu/cgman/web"


# --- layout classification -----------------------------------------------------------------


@pytest.mark.parametrize("sample, v2, layout", [
    ("unified-systemd.txt", ALL_V2, "unified"),
    ("unified-systemd.txt", "", "unified"),
    ("hybrid-systemd.txt", "", "hybrid"),
    ("hybrid-systemd.txt", "\n", "hybrid"),
    ("legacy-centos7.txt", "", "legacy"),
    ("legacy-cgconfig-cgroup-dir.txt", "", "legacy"),
    ("bind-mounted.txt", "", "hybrid"),
    ("hybrid-debian12-6.18.txt", "hugetlb\n", "mixed"),
    ("hybrid-debian12-6.18.txt", "", "hybrid"),
])
def test_layout_classification(sample, v2, layout):
    """legacy: no cgroup2; unified: no v1 controller mount; hybrid/mixed: v2 with none/some controllers."""
    assert host(sample, v2).layout == layout


def test_named_v1_hierarchy_alone_does_not_make_a_v2_host_hybrid():
    """Classification looks at where controllers live: cgroup2 plus only name=systemd is unified."""
    hierarchies_ = [Hierarchy(2, "/sys/fs/cgroup", "/", frozenset({"cpu", "memory"})),
                    Hierarchy(1, "/sys/fs/cgroup/systemd", "/", frozenset(), "systemd")]
    assert build(hierarchies_, "/cgman").layout == "unified"


# --- where each controller lives -----------------------------------------------------------


def homes(host_: Host, controllers):
    return {c: (h.key if h is not None else None) for c, h in ((c, host_.home(c)) for c in controllers)}


def test_home_on_unified_host():
    """Pure v2: controllers in cgroup.controllers and the core cpuacct/freezer are v2; devices, net_* are not."""
    assert homes(host("unified-systemd.txt", ALL_V2), [
        "cpu", "cpuacct", "cpuset", "memory", "io", "pids", "hugetlb", "rdma", "misc", "freezer",
        "devices", "net_cls", "net_prio",
    ]) == {
        "cpu": "unified", "cpuacct": "unified", "cpuset": "unified", "memory": "unified", "io": "unified",
        "pids": "unified", "hugetlb": "unified", "rdma": "unified", "misc": "unified", "freezer": "unified",
        "devices": None, "net_cls": None, "net_prio": None,
    }


def test_home_on_unified_host_needs_the_controller_offered():
    """A v2 controller missing from the root's cgroup.controllers has no home."""
    limited = host("unified-systemd.txt", "cpu memory pids\n")
    assert homes(limited, ["cpu", "memory", "io", "hugetlb", "cpuacct"]) == {
        "cpu": "unified", "memory": "unified", "io": None, "hugetlb": None, "cpuacct": "unified"}


def test_home_on_hybrid_host_prefers_v1_mounts():
    """Hybrid: every mounted v1 controller lives on its v1 hierarchy; misc is nowhere."""
    assert homes(host("hybrid-systemd.txt"), [
        "cpu", "cpuacct", "cpuset", "memory", "io", "pids", "hugetlb", "rdma", "perf_event", "freezer",
        "devices", "net_cls", "net_prio", "misc",
    ]) == {
        "cpu": "cpu,cpuacct", "cpuacct": "cpu,cpuacct", "cpuset": "cpuset", "memory": "memory",
        "io": "blkio", "pids": "pids", "hugetlb": "hugetlb", "rdma": "rdma", "perf_event": "perf_event",
        "freezer": "freezer", "devices": "devices", "net_cls": "net_cls,net_prio",
        "net_prio": "net_cls,net_prio", "misc": None,
    }


def test_home_on_hybrid_host_without_v1_freezer_is_the_core_v2_freezer():
    """OpenRC hybrid without a freezer mount: freezer is cgroup2's core cgroup.freeze; devices has none."""
    assert homes(host("bind-mounted.txt"), ["freezer", "cpuacct", "cpuset", "devices", "io"]) == {
        "freezer": "unified", "cpuacct": "cpuacct", "cpuset": "cpuset", "devices": None, "io": None}


def test_home_on_mixed_host():
    """This machine: v1 wins where mounted, hugetlb is on cgroup2, net_cls has no v2 counterpart."""
    assert homes(host("hybrid-debian12-6.18.txt", "hugetlb\n"), [
        "cpu", "cpuacct", "cpuset", "memory", "io", "pids", "devices", "freezer", "hugetlb", "net_cls",
        "rdma", "misc",
    ]) == {
        "cpu": "cpu", "cpuacct": "cpuacct", "cpuset": "cpuset", "memory": "memory", "io": "blkio",
        "pids": "pids", "devices": "devices", "freezer": "freezer", "hugetlb": "unified", "net_cls": None,
        "rdma": None, "misc": None,
    }


def test_home_of_hugetlb_on_machine_sample_with_empty_v2():
    """With an empty cgroup.controllers the same host offers no hugetlb at all."""
    assert host("hybrid-debian12-6.18.txt", "").home("hugetlb") is None


def test_home_on_legacy_hosts():
    """Legacy: only mounted v1 controllers have a home; the core v2 fallbacks need a cgroup2 mount."""
    assert homes(host("legacy-centos7.txt"), ["cpu", "cpuacct", "io", "net_prio", "rdma", "misc"]) == {
        "cpu": "cpu,cpuacct", "cpuacct": "cpu,cpuacct", "io": "blkio", "net_prio": "net_cls,net_prio",
        "rdma": None, "misc": None}
    assert homes(host("legacy-cgconfig-cgroup-dir.txt"), ["cpu", "cpuacct", "pids", "hugetlb", "net_prio",
                                                          "freezer"]) == {
        "cpu": "cpu", "cpuacct": "cpuacct", "pids": None, "hugetlb": None, "net_prio": None,
        "freezer": "freezer"}


# --- mirrors -------------------------------------------------------------------------------


def mirror_keys(host_: Host):
    return [h.key for h in host_.mirrors()]


def test_mirrors_without_systemd():
    """Without systemd every group exists in the cgroup2 mount (if any) and no named hierarchy."""
    assert mirror_keys(host("unified-systemd.txt", ALL_V2)) == ["unified"]
    assert mirror_keys(host("hybrid-systemd.txt")) == ["unified"]
    assert mirror_keys(host("bind-mounted.txt")) == ["unified"]  # name=openrc is another manager's
    assert mirror_keys(host("legacy-centos7.txt")) == []


def test_mirrors_with_systemd_add_the_tracking_hierarchy():
    """Under systemd name=systemd is mirrored too (systemd would move processes back otherwise)."""
    assert mirror_keys(host("unified-systemd.txt", ALL_V2, SYSTEMD)) == ["unified"]
    assert mirror_keys(host("hybrid-systemd.txt", "", SYSTEMD)) == ["unified", "name=systemd"]
    assert mirror_keys(host("legacy-centos7.txt", "", SYSTEMD)) == ["name=systemd"]


# --- rebase --------------------------------------------------------------------------------


def test_rebase_replaces_the_common_parent():
    """The mount points' common parent (/sys/fs/cgroup) becomes the given root; the rest is kept."""
    mounts = parse_mountinfo(mountinfo_sample("hybrid-systemd.txt"))
    moved = rebase(mounts, "/tmp/fake/cgroup")
    assert [m.mount_point for m in moved][:6] == [
        "/tmp/fake/cgroup/unified", "/tmp/fake/cgroup/systemd", "/tmp/fake/cgroup/devices",
        "/tmp/fake/cgroup/rdma", "/tmp/fake/cgroup/cpuset", "/tmp/fake/cgroup/cpu,cpuacct"]
    assert [(m.dev, m.root, m.fstype, m.super_options) for m in moved] == \
        [(m.dev, m.root, m.fstype, m.super_options) for m in mounts]


def test_rebase_of_cgconfig_layout_replaces_slash_cgroup():
    """/cgroup/<ctrl> mounts move to <root>/<ctrl>; a trailing slash on the root is harmless."""
    moved = rebase(parse_mountinfo(mountinfo_sample("legacy-cgconfig-cgroup-dir.txt")), "/tmp/t/")
    assert [m.mount_point for m in moved] == [
        "/tmp/t/cpuset", "/tmp/t/cpu", "/tmp/t/cpuacct", "/tmp/t/memory", "/tmp/t/devices",
        "/tmp/t/freezer", "/tmp/t/net_cls", "/tmp/t/blkio"]


def test_rebase_single_cgroup2_mount_is_its_own_parent():
    """A pure v2 host's one mount becomes the root directory itself."""
    (moved,) = rebase(parse_mountinfo(mountinfo_sample("unified-systemd.txt")), "/tmp/fake/cgroup")
    assert moved.mount_point == "/tmp/fake/cgroup"


def test_rebase_without_root_changes_nothing():
    """No --cgroup-root (None or empty) and an empty mount list are returned unchanged."""
    mounts = parse_mountinfo(mountinfo_sample("hybrid-systemd.txt"))
    assert rebase(mounts, None) is mounts
    assert rebase(mounts, "") is mounts
    assert rebase([], "/tmp/x") == []


# --- build ---------------------------------------------------------------------------------


def test_build_refuses_a_host_without_cgroup_hierarchies():
    """No cgroup line at all is a HostError (exit 69) with reference no-cgroupfs."""
    with pytest.raises(HostError) as caught:
        build([], "/cgman")
    err = caught.value
    assert err.message == "no cgroup hierarchy is mounted (no cgroup or cgroup2 line in mountinfo)"
    assert err.reference == "no-cgroupfs"
    assert err.hint == "mount cgroup2 on /sys/fs/cgroup"
    assert err.exit_code == ExitCode.UNAVAILABLE


def test_build_refuses_systemd_when_the_unit_is_not_running():
    """systemd PID 1 with an empty ControlGroup: cgman must not pick a base itself."""
    with pytest.raises(HostError) as caught:
        build(hierarchies("unified-systemd.txt", ALL_V2), "/cgman", systemd=Systemd(UNIT, "", True))
    err = caught.value
    assert err.message == ("systemd is PID 1 but cgman-groups.service is not running; cgman writes only "
                           "below the cgroup systemd delegated to it")
    assert err.reference == "delegated-unit-missing"
    assert err.hint == "install cgman's units from systemd/ and run: systemctl start cgman-groups.service"


def test_build_refuses_systemd_unit_without_delegate():
    """A running unit without Delegate=yes is refused: its cgroup belongs to systemd."""
    with pytest.raises(HostError) as caught:
        build(hierarchies("unified-systemd.txt", ALL_V2), "/cgman", systemd=Systemd(UNIT, DELEGATED, False))
    err = caught.value
    assert err.message == ("cgman-groups.service runs in /cgman.slice/cgman-groups.service but has no "
                           "Delegate=yes; cgman will not write into a cgroup systemd manages")
    assert err.reference == "delegated-unit-not-delegated"
    assert err.hint == "use the unit file shipped in systemd/, which sets Delegate=yes"


def test_build_under_systemd_uses_the_delegated_cgroup_and_warns_about_root():
    """Under systemd the base is the unit's ControlGroup; a configured manager.root only gives a warning."""
    built = build(hierarchies("unified-systemd.txt", ALL_V2), "/elsewhere", systemd=SYSTEMD, root_set=True,
                  delegated=frozenset({"cpu", "memory"}), page_size=65536)
    assert built.base == DELEGATED
    assert built.warnings == (
        "manager.root is ignored under systemd: groups live below /cgman.slice/cgman-groups.service",)
    assert built.systemd == SYSTEMD
    assert built.delegated_controllers == frozenset({"cpu", "memory"})
    assert built.page_size == 65536


def test_build_under_systemd_without_root_has_no_warning():
    """The default root under systemd is silently replaced by the delegated cgroup."""
    built = build(hierarchies("hybrid-systemd.txt"), "/cgman", systemd=SYSTEMD)
    assert built.base == DELEGATED
    assert built.warnings == ()


def test_build_without_systemd_keeps_the_configured_root():
    """Without systemd the configured root is the base, and root_set warns about nothing."""
    built = build(hierarchies("legacy-cgconfig-cgroup-dir.txt"), "/", root_set=True)
    assert built.base == "/"
    assert built.warnings == ()
    assert built.systemd is None
    assert built.delegated_controllers is None
    assert built.page_size == 4096


def test_describe_summarises_the_host():
    """describe() lists layout, base, systemd facts and each hierarchy with sorted controllers."""
    built = build(hierarchies("legacy-centos7.txt")[:2], "/cgman", systemd=SYSTEMD)
    assert built.describe() == {
        "layout": "legacy",
        "base": DELEGATED,
        "systemd": {"unit": UNIT, "control_group": DELEGATED},
        "hierarchies": [
            {"key": "name=systemd", "version": 1, "mount_point": "/sys/fs/cgroup/systemd", "controllers": []},
            {"key": "net_cls,net_prio", "version": 1, "mount_point": "/sys/fs/cgroup/net_cls,net_prio",
             "controllers": ["net_cls", "net_prio"]},
        ],
    }


def test_systemd_base_is_mapped_below_a_subtree_mount():
    """A cgroup2 mount of /lxc/c1 shows systemd's /lxc/c1/x.service as /x.service; outside it is refused."""
    from cgmand.errors import HostError
    mounted = [Hierarchy(2, "/sys/fs/cgroup", "/lxc/c1", frozenset({"cpu"}))]
    inside = build(mounted, "/cgman", systemd=Systemd("u.service", "/lxc/c1/cgman.slice/u.service", True))
    assert inside.base == "/cgman.slice/u.service"
    with pytest.raises(HostError) as caught:
        build(mounted, "/cgman", systemd=Systemd("u.service", "/other/u.service", True))
    assert "outside the cgroup subtree mounted here (/lxc/c1)" in caught.value.message
