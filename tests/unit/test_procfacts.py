"""kernel/procfacts.py on a fake procfs: every attribute parsed from files in the kernel's
format, each file read at most once, ProcessGone for a process that is not there, the parent
chain, and one check against this test process's real /proc entry."""

from __future__ import annotations

import errno
import os
import shutil
import sys

import pytest

from cgmand import rules
from cgmand.errors import KernelError, ProcessGone
from cgmand.kernel import procfacts
from cgmand.kernel.procfacts import PF_KTHREAD, ProcFacts
from fakes import build

USER_FLAGS = 4194560  # 0x00400100: PF_RANDOMIZE | PF_FORKNOEXEC, a user process
KTHREAD_FLAGS = 2129984  # 0x00208040: kthreadd's (PF_KTHREAD | PF_NOFREEZE | PF_NOSETAFFINITY)


def stat_line(pid, comm, state="S", ppid=1, flags=USER_FLAGS, starttime=2160864):
    """/proc/PID/stat as the kernel writes it: pid, (comm), then fields 3..52 of proc(5).
    The neighbours of the fields procfacts reads hold other values, so an index off by
    one reads something else."""
    after = [state, ppid, pid, pid - 7, 34816, pid, flags,  # 3 state .. 9 flags
             99, 0, 0, 0, 12, 3, 0, 0, 20, 0, 1, 0,  # 10 minflt .. 21 itrealvalue
             starttime,  # 22
             3133440, 366, 18446744073709551615, 94776634589184, 94776634609065, 140721513454304,  # 23..28
             0, 0, 0, 0, 0, 0, 0, 0, 0, 17, 1, 0, 0, 0, 0, 0,  # 29 kstkesp .. 44 cguest_time
             94776634625072, 94776634626688, 94777359392768, 140721513462497, 140721513462517,
             140721513462517, 140721513463787, 0]  # 45 start_data .. 52 exit_code
    assert len(after) == 50
    return f"{pid} ({comm}) " + " ".join(str(v) for v in after) + "\n"


def status(pid, tgid, ppid, uid=(0, 0, 0, 0), gid=(0, 0, 0, 0), groups=(), name="x"):
    lines = [f"Name:\t{name}", "Umask:\t0022", "State:\tS (sleeping)"]
    if tgid is not None:
        lines.append(f"Tgid:\t{tgid}")
    lines += ["Ngid:\t0", f"Pid:\t{pid}", f"PPid:\t{ppid}", "TracerPid:\t0",
              "Uid:\t" + "\t".join(map(str, uid)), "Gid:\t" + "\t".join(map(str, gid)),
              "FDSize:\t64", "Groups:\t" + " ".join(map(str, groups)) + " ",
              "NStgid:\t%d" % pid, "NSpid:\t%d" % pid, "VmPeak:\t   10000 kB", "Threads:\t1"]
    return "\n".join(lines) + "\n"


HYBRID_CGROUP = ("12:pids:/a\n11:memory:/user.slice/user-1000.slice/session-3.scope\n"
                 "4:cpu,cpuacct:/c\n1:name=systemd:/user.slice/x\n0::/y\n")

COMM = "my prog) (x"  # spaces and ")" : what procfacts must not take for the end of the name


@pytest.fixture(name="proc")
def _proc(tmp_path):
    root = tmp_path / "proc"
    build(root, {
        "1": {"stat": stat_line(1, "systemd", "S", 0, USER_FLAGS, 1),
              "status": status(1, 1, 0, name="systemd"),
              "comm": "systemd\n", "cmdline": "/sbin/init\0splash\0",
              "cgroup": "1:name=systemd:/init.scope\n0::/init.scope\n", "ns": {}},
        "2": {"stat": stat_line(2, "kthreadd", "S", 0, KTHREAD_FLAGS, 14),
              "status": status(2, 2, 0, name="kthreadd"),
              "comm": "kthreadd\n", "cmdline": "", "cgroup": "0::/\n"},
        "1000": {"stat": stat_line(1000, "bash", "S", 1, USER_FLAGS, 1500),
                 "status": status(1000, 1000, 1, (1000,) * 4, (1000,) * 4, (24, 27, 1000), name="bash"),
                 "comm": "bash\n", "cmdline": "-bash\0", "cgroup": "0::/z\n", "ns": {}},
        "4242": {"stat": stat_line(4242, COMM, "R", 1000, USER_FLAGS, 2160864),
                 "status": status(4242, 4242, 1000, (1000, 1001, 1000, 1001), (100, 1001, 100, 1001),
                                  (4, 24, 27, 1001, 1005)),
                 "comm": COMM + "\n", "cmdline": "/usr/bin/python3\0-m\0http.server\0--bind\0\0::1\0",
                 "cgroup": HYBRID_CGROUP, "ns": {}},
        "4243": {"stat": stat_line(4243, COMM, "S", 1000, USER_FLAGS, 2160870),  # a thread of 4242
                 "status": status(4243, 4242, 1000), "comm": COMM + "\n", "cmdline": "", "cgroup": "0::/\n"},
        "5000": {"stat": stat_line(5000, "sshd", "Z", 1, USER_FLAGS, 3000),
                 "status": status(5000, 5000, 1, name="sshd"), "comm": "sshd\n",
                 "cmdline": "sshd: alice [priv]",  # a rewritten title: no trailing NUL
                 "cgroup": "4:memory:/m\n3:cpu,cpuacct:/c\n"},  # v1 only, no name=systemd, no cgroup2
        "5001": {"stat": stat_line(5001, "odd", "D", 1, USER_FLAGS, 3001),
                 "status": status(5001, None, 1), "comm": "odd\n",  # no Tgid line
                 "cmdline": "a\0", "cgroup": ""},
        "6000": {"stat": stat_line(6000, "orphan", "S", 7777, USER_FLAGS, 4000),  # ppid 7777 is gone
                 "status": status(6000, 6000, 7777), "comm": "orphan\n", "cmdline": "orphan\0",
                 "cgroup": "0::/\n"},
        "nsfs": {"pid:[4026531836]": "", "pid:[4026532999]": ""},
    })
    os.symlink("/usr/lib/systemd/systemd", root / "1" / "exe")
    os.symlink("/usr/bin/bash (deleted)", root / "1000" / "exe")  # upgraded under it
    os.symlink("/usr/bin/python3.11", root / "4242" / "exe")
    os.symlink("/usr/sbin/sshd", root / "5000" / "exe")
    # ns/pid: a link whose text names the namespace, as the kernel's does
    os.symlink("pid:[4026531836]", root / "1" / "ns" / "pid")
    os.symlink("pid:[4026531836]", root / "1000" / "ns" / "pid")
    os.symlink("pid:[4026532999]", root / "4242" / "ns" / "pid")  # a container's
    return root


def facts(proc, pid):
    return ProcFacts(pid, str(proc))


# --- every attribute -----------------------------------------------------------------------


def test_is_a_rules_facts():
    assert issubclass(ProcFacts, rules.Facts)
    for name in ("comm", "exe", "argv", "uid", "gids", "cgroup", "parent"):
        assert getattr(ProcFacts, name) is not getattr(rules.Facts, name), name


@pytest.mark.parametrize("pid, comm", [(1, "systemd"), (2, "kthreadd"), (4242, COMM), (5000, "sshd")])
def test_comm_drops_only_the_newline(proc, pid, comm):
    assert facts(proc, pid).comm() == comm


def test_comm_keeps_trailing_spaces(proc):
    build(proc, {"7000": {"comm": "sp  \n"}})
    assert facts(proc, 7000).comm() == "sp  "


@pytest.mark.parametrize("pid, exe", [
    (1, "/usr/lib/systemd/systemd"),
    (4242, "/usr/bin/python3.11"),
    (1000, "/usr/bin/bash"),  # " (deleted)" stripped: the path it ran from
    (2, None),  # a kernel thread: no exe link
    (9999, None),  # gone: unreadable, not an error
])
def test_exe(proc, pid, exe):
    assert facts(proc, pid).exe() == exe


def test_exe_strips_only_a_trailing_deleted(proc):
    build(proc, {"7000": {}})
    os.symlink("/opt/a (deleted)/bin/x", proc / "7000" / "exe")
    assert facts(proc, 7000).exe() == "/opt/a (deleted)/bin/x"


@pytest.mark.parametrize("pid, argv", [
    (1, ["/sbin/init", "splash"]),
    (1000, ["-bash"]),
    (4242, ["/usr/bin/python3", "-m", "http.server", "--bind", "", "::1"]),  # an empty argument kept
    (5000, ["sshd: alice [priv]"]),  # no trailing NUL
    (5001, ["a"]),
    (2, []),  # a kernel thread: an empty cmdline
])
def test_argv(proc, pid, argv):
    assert facts(proc, pid).argv() == argv


def test_argv_of_a_single_empty_argument(proc):
    build(proc, {"7000": {"cmdline": "\0"}})
    assert facts(proc, 7000).argv() == [""]


@pytest.mark.parametrize("pid, uid", [(1, 0), (1000, 1000), (4242, 1001)])  # 4242: real 1000, effective 1001
def test_uid_is_the_effective_one(proc, pid, uid):
    assert facts(proc, pid).uid() == uid


def test_gids_effective_first_then_supplementary_without_it(proc):
    assert facts(proc, 4242).gids() == (1001, 4, 24, 27, 1005)  # real gid 100 is not there; 1001 once
    assert facts(proc, 1000).gids() == (1000, 24, 27)


def test_gids_with_no_supplementary_groups(proc):
    assert facts(proc, 1).gids() == (0,)  # "Groups:\t \n", as the kernel writes an empty list


def test_gids_without_duplicate_supplementary_groups(proc):
    build(proc, {"7000": {"status": status(7000, 7000, 1, gid=(5, 5, 5, 5), groups=(4, 4, 5, 27))}})
    assert facts(proc, 7000).gids() == (5, 4, 27)


@pytest.mark.parametrize("pid, cgroup", [
    (4242, "/user.slice/x"),  # hybrid: the name=systemd line wins over 0:: and the rest
    (1000, "/z"),  # pure cgroup2
    (5000, "/m"),  # v1 only: the first line
    (5001, "/"),  # nothing at all
])
def test_cgroup(proc, pid, cgroup):
    assert facts(proc, pid).cgroup() == cgroup


def test_cgroup_prefers_cgroup2_over_a_v1_controller(proc):
    build(proc, {"7000": {"cgroup": "12:pids:/a\n0::/y\n"}})
    assert facts(proc, 7000).cgroup() == "/y"


def test_cgroups_by_hierarchy(proc):
    assert facts(proc, 4242).cgroups() == {
        "pids": "/a", "memory": "/user.slice/user-1000.slice/session-3.scope", "cpu,cpuacct": "/c",
        "name=systemd": "/user.slice/x", "": "/y"}
    assert facts(proc, 1000).cgroups() == {"": "/z"}
    assert facts(proc, 5001).cgroups() == {}


@pytest.mark.parametrize("line, inside", [
    (":cpu,cpuacct:/c", True),
    ("::/y", True),  # the cgroup2 line
    (":pids:/a", True),  # the first line
    (":cpu,cpuacct:/c/d", False),
    (":cpu,cpuacct:/", False),  # a prefix of the path is not the path
    (":cpu:/c", False),  # one controller of a co-mounted pair does not name the hierarchy
    (":pids:/y", False),
])
def test_in_cgroup_is_a_whole_line(proc, line, inside):
    assert facts(proc, 4242).in_cgroup(line) is inside


def test_in_cgroup_is_not_fooled_by_a_colon_in_a_cgroup_name(proc):
    """cgroup names may hold ':': a delegated ".../x::/cgman/web" is not /cgman/web."""
    build(proc, {"7000": {"cgroup": "3:cpu:/user.slice/x:cpu:/cgman/web\n0::/user.slice/y::/cgman/web\n"}})
    assert not facts(proc, 7000).in_cgroup(":cpu:/cgman/web")
    assert not facts(proc, 7000).in_cgroup("::/cgman/web")
    assert facts(proc, 7000).in_cgroup("::/user.slice/y::/cgman/web")


def test_in_cgroup_reads_a_last_line_without_newline(proc):
    build(proc, {"7000": {"cgroup": "12:pids:/a\n0::/y"}})
    assert facts(proc, 7000).in_cgroup("::/y") and not facts(proc, 7000).in_cgroup("::/")


def test_cgroups_keeps_colons_in_a_path(proc):
    build(proc, {"7000": {"cgroup": "1:name=systemd:/a:b/c\n0::/d:e\n"}})
    assert facts(proc, 7000).cgroups() == {"name=systemd": "/a:b/c", "": "/d:e"}
    assert facts(proc, 7000).cgroup() == "/a:b/c"


@pytest.mark.parametrize("pid, start", [(1, 1), (2, 14), (4242, 2160864), (5000, 3000)])
def test_identity_is_pid_and_starttime_field_22(proc, pid, start):
    assert facts(proc, pid).identity() == (pid, start)


@pytest.mark.parametrize("pid, state", [(1, "S"), (4242, "R"), (5000, "Z"), (5001, "D")])
def test_state_is_field_3(proc, pid, state):
    assert facts(proc, pid).state() == state


@pytest.mark.parametrize("pid, ppid", [(1, 0), (2, 0), (1000, 1), (4242, 1000), (6000, 7777)])
def test_ppid_is_field_4(proc, pid, ppid):
    assert facts(proc, pid).ppid() == ppid


@pytest.mark.parametrize("flags, kthread", [
    (KTHREAD_FLAGS, True),
    (PF_KTHREAD, True),
    (USER_FLAGS, False),
    (0, False),
    (0xFFFFFFFF & ~PF_KTHREAD, False),  # every other flag set
])
def test_kernel_thread_is_pf_kthread_in_field_9(proc, flags, kthread):
    build(proc, {"7000": {"stat": stat_line(7000, "k w) x", "S", 2, flags, 55)}})
    assert facts(proc, 7000).kernel_thread() is kthread


def test_kernel_thread_of_the_fixture_processes(proc):
    assert facts(proc, 2).kernel_thread() is True
    assert facts(proc, 1).kernel_thread() is False
    assert facts(proc, 4242).kernel_thread() is False


def test_tgid(proc):
    assert facts(proc, 4242).tgid() == 4242
    assert facts(proc, 4243).tgid() == 4242  # a thread names its process
    assert facts(proc, 5001).tgid() == 5001  # no Tgid line: the pid itself


def test_pid_namespace_is_what_the_ns_link_names(proc):
    init = facts(proc, 1).pid_namespace()
    assert init == "pid:[4026531836]"
    assert facts(proc, 1000).pid_namespace() == init
    container = facts(proc, 4242).pid_namespace()
    assert container == "pid:[4026532999]" and container != init


def test_pid_namespace_unreadable_is_none(proc):
    assert facts(proc, 2).pid_namespace() is None  # no ns/ at all
    assert facts(proc, 9999).pid_namespace() is None  # gone


def test_pid_namespace_is_cached(proc):
    one = facts(proc, 4242)
    first = one.pid_namespace()
    os.unlink(proc / "4242" / "ns" / "pid")
    os.symlink(proc / "nsfs" / "pid:[4026531836]", proc / "4242" / "ns" / "pid")
    assert facts(proc, 4242).pid_namespace() != first  # the change is visible to a new reader
    assert one.pid_namespace() == first


def test_the_comm_parse_survives_a_name_with_close_paren_space(proc):
    """A name such as "a) S 99 (" would fool a parser splitting at the first ")"."""
    build(proc, {"7000": {"stat": stat_line(7000, "a) S 99 (", "T", 321, KTHREAD_FLAGS, 777)}})
    one = facts(proc, 7000)
    assert (one.state(), one.ppid(), one.kernel_thread(), one.identity()) == ("T", 321, True, (7000, 777))


# --- reads cached ----------------------------------------------------------------------------

# method, file it reads, new contents, value before the change, value after (for a fresh reader)
CACHED = [
    ("comm", "comm", "changed\n", COMM, "changed"),
    ("argv", "cmdline", "other\0", ["/usr/bin/python3", "-m", "http.server", "--bind", "", "::1"], ["other"]),
    ("uid", "status", status(4242, 4242, 1000, (5,) * 4, (6,) * 4, (7,)), 1001, 5),
    ("gids", "status", status(4242, 4242, 1000, (5,) * 4, (6,) * 4, (7,)), (1001, 4, 24, 27, 1005), (6, 7)),
    ("tgid", "status", status(4242, 4241, 1000), 4242, 4241),
    ("cgroup", "cgroup", "0::/moved\n", "/user.slice/x", "/moved"),
    ("cgroups", "cgroup", "0::/moved\n", {"pids": "/a", "memory": "/user.slice/user-1000.slice/session-3.scope",
                                            "cpu,cpuacct": "/c", "name=systemd": "/user.slice/x", "": "/y"},
     {"": "/moved"}),
    ("identity", "stat", stat_line(4242, COMM, "Z", 1, KTHREAD_FLAGS, 99), (4242, 2160864), (4242, 99)),
    ("state", "stat", stat_line(4242, COMM, "Z", 1, KTHREAD_FLAGS, 99), "R", "Z"),
    ("ppid", "stat", stat_line(4242, COMM, "Z", 1, KTHREAD_FLAGS, 99), 1000, 1),
    ("kernel_thread", "stat", stat_line(4242, COMM, "Z", 1, KTHREAD_FLAGS, 99), False, True),
]


@pytest.mark.parametrize("method, name, contents, before, after", CACHED, ids=[c[0] for c in CACHED])
def test_a_file_is_read_once(proc, method, name, contents, before, after):
    one = facts(proc, 4242)
    first = getattr(one, method)()
    assert first == before
    (proc / "4242" / name).write_text(contents)
    assert getattr(facts(proc, 4242), method)() == after  # a new reader sees the change
    assert getattr(one, method)() == first  # this one answers from what it read


def test_exe_is_read_once(proc):
    one = facts(proc, 4242)
    assert one.exe() == "/usr/bin/python3.11"
    os.unlink(proc / "4242" / "exe")
    os.symlink("/usr/bin/python3.12", proc / "4242" / "exe")
    assert facts(proc, 4242).exe() == "/usr/bin/python3.12"
    assert one.exe() == "/usr/bin/python3.11"


def test_an_unreadable_exe_is_remembered_too(proc):
    one = facts(proc, 2)
    assert one.exe() is None
    os.symlink("/usr/bin/late", proc / "2" / "exe")
    assert facts(proc, 2).exe() == "/usr/bin/late"
    assert one.exe() is None


def test_each_file_is_opened_once_for_all_the_attributes_it_holds(proc, monkeypatch):
    opened = []

    real = os.open

    def spy(path, *args, **kwargs):
        opened.append(os.path.basename(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(procfacts.os, "open", spy)
    one = facts(proc, 4242)
    for _ in range(3):
        one.identity(), one.state(), one.kernel_thread(), one.ppid()
        one.uid(), one.gids(), one.tgid()
        one.comm(), one.argv(), one.cgroup(), one.cgroups()
    assert sorted(opened) == ["cgroup", "cmdline", "comm", "stat", "status"]


def test_readlink_once_for_exe(proc, monkeypatch):
    calls = []
    real = os.readlink
    monkeypatch.setattr(procfacts.os, "readlink", lambda path: calls.append(path) or real(path))
    one = facts(proc, 2)  # None too is remembered
    two = facts(proc, 1000)
    for _ in range(3):
        assert one.exe() is None
        assert two.exe() == "/usr/bin/bash"
    assert len(calls) == 2


def test_what_was_read_survives_the_process_exiting(proc):
    one = facts(proc, 4242)
    seen = (one.comm(), one.argv(), one.uid(), one.gids(), one.cgroup(), one.identity(), one.exe())
    shutil.rmtree(proc / "4242")
    assert (one.comm(), one.argv(), one.uid(), one.gids(), one.cgroup(), one.identity(), one.exe()) == seen
    with pytest.raises(ProcessGone):
        facts(proc, 4242).comm()


def test_a_file_not_yet_read_when_the_process_exits_raises(proc):
    one = facts(proc, 4242)
    assert one.comm() == COMM
    shutil.rmtree(proc / "4242")
    with pytest.raises(ProcessGone):
        one.uid()
    assert one.comm() == COMM


# --- a missing process -------------------------------------------------------------------------

READERS = [
    ("comm", "comm"), ("argv", "cmdline"), ("uid", "status"), ("gids", "status"), ("tgid", "status"),
    ("cgroup", "cgroup"), ("cgroups", "cgroup"), ("identity", "stat"), ("state", "stat"),
    ("ppid", "stat"), ("kernel_thread", "stat"),
]


@pytest.mark.parametrize("method, name", READERS, ids=[r[0] for r in READERS])
def test_a_missing_process_raises_process_gone(proc, method, name):
    with pytest.raises(ProcessGone) as caught:
        getattr(facts(proc, 9999), method)()
    err = caught.value
    assert isinstance(err, KernelError)
    assert err.reference == "process-gone"
    assert err.errno == errno.ENOENT
    assert err.path == f"{proc}/9999/{name}"
    assert "9999" in err.message


@pytest.mark.parametrize("method, name", READERS, ids=[r[0] for r in READERS])
def test_a_missing_file_of_a_present_process_raises_process_gone(proc, method, name):
    (proc / "4242" / name).unlink()
    with pytest.raises(ProcessGone):
        getattr(facts(proc, 4242), method)()


def test_a_missing_process_has_no_exe_namespace_or_parent(proc):
    gone = facts(proc, 9999)
    assert gone.exe() is None
    assert gone.pid_namespace() is None
    assert gone.parent() is None  # rules.Facts: "no parent to look at (gone, or none)"


# --- parent chain ------------------------------------------------------------------------------


def test_parent_chain_up_to_pid_1(proc):
    one = facts(proc, 4242)
    parent = one.parent()
    assert isinstance(parent, ProcFacts)
    assert (parent.pid, parent.proc_root) == (1000, str(proc))
    assert parent.comm() == "bash"
    assert parent.exe() == "/usr/bin/bash"
    grand = parent.parent()
    assert (grand.pid, grand.comm()) == (1, "systemd")
    assert grand.parent() is None  # ppid 0


def test_a_kernel_thread_under_pid_0_has_no_parent(proc):
    assert facts(proc, 2).parent() is None


def test_parent_is_cached(proc):
    one = facts(proc, 4242)
    first = one.parent()
    (proc / "4242" / "stat").write_text(stat_line(4242, COMM, "R", 1, USER_FLAGS, 2160864))
    assert one.parent() is first
    assert facts(proc, 4242).parent().pid == 1


def test_a_gone_parent_raises_when_its_attributes_are_read(proc):
    parent = facts(proc, 6000).parent()
    assert parent is not None and parent.pid == 7777
    for method in ("comm", "uid", "gids", "argv", "cgroup"):
        with pytest.raises(ProcessGone):
            getattr(parent, method)()
    assert parent.exe() is None
    assert parent.parent() is None


def test_the_parent_is_read_only_when_asked(proc):
    parent = facts(proc, 6000).parent()  # 7777 is not there yet
    build(proc, {"7777": {"comm": "late\n"}})
    assert parent.comm() == "late"


def test_rules_decide_on_procfacts(proc):
    errors = []
    found = rules.parse([
        {"name": "wrong-parent", "comm": "my prog*", "parent": "zsh", "place": "a"},
        {"name": "hit", "uid": 1001, "gid": 27, "comm": "my prog*", "exe": "/usr/bin/python3*",
         "parent": {"comm": "bash", "exe": "/usr/bin/bash"}, "cgroup": "/user.slice/**",
         "args": "--bind", "cmdline": "http\\.server", "place": "b"},
    ], "t.toml", errors)
    assert errors == []
    decision = rules.decide(found, facts(proc, 4242), explain=True)
    assert decision.rule is not None and decision.rule.name == "hit"
    assert [ok for _, ok, _ in decision.verdicts] == [False, True]


# --- the real /proc ----------------------------------------------------------------------------


def test_this_process_on_the_real_proc():
    with open("/proc/self/stat") as handle:
        text = handle.read()
    fields = text[text.rindex(")") + 2:].split()  # field 3 onwards
    with open("/proc/self/comm") as handle:
        comm = handle.read().rstrip("\n")
    me = ProcFacts(os.getpid())
    assert me.proc_root == "/proc"
    assert me.comm() == comm
    assert me.uid() == os.geteuid()
    if os.getuid() == os.geteuid():
        assert me.uid() == os.getuid()
    assert me.identity() == (os.getpid(), int(fields[22 - 3]))
    assert me.ppid() == os.getppid() == int(fields[4 - 3])
    assert me.tgid() == os.getpid()
    assert me.state() == "R"
    assert me.kernel_thread() is False
    assert me.gids()[0] == os.getegid()
    assert set(me.gids()) == set(os.getgroups()) | {os.getegid()}
    assert me.exe() == os.path.realpath(sys.executable)
    assert me.pid_namespace() == os.readlink("/proc/self/ns/pid")
    assert me.pid_namespace().startswith("pid:[")
    assert me.argv()[0] and os.path.basename(me.argv()[0]).startswith("python")
