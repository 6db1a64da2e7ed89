"""Placement rules (cgmand/rules.py, pure): parsing `[[rule]]` tables with located errors,
path and name globs, the total order, and matching a process whose attributes a fake
Facts gives (and counts the reads of)."""

from __future__ import annotations

import re
from collections import Counter
from typing import List, Optional, Sequence

import pytest

from cgmand import rules
from cgmand.errors import ConfigError, ProcessGone

SOURCE = "/etc/cgman/rules.d/10-batch.toml"
NO_PASSWD_ID = 4242424  # no passwd or group entry on the test host (asserted below)


class FakeFacts(rules.Facts):
    """Given values; ``reads`` counts every attribute read."""

    def __init__(self, comm: str = "bash", exe: Optional[str] = "/usr/bin/bash", argv: Sequence[str] = ("bash",),
                 uid: int = 1000, gids: Sequence[int] = (1000,), cgroup: str = "/user.slice/session-1.scope",
                 parent: Optional["FakeFacts"] = None):
        self._comm, self._exe, self._argv, self._uid = comm, exe, list(argv), uid
        self._gids, self._cgroup, self._parent = tuple(gids), cgroup, parent
        self.reads: Counter = Counter()

    def comm(self):
        self.reads["comm"] += 1
        return self._comm

    def exe(self):
        self.reads["exe"] += 1
        return self._exe

    def argv(self):
        self.reads["argv"] += 1
        return list(self._argv)

    def uid(self):
        self.reads["uid"] += 1
        return self._uid

    def gids(self):
        self.reads["gids"] += 1
        return self._gids

    def cgroup(self):
        self.reads["cgroup"] += 1
        return self._cgroup

    def parent(self):
        self.reads["parent"] += 1
        return self._parent


def parse(*tables, source: str = SOURCE):
    errors: List[ConfigError] = []
    out = rules.parse(list(tables), source, errors)
    return out, errors


def one(**table) -> rules.Rule:
    """A rule that must parse cleanly."""
    table.setdefault("name", "r")
    if "ignore" not in table:
        table.setdefault("place", "batch")
    parsed, errors = parse(table)
    assert errors == [], [e.message for e in errors]
    assert len(parsed) == 1
    return parsed[0]


def refused(table, source: str = SOURCE) -> List[ConfigError]:
    parsed, errors = parse(table, source=source)
    assert parsed == []
    assert errors, "expected the rule to be refused"
    return errors


def only_error(table) -> ConfigError:
    errors = refused(table)
    assert len(errors) == 1, [e.message for e in errors]
    return errors[0]


def texts(values) -> list:
    return [v.text if isinstance(v, rules.Pattern) else v for v in values]


# --- parsing: what is accepted ---------------------------------------------------------------

def test_a_full_rule_parses_into_its_fields():
    parsed, errors = parse(
        {"name": "first", "comm": "a", "place": "web"},
        {"name": " builds ", "group": "root", "comm": ["cc1*", "rustc", "ld*"], "place": "/batch/%u",
         "priority": 7, "force": True, "origins": ["services", "containers"]},
    )
    assert errors == []
    assert [r.name for r in parsed] == ["first", "builds"]
    rule = parsed[1]
    assert (rule.source, rule.position, rule.priority) == (SOURCE, 1, 7)
    assert rule.place == "batch/%u"  # the leading slash stripped, template kept for destination()
    assert rule.ignore is False and rule.force is True
    assert rule.origins == ("services", "containers")
    assert set(rule.match) == {"group", "comm"}
    assert rule.match["group"] == (0,)
    assert texts(rule.match["comm"]) == ["cc1*", "rustc", "ld*"]
    assert rule.where() == f"{SOURCE}: rule[1]"
    assert parsed[0].priority == 0 and parsed[0].force is False and parsed[0].origins == ()


def test_origins_may_be_a_single_string():
    assert one(comm="x", origins="anywhere").origins == ("anywhere",)


@pytest.mark.parametrize("key, raw, compiled", [
    ("user", "root", (0,)),
    ("user", 0, (0,)),
    ("user", "1000", (1000,)),
    ("user", ["root", 1000, "2000"], (0, 1000, 2000)),
    ("uid", 1000, (1000,)),
    ("uid", "0", (0,)),
    ("uid", 2**32 - 2, (2**32 - 2,)),
    ("group", "root", (0,)),
    ("group", 27, (27,)),
    ("gid", 100, (100,)),
    ("gid", [0, 5], (0, 5)),
    ("args", "--release", ("--release",)),
    ("args", ["-j", "--release"], ("-j", "--release")),
])
def test_id_and_args_keys_are_accepted(key, raw, compiled):
    assert one(**{key: raw}).match == {key: compiled}


@pytest.mark.parametrize("key, raw", [
    ("comm", "cc1*"),
    ("comm", ["make", "ninja"]),
    ("exe", "/usr/bin/*"),
    ("exe", "/usr/**/python3*"),
    ("cmdline", r"-m\s+http\.server"),
    ("cgroup", "/user.slice/**"),
    ("cgroup", ["/system.slice/*.service", "/init.scope"]),
])
def test_pattern_keys_keep_their_text(key, raw):
    rule = one(**{key: raw})
    assert texts(rule.match[key]) == (raw if isinstance(raw, list) else [raw])
    assert all(isinstance(p.regex, re.Pattern) for p in rule.match[key])


def test_parent_as_a_string_is_its_comm():
    rule = one(parent="sshd")
    (key, values), = rule.match["parent"]
    assert key == "comm" and texts(values) == ["sshd"]


def test_parent_as_a_list_is_its_comm():
    (key, values), = one(parent=["sshd", "login"]).match["parent"]
    assert key == "comm" and texts(values) == ["sshd", "login"]


def test_parent_as_a_table():
    subs = dict(one(parent={"comm": "bash", "exe": ["/bin/*", "/usr/bin/*"]}).match["parent"])
    assert texts(subs["comm"]) == ["bash"]
    assert texts(subs["exe"]) == ["/bin/*", "/usr/bin/*"]


def test_ignore_rule_has_no_place():
    rule = one(comm="x", ignore=True)
    assert rule.ignore is True and rule.place is None


def test_ignore_false_with_a_place_is_a_placing_rule():
    rule = one(comm="x", place="batch", ignore=False)
    assert rule.ignore is False and rule.place == "batch"


@pytest.mark.parametrize("place", ["batch/%u", "batch/%U", "g-%g", "%G/x", "%u-%U/%g-%G"])
def test_template_fields_are_accepted(place):
    assert one(comm="x", place=place).place == place


@pytest.mark.parametrize("comm", [
    "abcdefghijklmno",  # 15: TASK_COMM_LEN - 1
    "averyveryverylo*",  # literal part 15
    "averyveryveryl?",  # "?" counts one character: 15
    "averyveryvery[lL][oO]*",  # a class counts one character: 15
    "**averyveryverylo**",  # stars count nothing
])
def test_comm_up_to_15_literal_characters_is_accepted(comm):
    assert texts(one(comm=comm).match["comm"]) == [comm]


# --- parsing: refusals, located by key ------------------------------------------------------

def test_non_table_input_is_refused():
    for raw in (5, {"name": "x"}, [5], [{"name": "x", "comm": "a", "place": "b"}, "x"]):
        errors: List[ConfigError] = []
        assert rules.parse(raw, SOURCE, errors) == []
        assert len(errors) == 1
        assert errors[0].key == "rule" and errors[0].source == SOURCE
        assert "expected [[rule]] tables" in errors[0].message
    errors = []
    rules.parse(5, SOURCE, errors)
    assert errors[0].message.endswith("found 5")


def test_error_is_located_by_source_and_position():
    parsed, errors = parse({"name": "ok", "comm": "a", "place": "b"}, {"name": "bad", "comm": "", "place": "b"},
                           {"name": "ok2", "comm": "c", "place": "d"})
    assert [r.name for r in parsed] == ["ok", "ok2"]
    assert [e.key for e in errors] == ["rule[1].comm"]
    assert errors[0].source == SOURCE
    assert errors[0].message.startswith(f"{SOURCE}: rule[1].comm: ")
    assert "expected a non-empty string" in errors[0].message


def test_neither_place_nor_ignore_is_refused():
    err = only_error({"name": "r", "comm": "x"})
    assert err.key == "rule[0]"
    assert 'needs an action: place = "GROUP" or ignore = true' in err.message


def test_ignore_false_without_place_is_refused():
    err = only_error({"name": "r", "comm": "x", "ignore": False})
    assert err.key == "rule[0]" and "needs an action" in err.message


def test_both_place_and_ignore_is_refused():
    err = only_error({"name": "r", "comm": "x", "place": "batch", "ignore": True})
    assert err.key == "rule[0]"
    assert "not both" in err.message
    assert err.hint == "split it in two"


def test_ignore_not_a_boolean_is_refused():
    errors = refused({"name": "r", "comm": "x", "ignore": "yes"})
    assert [e.key for e in errors] == ["rule[0].ignore", "rule[0]"]
    assert 'expected true or false; found "yes"' in errors[0].message


@pytest.mark.parametrize("table, found", [
    ({"comm": "x", "place": "b"}, "found None"),
    ({"name": "", "comm": "x", "place": "b"}, 'found ""'),
    ({"name": "   ", "comm": "x", "place": "b"}, 'found "   "'),
    ({"name": 3, "comm": "x", "place": "b"}, "found 3"),
])
def test_missing_or_empty_name_is_refused(table, found):
    err = only_error(table)
    assert err.key == "rule[0].name"
    assert "every rule needs a name" in err.message and found in err.message


def test_unknown_key_suggests_the_close_one():
    err = only_error({"name": "r", "comn": "x", "comm": "y", "place": "b"})
    assert err.key == "rule[0].comn"
    assert 'unknown key "comn"' in err.message
    assert err.hint == 'did you mean "comm"?'
    assert err.reference == "key-unknown"


def test_unknown_key_without_a_close_one_lists_the_keys():
    err = only_error({"name": "r", "zzzzzz": 1, "comm": "y", "place": "b"})
    assert err.key == "rule[0].zzzzzz"
    assert err.hint.startswith("expected one of user, uid, group")


@pytest.mark.parametrize("key, value, message", [
    ("user", "nosuchuser-cgman", 'unknown user "nosuchuser-cgman"'),
    ("group", "nosuchgroup-cgman", 'unknown group "nosuchgroup-cgman"'),
    ("uid", "root", 'expected a user number; found "root"'),
    ("gid", "root", 'expected a group number; found "root"'),
    ("uid", -1, "expected a user number from 0 to 4294967294; found -1"),
    ("gid", 2**32 - 1, "expected a group number from 0 to 4294967294; found 4294967295"),
    ("user", True, "expected a user name or number; found true"),
    ("group", "", 'expected a group name or number; found ""'),
    ("comm", 5, "expected a non-empty string; found 5"),
    ("exe", "usr/bin/x", 'expected an absolute path glob, such as "/usr/bin/*"; found "usr/bin/x"'),
    ("cgroup", "user.slice", 'expected an absolute path glob, such as "/usr/bin/*"; found "user.slice"'),
    ("exe", "/usr/[bin", 'unclosed "["'),
    ("cmdline", "(unclosed", 'invalid regular expression "(unclosed"'),
    ("cmdline", "", 'expected a non-empty string; found ""'),
    ("args", 3, "expected a non-empty string; found 3"),
])
def test_bad_match_values_are_refused(key, value, message):
    err = only_error({"name": "r", key: value, "place": "b"})
    assert err.key == f"rule[0].{key}"
    assert message in err.message


@pytest.mark.parametrize("comm", [
    "abcdefghijklmnop",  # 16
    "averyveryverylongna*",  # literal part 19: can never match a 15-character comm
    "averyveryverylon*",  # literal part 16
    "averyveryverylo?",  # 15 + "?"
    "averyveryverylo[nN]*",  # 15 + a class
])
def test_comm_longer_than_the_kernel_keeps_is_refused(comm):
    err = only_error({"name": "r", "comm": comm, "place": "b"})
    assert err.key == "rule[0].comm"
    assert "can never match: the kernel keeps 15 characters" in err.message


def test_bad_value_in_a_list_is_refused_at_the_key():
    err = only_error({"name": "r", "user": ["root", "nosuchuser-cgman"], "place": "b"})
    assert err.key == "rule[0].user" and 'unknown user "nosuchuser-cgman"' in err.message


@pytest.mark.parametrize("key", ["user", "uid", "group", "gid", "comm", "exe", "cmdline", "args", "cgroup",
                                 "parent"])
def test_empty_list_is_refused(key):
    errors = refused({"name": "r", key: [], "place": "b"})
    keys = [e.key for e in errors]
    # parent = [] is read as a comm list, located below parent
    assert keys == [f"rule[0].{'parent.comm' if key == 'parent' else key}"]
    assert "an empty list matches nothing" in errors[0].message


def test_rule_without_match_key_is_refused_with_the_hint():
    err = only_error({"name": "everything", "place": "b"})
    assert err.key == "rule[0]"
    assert "needs at least one match key (user, uid, group, gid, comm, exe, cmdline, args, parent, cgroup)" \
        in err.message
    assert err.hint == 'to match every process, say so: cgroup = "/**"'


def test_match_every_process_as_the_hint_says():
    rule = one(name="all", cgroup="/**")
    assert rules.check(rule, FakeFacts(cgroup="/"))[0] is True
    assert rules.check(rule, FakeFacts(cgroup="/a/b/c"))[0] is True


@pytest.mark.parametrize("place, message", [
    ("batch/%x", "unknown template field %x"),
    ("%%", "unknown template field %%"),
    ("batch/..", '".." is not allowed'),
    ("../batch", '".." is not allowed'),
    ("a.b", "contains a dot"),
    ("", "expected a group"),
    ("/", "expected a group"),
    (5, "expected a group"),
    ("a//b", "empty path component"),
])
def test_bad_place_is_refused(place, message):
    err = only_error({"name": "r", "comm": "x", "place": place})
    assert err.key == "rule[0].place"
    assert message in err.message


def test_unknown_template_field_hint_lists_the_fields():
    err = only_error({"name": "r", "comm": "x", "place": "a/%x"})
    assert err.hint == "fields: %u (user name), %U (uid), %g (group name), %G (gid)"


@pytest.mark.parametrize("table, key, message", [
    ({"priority": "high"}, "priority", 'expected an integer; found "high"'),
    ({"priority": True}, "priority", "expected an integer; found true"),
    ({"force": "yes"}, "force", 'expected true or false; found "yes"'),
    ({"origins": ["services", "nowhere"]}, "origins", 'unknown origin "nowhere"'),
    ({"origins": "nowhere"}, "origins", 'unknown origin "nowhere"'),
])
def test_bad_other_keys_are_refused(table, key, message):
    err = only_error({"name": "r", "comm": "x", "place": "b", **table})
    assert err.key == f"rule[0].{key}"
    assert message in err.message


@pytest.mark.parametrize("parent, key, message", [
    ({"cmdline": "x"}, "rule[0].parent.cmdline", 'unknown key "cmdline"'),
    ({}, "rule[0].parent", "expected a comm glob or a table"),
    (5, "rule[0].parent", "found 5"),
    ({"exe": "bin/sh"}, "rule[0].parent.exe", "expected an absolute path glob"),
    ({"comm": "averyveryverylongna"}, "rule[0].parent.comm", "can never match"),
])
def test_bad_parent_is_refused(parent, key, message):
    err = only_error({"name": "r", "parent": parent, "place": "b"})
    assert err.key == key
    assert message in err.message


def test_every_problem_of_a_rule_is_reported():
    errors = refused({"comn": "x", "uid": "x", "place": "a/%x"})
    assert [e.key for e in errors] == ["rule[0].comn", "rule[0].name", "rule[0].place", "rule[0].uid"]


# --- globs ---------------------------------------------------------------------------------

def matches(pattern: rules.Pattern, text: str) -> bool:
    return pattern.regex.match(text) is not None


@pytest.mark.parametrize("glob, text, expected", [
    ("/usr/bin/*", "/usr/bin/python3", True),
    ("/usr/bin/*", "/usr/bin/", True),
    ("/usr/bin/*", "/usr/bin/sub/python3", False),  # * stays in its segment
    ("/usr/*/python3", "/usr/local/bin/python3", False),
    ("/usr/**", "/usr/local/bin/python3", True),  # ** crosses segments
    ("/usr/**/python3", "/usr/local/bin/python3", True),
    ("/usr/**/python3", "/usr/local/bin/python3.11", False),  # anchored at the end
    ("/usr/bin/python3", "/usr/bin/python3x", False),
    ("/usr/bin/python3", "/opt/usr/bin/python3", False),  # anchored at the start
    ("/usr/bin/python?", "/usr/bin/python3", True),
    ("/usr/bin/python?", "/usr/bin/python", False),
    ("/a?b", "/a/b", False),  # ? stays in its segment
    ("/bin/[abc]sh", "/bin/bsh", True),
    ("/bin/[abc]sh", "/bin/dsh", False),
    ("/bin/[!abc]sh", "/bin/dsh", True),
    ("/bin/[!abc]sh", "/bin/ash", False),
    ("/usr/bin/python3.1", "/usr/bin/python3x1", False),  # "." is literal
    ("/a+b", "/a+b", True),
    ("/a+b", "/aab", False),
])
def test_path_glob(glob, text, expected):
    pattern = rules.path_glob(glob)
    assert pattern.text == glob
    assert matches(pattern, text) is expected


def test_path_glob_unclosed_class_raises_value_error():
    with pytest.raises(ValueError, match=r'unclosed "\[" in'):
        rules.path_glob("/usr/bin/[ab")


def test_path_glob_class_range():
    assert matches(rules.path_glob("/usr/bin/python3.[0-9]*"), "/usr/bin/python3.11")


def test_empty_class_in_exe_is_a_located_error_not_a_crash():
    errors = refused({"name": "r", "exe": "/usr/bin/[]", "place": "b"})
    assert [e.key for e in errors] == ["rule[0].exe"]


@pytest.mark.parametrize("glob, text, expected", [
    ("cc1*", "cc1plus", True),
    ("cc1*", "xcc1", False),
    ("ld?", "ldd", True),
    ("ld?", "ld", False),
    ("[kK]worker*", "Kworker/0:1", True),  # fnmatch: * crosses "/"
    ("[!k]*", "kthreadd", False),
    ("python3.1", "python3x1", False),
])
def test_name_glob_is_fnmatch(glob, text, expected):
    assert matches(rules.name_glob(glob), text) is expected


def test_patterns_compare_by_text():
    assert rules.name_glob("a*") == rules.name_glob("a*")
    assert rules.name_glob("a*") != rules.name_glob("b*")
    assert hash(rules.path_glob("/x")) == hash(rules.path_glob("/x"))


# --- order and duplicates -------------------------------------------------------------------

def test_order_priority_then_file_basename_then_position():
    a, _ = parse({"name": "a0", "comm": "x", "place": "p"}, {"name": "a1", "comm": "x", "place": "p"},
                 source="/etc/cgman/rules.d/20-late.toml")
    b, _ = parse({"name": "b0", "comm": "x", "place": "p"}, {"name": "b1", "comm": "x", "place": "p", "priority": 5},
                 source="/usr/lib/cgman/rules.d/10-early.toml")  # basename, not the directory, orders
    c, _ = parse({"name": "c0", "comm": "x", "place": "p", "priority": -1},
                 source="/etc/cgman/rules.d/00-first.toml")
    ordered = rules.order(a + b + c)
    assert [r.name for r in ordered] == ["b1", "b0", "a0", "a1", "c0"]
    assert b[1].order() == (-5, "10-early.toml", 1)


def test_duplicates_report_the_second_rule():
    first, _ = parse({"name": "same", "comm": "x", "place": "p"}, {"name": "other", "comm": "x", "place": "q"},
                     source="/etc/cgman/a.toml")
    second, _ = parse({"name": "x", "comm": "x", "place": "p"}, {"name": "same", "comm": "y", "place": "r"},
                      source="/etc/cgman/b.toml")
    errors = rules.duplicates(first + second)
    assert len(errors) == 1
    err = errors[0]
    assert (err.source, err.key, err.reference) == ("/etc/cgman/b.toml", "rule[1].name", "rule-duplicate")
    assert 'rule name "same" is used twice: also /etc/cgman/a.toml: rule[0]' in err.message


def test_no_duplicates_no_errors():
    parsed, _ = parse({"name": "a", "comm": "x", "place": "p"}, {"name": "b", "comm": "x", "place": "p"})
    assert rules.duplicates(parsed) == []


# --- check ---------------------------------------------------------------------------------

@pytest.mark.parametrize("table, facts, ok, why", [
    ({"uid": 0}, FakeFacts(uid=0), True, "uid 0 is 0"),
    ({"uid": 0}, FakeFacts(uid=1000), False, "uid 1000 is not 0"),
    ({"user": ["root", 1000]}, FakeFacts(uid=1000), True, "uid 1000 is any of 0, 1000"),
    ({"user": ["root", 1000]}, FakeFacts(uid=7), False, "uid 7 is not any of 0, 1000"),
    ({"gid": 27}, FakeFacts(gids=(1000, 27)), True, "group 27 is 27"),
    ({"group": [5, 1000]}, FakeFacts(gids=(1000,)), True, "group 1000 is any of 5, 1000"),
    ({"gid": 27}, FakeFacts(gids=(1000,)), False, "groups 1000 include none of 27"),
    ({"comm": "ba*"}, FakeFacts(comm="bash"), True, "comm 'bash' matches 'ba*'"),
    ({"comm": ["zsh", "fish"]}, FakeFacts(comm="bash"), False, "comm 'bash' does not match any of 'zsh', 'fish'"),
    ({"comm": ["zsh", "b*"]}, FakeFacts(comm="bash"), True, "comm 'bash' matches 'b*'"),
    ({"exe": "/usr/bin/*"}, FakeFacts(exe="/usr/bin/bash"), True, "exe '/usr/bin/bash' matches '/usr/bin/*'"),
    ({"exe": "/usr/bin/*"}, FakeFacts(exe="/usr/local/bin/bash"), False,
     "exe '/usr/local/bin/bash' does not match '/usr/bin/*'"),
    ({"exe": "/**"}, FakeFacts(exe=None), False, "exe cannot be read"),
    ({"cgroup": "/user.slice/**"}, FakeFacts(cgroup="/user.slice/u/s.scope"), True,
     "cgroup '/user.slice/u/s.scope' matches '/user.slice/**'"),
    ({"cgroup": "/user.slice/*"}, FakeFacts(cgroup="/user.slice/u/s.scope"), False,
     "cgroup '/user.slice/u/s.scope' does not match '/user.slice/*'"),
    ({"args": "--release"}, FakeFacts(argv=["cargo", "build", "--release"]), True, "argument '--release' is there"),
    ({"args": ["-j", "--fast"]}, FakeFacts(argv=["make", "all"]), False, "no argument is any of '-j', '--fast'"),
    ({"cmdline": r"http\.server \d+"}, FakeFacts(argv=["python3", "-m", "http.server", "8000"]), True,
     "cmdline 'python3 -m http.server 8000' matches 'http\\\\.server \\\\d+'"),
    ({"cmdline": "^-m"}, FakeFacts(argv=["python3", "-m", "x"]), False,
     "cmdline 'python3 -m x' does not match '^-m'"),
])
def test_check_each_key(table, facts, ok, why):
    rule = one(**table)
    assert rules.check(rule, facts) == (ok, why)
    assert rules.matches(rule, facts) is ok  # the engine's path, without the reasons, agrees


def test_args_ignore_argv0():
    rule = one(args="bash")
    assert rules.check(rule, FakeFacts(argv=["bash", "-c", "true"])) == (False, "no argument is 'bash'")
    assert rules.check(rule, FakeFacts(argv=["sudo", "bash"])) == (True, "argument 'bash' is there")


def test_args_match_a_whole_argument_only():
    rule = one(args="--rel")
    assert rules.check(rule, FakeFacts(argv=["cargo", "--release"]))[0] is False


def test_cmdline_is_a_search_on_argv_joined_by_spaces():
    rule = one(cmdline="-m http")
    assert rules.check(rule, FakeFacts(argv=["python3", "-m", "http.server"]))[0] is True
    assert rules.check(rule, FakeFacts(argv=["python3", "-mhttp"]))[0] is False
    assert rules.check(one(cmdline="^python3 -m$"), FakeFacts(argv=["python3", "-m"]))[0] is True


def test_cmdline_of_a_process_without_arguments():
    assert rules.check(one(cmdline="."), FakeFacts(argv=[])) == (False, "cmdline '' does not match '.'")


def test_comm_glob_is_anchored():
    rule = one(comm="sh")
    assert rules.check(rule, FakeFacts(comm="bash"))[0] is False
    assert rules.check(rule, FakeFacts(comm="shx"))[0] is False


def test_group_miss_with_several_groups_reads_well():
    assert rules.check(one(gid=5), FakeFacts(gids=(1000, 27))) == (False, "groups 1000, 27 include none of 5")


def test_keys_are_anded_in_cost_order_and_all_reasons_are_given():
    rule = one(cmdline="build", comm="cargo", uid=1000, exe="/usr/bin/*")
    ok, why = rules.check(rule, FakeFacts(comm="cargo", exe="/usr/bin/cargo", argv=["cargo", "build"], uid=1000))
    assert ok is True
    assert why == ("comm 'cargo' matches 'cargo'; uid 1000 is 1000; exe '/usr/bin/cargo' matches '/usr/bin/*'; "
                   "cmdline 'cargo build' matches 'build'")


def test_one_failing_key_fails_the_rule():
    rule = one(comm="cargo", uid=1000)
    assert rules.check(rule, FakeFacts(comm="cargo", uid=0)) == (False, "uid 0 is not 1000")
    assert rules.check(rule, FakeFacts(comm="rustc", uid=1000)) == (False, "comm 'rustc' does not match 'cargo'")


def test_a_comm_miss_reads_nothing_dearer():
    """comm is read first (a 16-byte file, and the most selective key): a miss there reads
    nothing else, which is what keeps most processes cheap."""
    rule = one(cmdline="x", args="y", exe="/x", parent="p", cgroup="/**", comm="c", gid=1, uid=0)
    facts = FakeFacts(uid=1000, comm="other", parent=FakeFacts())
    assert rules.check(rule, facts) == (False, "comm 'other' does not match 'c'")
    assert facts.reads == Counter({"comm": 1})


def test_a_uid_miss_reads_nothing_dearer():
    rule = one(cmdline="x", args="y", exe="/x", parent="p", cgroup="/**", comm="c", gid=1, uid=0)
    facts = FakeFacts(uid=1000, comm="c", parent=FakeFacts())
    assert rules.check(rule, facts) == (False, "uid 1000 is not 0")
    assert facts.reads == Counter({"comm": 1, "uid": 1})


def test_the_first_failing_key_decides_and_later_keys_are_not_read():
    rule = one(cmdline="x", args="y", exe="/x", comm="c", uid=1000)
    facts = FakeFacts(uid=0, comm="c")
    assert rules.check(rule, facts) == (False, "uid 0 is not 1000")
    assert facts.reads == Counter({"comm": 1, "uid": 1})
    assert facts.reads["argv"] == 0 and facts.reads["exe"] == 0


def test_cmdline_is_read_last():
    rule = one(cmdline="x", parent="sshd")
    facts = FakeFacts(argv=["x"], parent=None)
    assert rules.check(rule, facts) == (False, "no parent to look at (gone, or none)")
    assert facts.reads["argv"] == 0


def test_parent_matching():
    rule = one(parent={"comm": "sshd", "exe": "/usr/sbin/*"})
    good = FakeFacts(parent=FakeFacts(comm="sshd", exe="/usr/sbin/sshd"))
    ok, why = rules.check(rule, good)
    assert ok is True
    assert why == "parent: comm 'sshd' matches 'sshd'; exe '/usr/sbin/sshd' matches '/usr/sbin/*'"
    assert rules.check(rule, FakeFacts(parent=FakeFacts(comm="login"))) == \
        (False, "parent: comm 'login' does not match 'sshd'")
    assert rules.check(rule, FakeFacts(parent=FakeFacts(comm="sshd", exe=None))) == \
        (False, "parent: exe cannot be read")


def test_parent_attributes_are_read_once():
    parent = FakeFacts(comm="sshd", exe="/usr/sbin/sshd")
    assert rules.check(one(parent={"comm": "sshd", "exe": "/usr/sbin/*"}), FakeFacts(parent=parent))[0] is True
    assert parent.reads == Counter({"comm": 1, "exe": 1})


def test_parent_gone_while_looked_at_is_no_match():
    class Vanishing(FakeFacts):
        def exe(self):
            raise ProcessGone("readlink", "/proc/42/exe", 2, "process 42 is gone")

    rule = one(parent={"comm": "sshd", "exe": "/usr/sbin/*"})
    assert rules.check(rule, FakeFacts(parent=Vanishing(comm="sshd"))) == (False, "the parent is gone")


def test_parent_is_about_the_parent_not_the_process():
    rule = one(parent="sshd")
    child = FakeFacts(comm="sshd", parent=FakeFacts(comm="systemd"))
    assert rules.check(rule, child)[0] is False
    assert child.reads["comm"] == 0


def test_parent_missing_is_no_match():
    facts = FakeFacts(parent=None)
    assert rules.check(one(parent="sshd"), facts) == (False, "no parent to look at (gone, or none)")
    assert facts.reads["parent"] == 1


# --- decide --------------------------------------------------------------------------------

def three_rules():
    return rules.order(parse(
        {"name": "roots", "uid": 0, "place": "system"},
        {"name": "shells", "comm": ["bash", "zsh"], "place": "shells"},
        {"name": "all", "cgroup": "/**", "place": "rest"},
    )[0])


def test_decide_returns_the_first_match_and_stops():
    ordered = three_rules()
    facts = FakeFacts(uid=1000, comm="zsh")
    decision = rules.decide(ordered, facts)
    assert decision.rule is ordered[1]
    assert decision.verdicts == []
    assert facts.reads["cgroup"] == 0  # "all" was never looked at


def test_decide_no_match():
    ordered = three_rules()[:2]
    decision = rules.decide(ordered, FakeFacts(uid=1000, comm="fish"))
    assert decision.rule is None and decision.verdicts == []


def test_decide_explain_gives_every_verdict():
    ordered = three_rules()
    facts = FakeFacts(uid=1000, comm="zsh", cgroup="/user.slice")
    decision = rules.decide(ordered, facts, explain=True)
    assert decision.rule is ordered[1]
    assert [(r.name, ok, why) for r, ok, why in decision.verdicts] == [
        ("roots", False, "uid 1000 is not 0"),
        ("shells", True, "comm 'zsh' matches 'zsh'"),  # the pattern that matched
        ("all", True, "cgroup '/user.slice' matches '/**'"),
    ]
    assert facts.reads["cgroup"] == 1


def test_decide_follows_priority():
    parsed, _ = parse({"name": "low", "comm": "x", "place": "a"},
                      {"name": "high", "comm": "x", "place": "b", "priority": 10})
    assert rules.decide(rules.order(parsed), FakeFacts(comm="x")).rule.name == "high"
    assert rules.decide(parsed, FakeFacts(comm="x")).rule.name == "low"  # decide takes the order it is given


def test_ignore_rule_first_wins_over_a_later_place_rule():
    parsed, _ = parse({"name": "leave-sshd", "comm": "sshd", "ignore": True},
                      {"name": "all", "cgroup": "/**", "place": "rest"})
    decision = rules.decide(rules.order(parsed), FakeFacts(comm="sshd"))
    assert decision.rule.name == "leave-sshd" and decision.rule.ignore is True
    assert rules.decide(rules.order(parsed), FakeFacts(comm="bash")).rule.name == "all"


# --- destination ---------------------------------------------------------------------------

def test_no_passwd_entry_for_the_test_id():
    import grp
    import pwd

    with pytest.raises(KeyError):
        pwd.getpwuid(NO_PASSWD_ID)
    with pytest.raises(KeyError):
        grp.getgrgid(NO_PASSWD_ID)


def test_destination_plain_place_is_returned_as_is():
    facts = FakeFacts()
    assert rules.destination(one(comm="x", place="/batch/jobs"), facts) == "batch/jobs"
    assert facts.reads == Counter()  # nothing to fill: nothing read


def test_destination_of_an_ignore_rule_is_empty():
    assert rules.destination(one(comm="x", ignore=True), FakeFacts()) == ""


def test_destination_fills_the_template_by_name():
    rule = one(comm="x", place="batch/%u/%g/%U-%G")
    assert rules.destination(rule, FakeFacts(uid=0, gids=(0, 27))) == "batch/root/root/0-0"


def test_destination_uses_the_effective_gid_first():
    rule = one(comm="x", place="g%G")
    assert rules.destination(rule, FakeFacts(uid=0, gids=(NO_PASSWD_ID, 0))) == f"g{NO_PASSWD_ID}"


def test_destination_falls_back_to_the_number():
    rule = one(comm="x", place="batch/%u/%g")
    facts = FakeFacts(uid=NO_PASSWD_ID, gids=(NO_PASSWD_ID,))
    assert rules.destination(rule, facts) == f"batch/{NO_PASSWD_ID}/{NO_PASSWD_ID}"
    assert rules.destination(rule, FakeFacts(uid=NO_PASSWD_ID, gids=(0,))) == f"batch/{NO_PASSWD_ID}/root"
    assert rules.destination(rule, FakeFacts(uid=0, gids=(NO_PASSWD_ID,))) == f"batch/root/{NO_PASSWD_ID}"


def test_a_double_star_segment_also_matches_nothing_between():
    assert matches(rules.path_glob("/a/**/b"), "/a/b") and matches(rules.path_glob("/a/**/b"), "/a/x/y/b")
    assert not matches(rules.path_glob("/a/**/b"), "/ab")


def test_a_negated_class_never_matches_a_slash():
    assert not matches(rules.path_glob("/x/[!abc]"), "/x//") and matches(rules.path_glob("/x/[!abc]"), "/x/d")


def test_a_place_may_end_with_a_slash():
    rule = rules.parse([{"name": "r", "comm": "x", "place": "/batch/%u/"}], "f.toml", [])[0]
    assert rule.place == "batch/%u"


def test_a_user_name_that_is_no_group_name_becomes_the_number(monkeypatch):
    monkeypatch.setitem(rules._NAMES, 4242, "john.doe")  # dots are the kernel's, in cgroup names
    rule = rules.parse([{"name": "r", "comm": "x", "place": "batch/%u"}], "f.toml", [])[0]
    assert rules.destination(rule, FakeFacts(uid=4242, gids=(4242,))) == "batch/4242"


# --- the comm filter: one regex that answers for most execs -------------------------------

def test_comm_filter_accepts_exactly_what_some_rule_could_match():
    ruleset = [one(name="a", comm=["cc1*", "rustc"]), one(name="b", comm="ld.[bg]*", uid=0),
               one(name="c", comm="cc1*", ignore=True)]
    pattern = rules.comm_filter(ruleset)
    assert pattern is not None
    for comm in ["cc1", "cc1plus", "rustc", "ld.bfd", "ld.gold", "bash", "rustc2", "xcc1", "ld.lld", "ld"]:
        could = any(p.regex.match(comm) for rule in ruleset for p in rule.match["comm"])
        assert (pattern.match(comm) is not None) is could, comm
    # and where it says no, no rule matches, whatever else the process is
    assert rules.decide(ruleset, FakeFacts(comm="bash", uid=0)).rule is None


@pytest.mark.parametrize("ruleset", [
    [],
    [{"comm": "cc1*"}, {"uid": 0}],  # a rule that matches whatever the comm
    [{"exe": "/usr/bin/*"}],
    [{"parent": "sshd"}],  # the parent's comm is not the process's
])
def test_no_comm_filter_when_a_rule_does_not_look_at_comm(ruleset):
    assert rules.comm_filter([one(name=f"r{i}", **table) for i, table in enumerate(ruleset)]) is None
