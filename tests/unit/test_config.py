"""config.parse / merge / load: what a good file yields and the exact message of every refusal."""

from __future__ import annotations

import os
from typing import List

import pytest

from cgmand import config
from cgmand.errors import ConfigError, ConfigErrors, ExitCode
from cgmand.model import DEFAULT_ROOT, DEFAULT_SYSTEMD_UNIT, Ownership, Perm
from cgmand.values import MAX

K, M, G = 2**10, 2**20, 2**30
SIZE_EXPECTED = 'a size: bytes, or a whole number with K, M, G, T (1024-based), or "max"'

GOOD = """
[manager]
root = "/cgman/"
systemd_unit = "my-groups.service"

[group."web"]
"cpu.weight" = 200
memory.max = "2G"
"pids.max" = 4096
"memory.swap.max" = "1G"

[group."web/frontend"]
cpuset.cpus = "0-3,8"
cpu.max = "50000 100000"

[group."db".memory]
max = "4G"
low = "1G"
swap.max = "max"

[group."/legacy"]
cpu.shares = 512
memory.limit_in_bytes = "1G"
io.max = ["8:0 rbps=1M", "8:16 wiops=100"]

[group."idle".cpu]

[group."plain"]
cpu = {}
blkio = {}

[group."owned"]
perm.admin = { uid = "root", gid = 0, dperm = "0755", fperm = "0664" }
perm.task = { uid = 0, gid = "root", fperm = "660" }
"""


def parse(text: str, source: str = "10-test.toml") -> config.Fragment:
    return config.parse(text, source)


def errors_of(text: str, source: str = "f.toml") -> List[str]:
    """The rendered errors of one file."""
    return [err.render() for err in parse(text, source).errors]


def one_error(text: str, source: str = "f.toml") -> ConfigError:
    """The single error a file produces."""
    errors = parse(text, source).errors
    assert len(errors) == 1, [e.render() for e in errors]
    return errors[0]


def group_text(body: str, name: str = "web") -> str:
    return f'[group."{name}"]\n{body}\n'


# --- a good file -----------------------------------------------------------------------------


def test_good_file_has_no_errors():
    """A file using every knob style parses without errors."""
    assert errors_of(GOOD) == []


def test_groups_keep_file_order_and_normalised_names():
    """Groups come out in file order; a leading '/' is dropped."""
    assert [g.name for g in parse(GOOD).groups] == ["web", "web/frontend", "db", "legacy", "idle", "plain", "owned"]


def test_dotted_and_quoted_keys_become_typed_settings():
    """Dotted keys and quoted "cpu.weight" keys are the same knobs, parsed to typed values."""
    web = parse(GOOD).groups[0]
    assert dict(web.settings) == {"cpu.weight": 200, "memory.max": 2 * G, "pids.max": 4096,
                                  "memory.swap.max": G}
    assert list(web.settings) == ["cpu.weight", "memory.max", "pids.max", "memory.swap.max"]


def test_sub_tables_flatten_to_knob_names():
    """[group."db".memory] with max, low and swap.max gives memory.max, memory.low, memory.swap.max."""
    db = parse(GOOD).groups[2]
    assert dict(db.settings) == {"memory.max": 4 * G, "memory.low": G, "memory.swap.max": MAX}


def test_v1_spellings_are_kept_as_written():
    """v1 keys are stored under the spelling the admin used, not converted at parse time."""
    legacy = parse(GOOD).groups[3]
    assert dict(legacy.settings) == {
        "cpu.shares": 512,
        "memory.limit_in_bytes": G,
        "io.max": (("8:0", (M, MAX, MAX, MAX)), ("8:16", (MAX, MAX, MAX, 100))),
    }


def test_cpuset_and_cpu_max_values():
    """CPU lists become sets and cpu.max a (quota, period) pair."""
    frontend = parse(GOOD).groups[1]
    assert dict(frontend.settings) == {"cpuset.cpus": frozenset({0, 1, 2, 3, 8}), "cpu.max": (50000, 100000)}


def test_empty_controller_tables_request_controllers():
    """`cpu = {}` asks for cpu; `blkio = {}` asks for the canonical "io"; an empty [x.cpu] table too."""
    groups = {g.name: g for g in parse(GOOD).groups}
    assert groups["plain"].controllers == frozenset({"cpu", "io"}) and dict(groups["plain"].settings) == {}
    assert groups["idle"].controllers == frozenset({"cpu"}) and dict(groups["idle"].settings) == {}
    assert groups["web"].controllers == frozenset() and groups["db"].controllers == frozenset()


def test_groups_remember_their_source_file():
    """Each group names the file it came from."""
    assert {g.source for g in parse(GOOD, "/etc/cgman/10-web.toml").groups} == {"/etc/cgman/10-web.toml"}


def test_perm_accepts_names_numbers_and_octal_strings():
    """perm resolves user/group names and numbers; modes are octal strings with or without the 0."""
    owned = parse(GOOD).groups[6]
    assert owned.perm == Perm(admin=Ownership(uid=0, gid=0, dperm=0o755, fperm=0o664),
                              task=Ownership(uid=0, gid=0, fperm=0o660))


def test_groups_without_perm_have_none():
    """A group with no perm table has perm None."""
    assert parse(GOOD).groups[0].perm is None


@pytest.mark.parametrize("body, ownership", [
    ('perm.admin = { uid = "1000", gid = "1001" }', Ownership(uid=1000, gid=1001)),
    ("perm.admin = { uid = 65534 }", Ownership(uid=65534)),
    ('perm.admin = { fperm = "2775" }', Ownership(fperm=0o2775)),
    ('perm.admin = { dperm = "00750" }', Ownership(dperm=0o750)),
])
def test_perm_id_and_mode_forms(body, ownership):
    """uid/gid as decimal strings or numbers; modes of 3 or 4 octal digits."""
    (group,) = parse(group_text(body)).groups
    assert group.perm == Perm(admin=ownership)


def test_perm_only_task_leaves_admin_default():
    """A perm table with only task leaves admin at its defaults."""
    (group,) = parse(group_text('perm.task = { uid = "root" }')).groups
    assert group.perm == Perm(admin=Ownership(), task=Ownership(uid=0))


def test_manager_keys_are_validated_and_normalised():
    """[manager] root loses its trailing '/', systemd_unit is kept."""
    assert parse(GOOD).manager == {"root": "/cgman", "systemd_unit": "my-groups.service"}


@pytest.mark.parametrize("root", ["/", "/cgman", "/a/b_c@d:e+f-g"])
def test_manager_root_accepts_absolute_paths(root):
    """Absolute roots, "/" included, are accepted as written."""
    assert parse(f'[manager]\nroot = "{root}"\n').manager == {"root": root}


@pytest.mark.parametrize("unit", ["cgman-groups.service", "a@b.service", "x\\x2dy.service", "a:b_c.d.service"])
def test_manager_systemd_unit_accepts_service_names(unit):
    """Any service unit name is accepted."""
    text = '[manager]\nsystemd_unit = "' + unit.replace("\\", "\\\\") + '"\n'
    assert parse(text).manager == {"systemd_unit": unit}


def test_empty_file_is_fine():
    """An empty file contributes nothing and no errors."""
    fragment = parse("")
    assert (fragment.groups, fragment.manager, fragment.errors) == ([], {}, [])


# --- merge -----------------------------------------------------------------------------------


def test_merge_later_files_override_manager_keys():
    """Later files win for each manager key; keys they do not set stay."""
    state = config.merge([
        parse('[manager]\nroot = "/one"\nsystemd_unit = "one.service"\n', "10-a.toml"),
        parse('[manager]\nroot = "/two"\n', "20-b.toml"),
    ])
    assert (state.manager.root, state.manager.systemd_unit, state.manager.root_set) == (
        "/two", "one.service", True)


def test_merge_without_manager_uses_defaults():
    """With no [manager] anywhere, the defaults hold and root_set is false."""
    state = config.merge([parse('[group."a"]\n', "a.toml")])
    assert (state.manager.root, state.manager.systemd_unit, state.manager.root_set) == (
        DEFAULT_ROOT, DEFAULT_SYSTEMD_UNIT, False)


def test_merge_keeps_group_order_across_files_and_lists_sources():
    """Groups appear in file order, then order within each file; sources list every file."""
    state = config.merge([
        parse('[group."b"]\n[group."a"]\n', "10-x.toml"),
        parse('[group."c"]\n', "20-y.toml"),
    ])
    assert state.group_names() == ("b", "a", "c")
    assert state.sources == ("10-x.toml", "20-y.toml")
    assert state.groups["c"].source == "20-y.toml"


def test_merge_of_nothing_is_the_default_state():
    """No files give no groups and the default manager."""
    state = config.merge([])
    assert (dict(state.groups), state.manager.root, state.sources) == ({}, DEFAULT_ROOT, ())


# --- refusals: file level --------------------------------------------------------------------


def test_invalid_toml_is_reported_with_the_parser_message():
    """A TOML syntax error is one error naming the file and the parser's position."""
    err = one_error("[group.web\ncpu.weight = 1\n")
    assert err.render().startswith("f.toml: invalid TOML: ")
    assert "(at line 1, column 11)" in err.render()
    assert (err.reference, err.source, err.key) == ("toml-invalid", "f.toml", None)


def test_invalid_toml_exact_message():
    """An unfinished value renders the parser's exact message."""
    assert errors_of("x = [") == ["f.toml: invalid TOML: Invalid value (at end of document)"]


@pytest.mark.parametrize("data, message", [
    (b"\xff", "f.toml: not UTF-8 text (invalid start byte at byte 0)"),
    (b'[group."web"]\n# caf\xe9\n', "f.toml: not UTF-8 text (invalid continuation byte at byte 19)"),
])
def test_non_utf8_bytes_are_refused(data, message):
    """Bytes that are not UTF-8 are refused with the byte offset."""
    err = one_error(data)
    assert (err.render(), err.reference) == (message, "toml-invalid")


@pytest.mark.parametrize("text, rendered", [
    ("[groups.web]\n", 'f.toml: groups: unknown table "groups"\n  hint: did you mean "group"?'),
    ("[managr]\n", 'f.toml: managr: unknown table "managr"\n  hint: did you mean "manager"?'),
    ("[foo]\n", 'f.toml: foo: unknown table "foo"\n  hint: expected one of group, manager, rule, template'),
    ("version = 1\n", 'f.toml: version: unknown table "version"\n  hint: expected one of group, manager, rule, template'),
])
def test_unknown_top_level_table_with_suggestion(text, rendered):
    """Unknown top-level keys are refused with a near-miss suggestion or the list of known ones."""
    err = one_error(text)
    assert (err.render(), err.reference) == (rendered, "key-unknown")


# --- refusals: [manager] ---------------------------------------------------------------------


@pytest.mark.parametrize("text, rendered", [
    ('[manager]\nroot = "cgman"\n',
     'f.toml: manager.root: expected an absolute cgroup path such as "/cgman"; found "cgman"'),
    ("[manager]\nroot = 5\n",
     'f.toml: manager.root: expected an absolute cgroup path such as "/cgman"; found 5'),
    ('[manager]\nroot = "/a b"\n',
     "f.toml: manager.root: \"a b\" contains ' '; use letters, digits and _ @ : + -; found \"/a b\""),
    ('[manager]\nroot = "//x"\n',
     "f.toml: manager.root: empty path component (a doubled or trailing '/'); found \"//x\""),
    ('[manager]\nroot = "/x.y"\n',
     'f.toml: manager.root: "x.y" contains a dot; the kernel reserves dots for interface files; found "/x.y"'),
    ('[manager]\nsystemd_unit = "foo"\n',
     'f.toml: manager.systemd_unit: expected a service unit name such as "cgman-groups.service"; found "foo"'),
    ('[manager]\nsystemd_unit = "cgman.slice"\n',
     'f.toml: manager.systemd_unit: expected a service unit name such as "cgman-groups.service"; '
     'found "cgman.slice"'),
    ('[manager]\nsystemd_unit = ".service"\n',
     'f.toml: manager.systemd_unit: expected a service unit name such as "cgman-groups.service"; '
     'found ".service"'),
    ('[manager]\nsystemd_unit = "a b.service"\n',
     'f.toml: manager.systemd_unit: expected a service unit name such as "cgman-groups.service"; '
     'found "a b.service"'),
    ("[manager]\nsystemd_unit = true\n",
     'f.toml: manager.systemd_unit: expected a service unit name such as "cgman-groups.service"; found true'),
])
def test_bad_manager_values(text, rendered):
    """manager.root must be an absolute valid path; systemd_unit a .service name."""
    err = one_error(text)
    assert (err.render(), err.reference) == (rendered, "value-invalid")


@pytest.mark.parametrize("text, rendered", [
    ("[manager]\nroto = 1\n", 'f.toml: manager.roto: unknown key "roto"\n  hint: did you mean "root"?'),
    ('[manager]\nsystemd = "x"\n',
     'f.toml: manager.systemd: unknown key "systemd"\n  hint: did you mean "systemd_unit"?'),
    ("[manager]\nxyz = 1\n", 'f.toml: manager.xyz: unknown key "xyz"\n'
     '  hint: expected one of root, systemd_unit, drift_interval, log_format, rescan_on_reload, events_buffer'),
])
def test_unknown_manager_key_with_did_you_mean(text, rendered):
    """Unknown manager keys get a "did you mean" or the list of known keys."""
    err = one_error(text)
    assert (err.render(), err.reference) == (rendered, "key-unknown")


def test_manager_not_a_table():
    """`manager = 5` is refused."""
    assert errors_of("manager = 5\n") == ["f.toml: manager: expected a table; found 5"]


# --- refusals: groups and group names --------------------------------------------------------


def test_group_not_a_table():
    """`group = 5` is refused with an example of the expected form."""
    assert errors_of("group = 5\n") == ['f.toml: group: expected tables such as [group."web"]; found 5']


@pytest.mark.parametrize("text, rendered", [
    ("[group]\nweb = 5\n", 'f.toml: group."web": expected a table of knobs; found 5'),
    ('[group]\nweb = "x"\n', 'f.toml: group."web": expected a table of knobs; found "x"'),
    ("[group]\nweb = [1]\n", 'f.toml: group."web": expected a table of knobs; found [1]'),
])
def test_group_body_not_a_table(text, rendered):
    """A group whose body is not a table is refused and yields no group."""
    fragment = parse(text, "f.toml")
    assert ([e.render() for e in fragment.errors], fragment.groups) == ([rendered], [])


@pytest.mark.parametrize("name, problem", [
    ("", "a group name must not be empty"),
    ("/", "a group name must not be empty"),
    ("//", "a group name must not be empty"),
    ("a//b", "empty path component (a doubled or trailing '/')"),
    ("a/", "empty path component (a doubled or trailing '/')"),
    ("//a", "empty path component (a doubled or trailing '/')"),
    ("..", '".." is not allowed in a cgroup path'),
    (".", '"." is not allowed in a cgroup path'),
    ("a/../b", '".." is not allowed in a cgroup path'),
    ("a.b", '"a.b" contains a dot; the kernel reserves dots for interface files'),
    ("cgroup.procs", '"cgroup.procs" contains a dot; the kernel reserves dots for interface files'),
    (".control", '".control" contains a dot; the kernel reserves dots for interface files'),
    ("tasks", '"tasks" is reserved by the kernel (a cgroup v1 interface file)'),
    ("x/tasks", '"tasks" is reserved by the kernel (a cgroup v1 interface file)'),
    ("notify_on_release", '"notify_on_release" is reserved by the kernel (a cgroup v1 interface file)'),
    ("release_agent", '"release_agent" is reserved by the kernel (a cgroup v1 interface file)'),
    ("anchor", '"anchor" is reserved by cgman at the top level'),
    ("/anchor", '"anchor" is reserved by cgman at the top level'),
    ("supervisor", '"supervisor" is reserved by cgman at the top level'),
    ("a b", "\"a b\" contains ' '; use letters, digits and _ @ : + -"),
    ("web/fr*nt", "\"fr*nt\" contains '*'; use letters, digits and _ @ : + -"),
    ("caf\u00e9", "\"caf\u00e9\" contains '\u00e9'; use letters, digits and _ @ : + -"),
    ("a" * 256, '"aaaaaaaaaaaaaaaaaaaa..." is longer than 255 characters'),
    ("x/" + "b" * 300, '"bbbbbbbbbbbbbbbbbbbb..." is longer than 255 characters'),
])
def test_bad_group_names(name, problem):
    """Invalid group names are refused with the reason; the group is dropped."""
    fragment = parse(f'[group."{name}"]\ncpu.weight = 100\n', "f.toml")
    assert [e.render() for e in fragment.errors] == [f'f.toml: group."{name}": invalid group name: {problem}']
    assert fragment.errors[0].reference == "group-name-invalid"
    assert fragment.groups == []


@pytest.mark.parametrize("name, normalised", [
    ("x/anchor", "x/anchor"),
    ("x/supervisor", "x/supervisor"),
    ("/web", "web"),
    ("a" * 255, "a" * 255),
    ("A-Z_0@9:+", "A-Z_0@9:+"),
    ("web/frontend/api", "web/frontend/api"),
    ("cgroup", "cgroup"),
])
def test_good_group_names(name, normalised):
    """Reserved top-level names are fine below the top; 255 characters is the limit."""
    (group,) = parse(f'[group."{name}"]\n').groups
    assert group.name == normalised


def test_same_group_twice_in_one_file():
    """"web" and "/web" in one file are the same group: the second is refused."""
    fragment = parse('[group."web"]\ncpu.weight = 1\n[group."/web"]\ncpu.weight = 2\n', "f.toml")
    assert [e.render() for e in fragment.errors] == ['f.toml: group."/web": same group as group."web"']
    assert fragment.errors[0].reference == "group-duplicate"
    assert [(g.name, dict(g.settings)) for g in fragment.groups] == [("web", {"cpu.weight": 1})]


# --- refusals: knobs -------------------------------------------------------------------------


@pytest.mark.parametrize("body, rendered", [
    ("cpu.weigth = 5",
     'f.toml: group."web".cpu.weigth: unknown knob "cpu.weigth"\n  hint: did you mean "cpu.weight"?'),
    ("memroy.max = 5",
     'f.toml: group."web".memroy.max: unknown knob "memroy.max"\n  hint: did you mean "memory.max"?'),
    ("memory.limit_in_byte = 5",
     'f.toml: group."web".memory.limit_in_byte: unknown knob "memory.limit_in_byte"\n'
     '  hint: did you mean "memory.limit_in_bytes"?'),
    ("devices.alow = 5",
     'f.toml: group."web".devices.alow: unknown knob "devices.alow"\n  hint: did you mean "devices.allow"?'),
    ("zzzz = 1",
     'f.toml: group."web".zzzz: unknown knob "zzzz"\n  hint: see docs/config.md for the knobs cgman knows'),
    ("[group.web.memory]\nmaxx = 1",
     'f.toml: group."web".memory.maxx: unknown knob "memory.maxx"\n  hint: did you mean "memory.max"?'),
])
def test_unknown_knob_with_suggestion(body, rendered):
    """Unknown knobs are refused with the nearest known name, or a pointer to the docs."""
    err = one_error(group_text(body))
    assert (err.render(), err.reference) == (rendered, "knob-unknown")


@pytest.mark.parametrize("key, reason", [
    ("devices.allow", "device rules are not managed by cgman yet (on v2 they are eBPF-only)"),
    ("devices.deny", "device rules are not managed by cgman yet (on v2 they are eBPF-only)"),
    ("memory.kmem.limit_in_bytes", "kernel memory limits are deprecated; the kernel ignores them"),
    ("memory.kmem.tcp.limit_in_bytes", "kernel memory limits are deprecated; the kernel ignores them"),
    ("memory.force_empty", "an action, not a setting"),
    ("freezer.state", "a runtime state, not configuration"),
    ("cgroup.freeze", "a runtime state, not configuration"),
    ("cgroup.kill", "an action, not a setting"),
    ("net_cls.classid", "net_cls is not managed by cgman yet (and has no cgroup v2 counterpart)"),
    ("net_prio.ifpriomap", "net_prio is not managed by cgman yet (and has no cgroup v2 counterpart)"),
    ("cpuset.cpus.partition", "cpuset partitions are not supported yet"),
    ("cpuset.cpus.exclusive", "cpuset partitions are not supported yet"),
    ("io.latency", "io.latency is not supported yet"),
    ("cpu.uclamp.min", "utilisation clamping is not supported yet"),
    ("cpu.uclamp.max", "utilisation clamping is not supported yet"),
])
def test_refused_knob_with_reason(key, reason):
    """Knobs cgman refuses everywhere are reported with the reason."""
    err = one_error(group_text(f'"{key}" = "1"'))
    assert err.render() == f'f.toml: group."web".{key}: {key} is not supported: {reason}'
    assert err.reference == "knob-unsupported"


def test_refused_knob_as_dotted_key():
    """A refused knob written as dotted keys is refused the same way."""
    err = one_error(group_text('devices.allow = "c 1:3 rwm"'))
    assert err.render() == ('f.toml: group."web".devices.allow: devices.allow is not supported: '
                            "device rules are not managed by cgman yet (on v2 they are eBPF-only)")


@pytest.mark.parametrize("body, message", [
    ('memory.max = "2X"', f'memory.max: expected {SIZE_EXPECTED}; found "2X"'),
    ("memory.max = true", f"memory.max: expected {SIZE_EXPECTED}; found true"),
    ("memory.max = 1.5", f"memory.max: expected {SIZE_EXPECTED}; found 1.5"),
    ("memory.max = -2", f"memory.max: expected {SIZE_EXPECTED}; found -2"),
    ('memory.max = ["1G"]', f'memory.max: expected {SIZE_EXPECTED}; found ["1G"]'),
    ("cpu.weight = 0", "cpu.weight: expected a weight from 1 to 10000; found 0"),
    ("cpu.weight = 10001", "cpu.weight: expected a weight from 1 to 10000; found 10001"),
    ("cpu.weight = true", "cpu.weight: expected a weight from 1 to 10000; found true"),
    ('cpu.weight = "abc"', 'cpu.weight: expected a weight from 1 to 10000; found "abc"'),
    ("cpu.shares = 1", "cpu.shares: expected shares from 2 to 262144; found 1"),
    ("cpu.weight.nice = 20", "cpu.weight.nice: expected a nice value from -20 to 19; found 20"),
    ("pids.max = true", 'pids.max: expected a task count from 0 to 2147483648, or "max"; found true'),
    ("pids.max = -5", 'pids.max: expected a task count from 0 to 2147483648, or "max"; found -5'),
    ("cpu.cfs_quota_us = 10",
     'cpu.cfs_quota_us: expected microseconds from 1000 to 9223372036854775807, or "max"; found 10'),
    ("cpu.cfs_period_us = 999", "cpu.cfs_period_us: expected microseconds from 1000 to 1000000; found 999"),
    ('cpu.max = "500 100000"',
     'cpu.max: expected cpu bandwidth "QUOTA PERIOD" in microseconds, e.g. "50000 100000", or "max"; '
     'QUOTA at least 1000, PERIOD from 1000 to 1000000 (default 100000); found "500 100000"'),
    ('cpuset.cpus = "3-1"',
     'cpuset.cpus: expected a CPU/node list such as "0-3,8" or a single number (ranges go low-high); '
     'found "3-1"'),
    ('cpuset.mems = "all"', 'cpuset.mems: expected a CPU/node list such as "0-3,8" or a single number; '
                            'found "all"'),
    ('io.max = "sda rbps=1M"',
     'io.max: expected device limits such as "8:0 rbps=10M wiops=100" (keys rbps, wbps, riops, wiops; '
     'numbers, sizes or "max"), or a list of them; found "sda rbps=1M"'),
    ("io.weight = 0", "io.weight: expected a weight from 1 to 10000; found 0"),
    ("blkio.weight = 5", "blkio.weight: expected a weight from 10 to 1000; found 5"),
    ('"blkio.throttle.read_bps_device" = "8:0"',
     'blkio.throttle.read_bps_device: expected device limits such as "8:0 1048576" '
     '(a number, a size for bps; 0 or "max" for none), or a list; found "8:0"'),
    ("memory.oom_control = 2", "memory.oom_control: expected true/false or 0/1; found 2"),
    ("memory.swappiness = 101", "memory.swappiness: expected an integer from 0 to 100; found 101"),
    ("memory.use_hierarchy = 0", "memory.use_hierarchy: expected the value 1; found 0"),
    ("memory.move_charge_at_immigrate = 4",
     "memory.move_charge_at_immigrate: expected an integer from 0 to 3; found 4"),
    ('"hugetlb.2MB.max" = "lots"', f'hugetlb.2MB.max: expected {SIZE_EXPECTED}; found "lots"'),
    ("memory.max = {}", "memory.max: expected " + SIZE_EXPECTED + "; found a table"),
])
def test_bad_values_name_key_expected_and_found(body, message):
    """A bad value names the key path, what was expected and what was found."""
    err = one_error(group_text(body))
    assert (err.render(), err.reference) == (f'f.toml: group."web".{message}', "value-invalid")


@pytest.mark.parametrize("body, keys, concept", [
    ("cpu.shares = 512\ncpu.weight = 50", "cpu.shares and cpu.weight", "cpu.weight"),
    ("cpu.weight = 50\ncpu.shares = 512", "cpu.weight and cpu.shares", "cpu.weight"),
    ('cpu.max = "max"\ncpu.cfs_quota_us = 5000', "cpu.max and cpu.cfs_quota_us", "cpu.max"),
    ('cpu.max = "max"\ncpu.cfs_quota_us = 5000\ncpu.cfs_period_us = 100000',
     "cpu.max and cpu.cfs_quota_us and cpu.cfs_period_us", "cpu.max"),
    ('memory.swap.max = "1G"\nmemory.memsw.limit_in_bytes = "2G"',
     "memory.swap.max and memory.memsw.limit_in_bytes", "memory.swap.max"),
    ('memory.max = "1G"\nmemory.limit_in_bytes = "1G"', "memory.max and memory.limit_in_bytes", "memory.max"),
    ('memory.low = "1G"\nmemory.soft_limit_in_bytes = "1G"',
     "memory.low and memory.soft_limit_in_bytes", "memory.low"),
    ("io.weight = 100\nblkio.weight = 500", "io.weight and blkio.weight", "io.weight"),
    ('io.max = "8:0 rbps=1"\n"blkio.throttle.read_bps_device" = "8:0 1"',
     "io.max and blkio.throttle.read_bps_device", "io.max"),
    ('"hugetlb.2MB.max" = "2M"\n"hugetlb.2MB.limit_in_bytes" = "2M"',
     "hugetlb.2MB.max and hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.max"),
])
def test_two_spellings_of_one_concept_are_refused(body, keys, concept):
    """v1 and v2 spellings of the same setting in one group would fight: refused."""
    err = one_error(group_text(body))
    assert err.render() == f'f.toml: group."web": {keys} set the same thing ({concept}); keep one spelling'
    assert err.reference == "knob-conflict"


@pytest.mark.parametrize("body, keys", [
    ('cpu.weight = 100\n"cpu.weight.nice" = 5', "cpu.weight and cpu.weight.nice"),
    ("cpu.shares = 1024\ncpu.weight.nice = 5", "cpu.shares and cpu.weight.nice"),
])
def test_two_knobs_over_one_kernel_value_are_refused(body, keys):
    """cpu.weight.nice writes the same weight as cpu.weight: both in one group would fight."""
    err = one_error(group_text(body))
    assert err.render() == f'f.toml: group."web": {keys} set the same kernel value (the last write would win); keep one'
    assert err.reference == "knob-conflict"


@pytest.mark.parametrize("body", [
    "cpu.cfs_quota_us = 50000\ncpu.cfs_period_us = 100000",
    '"blkio.throttle.read_bps_device" = "8:0 1"\n"blkio.throttle.write_iops_device" = "8:0 5"',
    'memory.max = "1G"\nmemory.swap.max = "1G"',
    'memory.limit_in_bytes = "1G"\nmemory.memsw.limit_in_bytes = "2G"',
])
def test_several_keys_of_one_spelling_are_fine(body):
    """Several v1 keys of one concept (quota + period, throttle files) are one spelling."""
    assert errors_of(group_text(body)) == []


@pytest.mark.parametrize("body, rendered", [
    ("foo = {}",
     'f.toml: group."web".foo: unknown controller "foo"\n  hint: expected one of blkio, cpu, cpuacct, '
     "cpuset, devices, freezer, hugetlb, io, memory, misc, net_cls, net_prio, perf_event, pids, rdma"),
    ("memroy = {}", 'f.toml: group."web".memroy: unknown controller "memroy"\n  hint: did you mean "memory"?'),
    ("[group.web.cpux]", 'f.toml: group."web".cpux: unknown controller "cpux"\n  hint: did you mean "cpu"?'),
])
def test_unknown_controller_in_an_empty_table(body, rendered):
    """An empty table must name a controller."""
    err = one_error(group_text(body))
    assert (err.render(), err.reference) == (rendered, "key-unknown")


# --- refusals: perm --------------------------------------------------------------------------


@pytest.mark.parametrize("body, rendered", [
    ('perm.admin = { uid = "no-such-user-cgman" }',
     'f.toml: group."web".perm.admin.uid: unknown user "no-such-user-cgman"'),
    ('perm.task = { gid = "no-such-group-cgman" }',
     'f.toml: group."web".perm.task.gid: unknown group "no-such-group-cgman"'),
    ("perm.admin = { uid = -1 }",
     'f.toml: group."web".perm.admin.uid: expected a user number from 0 to 4294967294; found -1'),
    ("perm.admin = { uid = 4294967295 }",
     'f.toml: group."web".perm.admin.uid: expected a user number from 0 to 4294967294; found 4294967295'),
    ('perm.admin = { gid = "99999999999999999999" }',
     'f.toml: group."web".perm.admin.gid: expected a group number from 0 to 4294967294; '
     'found "99999999999999999999"'),
    ('perm.task = { uid = "\u00b2" }', 'f.toml: group."web".perm.task.uid: unknown user "\u00b2"'),
    ("perm.admin = { gid = true }", 'f.toml: group."web".perm.admin.gid: expected a group name or number; found true'),
    ('perm.admin = { gid = "" }', 'f.toml: group."web".perm.admin.gid: expected a group name or number; found ""'),
    ("perm.admin = { fperm = 664 }",
     'f.toml: group."web".perm.admin.fperm: expected an octal mode as a string, such as "0664"; found 664'),
    ("perm.admin = { dperm = 0o755 }",
     'f.toml: group."web".perm.admin.dperm: expected an octal mode as a string, such as "0664"; found 493'),
    ('perm.task = { fperm = "0o664" }',
     'f.toml: group."web".perm.task.fperm: expected an octal mode as a string, such as "0664"; found "0o664"'),
    ('perm.task = { fperm = "999" }',
     'f.toml: group."web".perm.task.fperm: expected an octal mode as a string, such as "0664"; found "999"'),
    ('perm.task = { fperm = "66" }',
     'f.toml: group."web".perm.task.fperm: expected an octal mode as a string, such as "0664"; found "66"'),
    ('perm.task = { fperm = "rw-r--r--" }',
     'f.toml: group."web".perm.task.fperm: expected an octal mode as a string, such as "0664"; '
     'found "rw-r--r--"'),
    ("perm.foo = {}", 'f.toml: group."web".perm.foo: unknown key "foo"\n  hint: expected one of admin, task'),
    ('perm.tsk = { uid = 0 }', 'f.toml: group."web".perm.tsk: unknown key "tsk"\n  hint: did you mean "task"?'),
    ("perm.admin = { mode = 1 }",
     'f.toml: group."web".perm.admin.mode: unknown key "mode"\n  hint: expected one of uid, gid, dperm, fperm'),
    ("perm = 5", 'f.toml: group."web".perm: expected a table with admin and/or task; found 5'),
    ("perm.admin = 5", 'f.toml: group."web".perm.admin: expected a table such as { uid = "root" }; found 5'),
])
def test_perm_errors(body, rendered):
    """perm refuses unknown users/groups, numeric or malformed modes and unknown sections."""
    assert errors_of(group_text(body)) == [rendered]


def test_dperm_under_task_is_an_unknown_key():
    """dperm belongs to admin only: under task it is refused, saying where it belongs."""
    err = one_error(group_text('perm.task = { dperm = "0755" }'))
    assert err.message == ('f.toml: group."web".perm.task.dperm: dperm belongs in perm.admin: '
                           'the task section owns files, not the directory')
    assert (err.key, err.reference) == ('group."web".perm.task.dperm', "key-unknown")


# --- error objects ---------------------------------------------------------------------------


def test_config_error_carries_source_key_and_reference():
    """A ConfigError keeps the file and key path apart from its message, and renders the hint."""
    err = one_error(group_text("cpu.weigth = 5"), "/etc/cgman/10-web.toml")
    assert err.as_dict() == {
        "reference": "knob-unknown",
        "message": '/etc/cgman/10-web.toml: group."web".cpu.weigth: unknown knob "cpu.weigth"',
        "hint": 'did you mean "cpu.weight"?',
        "source": "/etc/cgman/10-web.toml",
        "key": 'group."web".cpu.weigth',
    }
    assert err.exit_code == ExitCode.CONFIG


def test_one_bad_group_does_not_hide_the_others():
    """A group with a bad knob is still returned (so duplicates elsewhere are caught), with its good knobs."""
    fragment = parse('[group."a"]\ncpu.weight = 0\nmemory.max = "1G"\n[group."b"]\npids.max = 5\n')
    assert [(g.name, dict(g.settings)) for g in fragment.groups] == [("a", {"memory.max": G}), ("b", {"pids.max": 5})]
    assert len(fragment.errors) == 1


# --- refusals across files -------------------------------------------------------------------


def merge_errors(*fragments: config.Fragment) -> ConfigErrors:
    with pytest.raises(ConfigErrors) as caught:
        config.merge(list(fragments))
    return caught.value


def test_same_group_in_two_files_names_both():
    """A group defined in two files is an error naming both files."""
    err = merge_errors(parse('[group."web"]\ncpu.weight = 1\n', "10-a.toml"),
                       parse('[group."/web"]\ncpu.weight = 2\n', "20-b.toml"))
    assert [e.render() for e in err.errors] == [
        '20-b.toml: group."web": group is defined in two files: 10-a.toml and 20-b.toml\n'
        "  hint: define each group in one file"]
    assert err.errors[0].reference == "group-duplicate"


def test_same_group_in_two_files_when_the_first_has_errors():
    """The duplicate is still reported when the first definition has problems of its own."""
    err = merge_errors(parse('[group."web"]\nmemory.max = "2X"\n', "10-a.toml"),
                       parse('[group."web"]\ncpu.weight = 2\n', "20-b.toml"))
    assert [e.render() for e in err.errors] == [
        f'10-a.toml: group."web".memory.max: expected {SIZE_EXPECTED}; found "2X"',
        '20-b.toml: group."web": group is defined in two files: 10-a.toml and 20-b.toml\n'
        "  hint: define each group in one file",
    ]


def test_same_group_in_three_files_reports_each_extra():
    """Each extra definition names the first file and itself."""
    err = merge_errors(parse('[group."x"]\n', "a.toml"), parse('[group."x"]\n', "b.toml"),
                       parse('[group."x"]\n', "c.toml"))
    assert [e.message for e in err.errors] == [
        'b.toml: group."x": group is defined in two files: a.toml and b.toml',
        'c.toml: group."x": group is defined in two files: a.toml and c.toml',
    ]


def test_all_problems_across_files_are_reported_together():
    """Every problem of every file is collected into one ConfigErrors, in file order."""
    err = merge_errors(
        parse('[group."a"]\ncpu.weight = 0\ncpu.weigth = 5\n[group."a.b"]\n', "10-a.toml"),
        parse("[manager]\nroot = \"rel\"\n[foo]\n", "20-b.toml"),
        parse("x = [", "30-c.toml"),
        parse('[group."a"]\n', "40-d.toml"),
    )
    assert [(e.source, e.reference) for e in err.errors] == [
        ("10-a.toml", "value-invalid"),
        ("10-a.toml", "knob-unknown"),
        ("10-a.toml", "group-name-invalid"),
        ("20-b.toml", "value-invalid"),
        ("20-b.toml", "key-unknown"),
        ("30-c.toml", "toml-invalid"),
        ("40-d.toml", "group-duplicate"),
    ]
    assert err.render().startswith("configuration is invalid (7 problems):\n  10-a.toml: ")
    assert str(err) == "\n".join(e.render() for e in err.errors)
    assert err.exit_code == ExitCode.CONFIG


def test_config_errors_render_indents_hints():
    """ConfigErrors.render lists each problem indented, hints one level further."""
    err = merge_errors(parse(group_text("cpu.weigth = 5"), "f.toml"))
    assert err.render() == (
        "configuration is invalid:\n"
        '  f.toml: group."web".cpu.weigth: unknown knob "cpu.weigth"\n'
        '    hint: did you mean "cpu.weight"?')


# --- load() ----------------------------------------------------------------------------------


def write(directory, name: str, text: str) -> str:
    path = os.path.join(str(directory), name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def test_load_missing_directory(tmp_path):
    """A missing configuration directory is one error naming it."""
    missing = str(tmp_path / "nope")
    with pytest.raises(ConfigErrors) as caught:
        config.load(missing)
    assert [e.render() for e in caught.value.errors] == [f"configuration directory {missing} does not exist"]
    assert caught.value.errors[0].reference == "config-dir-missing"


def test_load_empty_directory_is_the_default_state(tmp_path):
    """An empty directory is valid: no groups, default manager."""
    state = config.load(str(tmp_path))
    assert (dict(state.groups), state.manager.root, state.sources) == ({}, DEFAULT_ROOT, ())


def test_load_reads_toml_files_in_lexical_order(tmp_path):
    """Files are read in lexical (not numeric) order: groups and later manager keys follow it."""
    b = write(tmp_path, "10-b.toml", '[group."b"]\n[manager]\nroot = "/ten"\n')
    a = write(tmp_path, "2-a.toml", '[group."a"]\n[manager]\nroot = "/two"\n')
    c = write(tmp_path, "20-c.toml", '[group."c"]\n')
    state = config.load(str(tmp_path))
    assert state.sources == (b, a, c)
    assert state.group_names() == ("b", "a", "c")
    assert state.manager.root == "/two"


def test_load_ignores_non_toml_files_dotfiles_and_directories(tmp_path):
    """Only regular *.toml files that are not dotfiles are read."""
    good = write(tmp_path, "10-good.toml", '[group."good"]\n')
    write(tmp_path, "README", "not toml at all [")
    write(tmp_path, "10-good.toml.bak", "broken [")
    write(tmp_path, "11-x.toml~", "broken [")
    write(tmp_path, ".hidden.toml", "broken [")
    write(tmp_path, ".#10-good.toml", "broken [")
    (tmp_path / "sub.toml").mkdir()
    write(tmp_path / "sub.toml", "inner.toml", "broken [")
    state = config.load(str(tmp_path))
    assert (state.sources, state.group_names()) == ((good,), ("good",))


def test_load_reports_problems_of_every_file(tmp_path):
    """load() reports the problems of all files together, each naming its file."""
    a = write(tmp_path, "10-a.toml", '[group."web"]\ncpu.weight = 0\n')
    b = write(tmp_path, "20-b.toml", '[group."web"]\n[bogus]\n')
    with open(os.path.join(str(tmp_path), "30-c.toml"), "wb") as handle:
        handle.write(b"\xfe\xff")
    c = os.path.join(str(tmp_path), "30-c.toml")
    with pytest.raises(ConfigErrors) as caught:
        config.load(str(tmp_path))
    assert [e.message for e in caught.value.errors] == [
        f'{a}: group."web".cpu.weight: expected a weight from 1 to 10000; found 0',
        f'{b}: bogus: unknown table "bogus"',
        f'{b}: group."web": group is defined in two files: {a} and {b}',
        f"{c}: not UTF-8 text (invalid start byte at byte 0)",
    ]
    assert caught.value.render().startswith("configuration is invalid (4 problems):")


def test_load_reports_an_unreadable_file(tmp_path, monkeypatch):
    """A file that cannot be read is reported with the system's reason, and the rest still load."""
    bad = write(tmp_path, "10-bad.toml", "")
    write(tmp_path, "20-ok.toml", "[group.ok]\ncpu.weigth = 1\n")
    real_open = open

    def fake_open(path, *args, **kwargs):
        if path == bad:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(config, "open", fake_open, raising=False)
    with pytest.raises(ConfigErrors) as caught:
        config.load(str(tmp_path))
    assert [(e.message, e.reference) for e in caught.value.errors] == [
        (f"{bad}: cannot read the file: Permission denied", "config-unreadable"),
        (f'{tmp_path}/20-ok.toml: group."ok".cpu.weigth: unknown knob "cpu.weigth"', "knob-unknown"),
    ]


def test_load_good_directory(tmp_path):
    """A good directory gives the groups, their settings and the manager from all files."""
    write(tmp_path, "00-manager.toml", '[manager]\nsystemd_unit = "x.service"\n')
    write(tmp_path, "10-web.toml", GOOD.replace("[manager]", "[manager]\n", 1))
    state = config.load(str(tmp_path))
    assert state.group_names() == ("web", "web/frontend", "db", "legacy", "idle", "plain", "owned")
    assert (state.manager.root, state.manager.systemd_unit) == ("/cgman", "my-groups.service")
    assert state.groups["plain"].controllers == frozenset({"cpu", "io"})


def test_the_same_knob_twice_in_a_group_is_refused():
    """A quoted key and a dotted key for one knob both reach the group: refused, not last-wins."""
    fragment = config.parse('[group."web"]\ncpu.weight = 100\n"cpu.weight" = 200\n', "f.toml")
    assert [e.render() for e in fragment.errors] == [
        'f.toml: group."web".cpu.weight: cpu.weight is set twice in this group']


def test_a_broken_symlink_in_the_config_dir_is_reported(tmp_path):
    """A dangling *.toml symlink is an unreadable file, not silently skipped."""
    (tmp_path / "10-x.toml").symlink_to(tmp_path / "nowhere.toml")
    with pytest.raises(ConfigErrors) as caught:
        config.load(str(tmp_path))
    assert [e.render() for e in caught.value.errors] == [
        f"{tmp_path}/10-x.toml: cannot read the file: No such file or directory"]


def test_a_dotted_key_extending_a_value_names_the_line_and_how_to_quote():
    """cpu.weight = 100 then cpu.weight.nice = 5 is a TOML error: show the line and the fix."""
    err = one_error(group_text("cpu.weight = 100\ncpu.weight.nice = 5"))
    assert err.reference == "toml-invalid"
    assert err.render() == (
        "f.toml: invalid TOML: Cannot overwrite a value (at line 3, column 20); the line reads: "
        "cpu.weight.nice = 5\n"
        '  hint: a dotted key cannot extend a key that already holds a value (cpu.weight = 100 and '
        'cpu.weight.nice = 5): quote the knob name, as in "cpu.weight.nice" = 5')


@pytest.mark.parametrize("text, rendered", [
    ("[manager]\ndrift_interval = -1\n", "f.toml: manager.drift_interval: expected seconds between drift "
     "checks, from 0 (never) to 86400; found -1"),
    ('[manager]\ndrift_interval = "60"\n', "f.toml: manager.drift_interval: expected seconds between drift "
     'checks, from 0 (never) to 86400; found "60"'),
    ('[manager]\nlog_format = "xml"\n', "f.toml: manager.log_format: expected one of auto, console, logfmt, "
     'json; found "xml"'),
])
def test_bad_daemon_settings_are_refused(text, rendered):
    err = one_error(text)
    assert (err.render(), err.reference) == (rendered, "value-invalid")


def test_daemon_settings_in_manager():
    """drift_interval (seconds, 0 = never) and log_format are read from [manager]."""
    state = config.merge([config.parse('[manager]\ndrift_interval = 5\nlog_format = "json"\n', "f.toml")])
    assert (state.manager.drift_interval, state.manager.log_format) == (5.0, "json")
    assert config.merge([config.parse("", "f.toml")]).manager.drift_interval == 60.0


# --- config.Memo: what cgmand reuses from the last load ---------------------------------------


def memo_load(directory, memo):
    return config.load(str(directory), memo)


def test_the_memo_serves_an_unchanged_group_and_revalidates_a_changed_one(tmp_path):
    (tmp_path / "a.toml").write_text('[group."web"]\ncpu.weight = 100\n[group."db"]\ncpu.weight = 50\n')
    memo = config.Memo()
    first = memo_load(tmp_path, memo)
    (tmp_path / "a.toml").write_text('[group."web"]\ncpu.weight = 200\n[group."db"]\ncpu.weight = 50\n')
    second = memo_load(tmp_path, memo)
    assert second.groups["db"] is first.groups["db"]  # reused, not parsed again
    assert second.groups["web"] is not first.groups["web"] and second.groups["web"].settings == {"cpu.weight": 200}
    assert second == config.load(str(tmp_path))
    assert list(memo.files) == [str(tmp_path / "a.toml")]  # only what the files hold now
    assert len(memo.files[str(tmp_path / "a.toml")][2]) == 2


def test_the_memo_tells_values_apart_that_python_calls_equal(tmp_path):
    """1, 1.0 and true compare equal in Python; as TOML values they are different (and refused)."""
    memo = config.Memo()
    (tmp_path / "a.toml").write_text('[group."web"]\ncpu.weight = 1\n')
    memo_load(tmp_path, memo)
    for text in ("cpu.weight = 1.0\n", "cpu.weight = true\n"):
        (tmp_path / "a.toml").write_text('[group."web"]\n' + text)
        with pytest.raises(ConfigErrors, match="cpu.weight"):
            memo_load(tmp_path, memo)


def test_the_memo_keeps_no_invalid_group_and_no_file_confusion(tmp_path):
    memo = config.Memo()
    (tmp_path / "a.toml").write_text('[group."web"]\ncpu.weight = "lots"\n')
    for _ in range(2):  # reported every time, not served from the memo
        with pytest.raises(ConfigErrors, match='group."web".cpu.weight'):
            memo_load(tmp_path, memo)
    (tmp_path / "a.toml").write_text('[group."web"]\ncpu.weight = 100\n')
    assert memo_load(tmp_path, memo).groups["web"].source.endswith("a.toml")
    (tmp_path / "a.toml").rename(tmp_path / "b.toml")  # the same table, now from another file
    assert memo_load(tmp_path, memo).groups["web"].source.endswith("b.toml")


def test_the_memo_still_reports_duplicates(tmp_path):
    memo = config.Memo()
    (tmp_path / "a.toml").write_text('[group."web"]\ncpu.weight = 100\n')
    memo_load(tmp_path, memo)
    (tmp_path / "a.toml").write_text('[group."web"]\ncpu.weight = 100\n[group."/web"]\ncpu.weight = 100\n')
    with pytest.raises(ConfigErrors, match='same group as group."web"'):
        memo_load(tmp_path, memo)
    (tmp_path / "a.toml").write_text('[group."web"]\ncpu.weight = 100\n')
    (tmp_path / "b.toml").write_text('[group."web"]\ncpu.weight = 100\n')
    with pytest.raises(ConfigErrors, match="group is defined in two files"):
        memo_load(tmp_path, memo)


def test_an_unchanged_file_is_not_parsed_again(tmp_path, monkeypatch):
    (tmp_path / "a.toml").write_text('[group."web"]\ncpu.weight = 100\n')
    (tmp_path / "b.toml").write_text('[group."db"]\ncpu.weight = 50\n')
    memo = config.Memo()
    memo_load(tmp_path, memo)
    parsed = []
    real = config._parse
    monkeypatch.setattr(config, "_parse", lambda data, source, *rest: parsed.append(source) or real(data, source, *rest))
    (tmp_path / "b.toml").write_text('[group."db"]\ncpu.weight = 60\n')
    state = memo_load(tmp_path, memo)
    assert parsed == [str(tmp_path / "b.toml")] and state.groups["db"].settings == {"cpu.weight": 60}
    (tmp_path / "a.toml").unlink()
    assert list(memo_load(tmp_path, memo).groups) == ["db"] and list(memo.files) == [str(tmp_path / "b.toml")]


def test_the_memo_is_dropped_when_the_user_database_changes(tmp_path, monkeypatch):
    """perm names resolve to ids at load: a changed /etc/passwd means validating again."""
    from cgmand import configcache

    passwd = tmp_path / "passwd"
    passwd.write_text("one\n")
    monkeypatch.setattr(configcache, "DATABASES", (str(passwd),))
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "a.toml").write_text('[group."web"]\ncpu.weight = 100\n')
    memo = config.Memo()
    first = memo_load(conf, memo)
    assert memo_load(conf, memo).groups["web"] is first.groups["web"]
    passwd.write_text("one\ntwo\n")
    assert memo_load(conf, memo).groups["web"] is not first.groups["web"]


def test_errors_inside_groups_leave_a_partial_configuration_for_the_verbs(tmp_path):
    """The verbs go on with [manager] and the valid groups when only groups are in error; a
    mistake in [manager], or a file that is not TOML, leaves nothing to go on with."""
    from cgmand import configcache
    from cgmand.roots import Roots

    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "10.toml").write_text('[manager]\nroot = "/elsewhere"\n[group."good"]\ncpu.weight = 100\n'
                                  '[group."bad"]\ncpu.weight = "lots"\n[group."bad.dot"]\npids.max = -1\n')
    with pytest.raises(ConfigErrors) as caught:
        config.load(str(conf))
    partial = caught.value.partial
    assert partial.manager.root == "/elsewhere" and set(partial.groups) == {"good"}
    (conf / "20.toml").write_text('[group."good"]\ncpu.weight = 50\n')  # a duplicate: neither copy is kept
    with pytest.raises(ConfigErrors) as caught:
        config.load(str(conf))
    assert set(caught.value.partial.groups) == set()
    roots = Roots(config_dir=str(conf), run_root=str(tmp_path))
    monkey = configcache._warned
    try:
        configcache._warned = False
        assert configcache.for_verbs(roots).manager.root == "/elsewhere" and configcache.warned()
    finally:
        configcache._warned = monkey
    for text in ('[manager]\nbogus = 1\n', 'not toml ['):
        (conf / "30.toml").write_text(text)
        with pytest.raises(ConfigErrors) as caught:
            config.load(str(conf))
        assert caught.value.partial is None
        with pytest.raises(ConfigErrors):
            configcache.for_verbs(roots)


def test_a_group_written_with_a_leading_slash_and_an_error_is_left_out_of_the_partial(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "10.toml").write_text('[group."/web"]\ncpu.weight = 200\nmemory.max = "lots"\n[group."ok"]\npids.max = 5\n')
    with pytest.raises(ConfigErrors) as caught:
        config.load(str(conf))
    assert set(caught.value.partial.groups) == {"ok"}
