"""Who may place what (cgmand/policy.py, pure), and what cgman reads of processes in a fake
procfs (cgmand/kernel/procinfo.py): ancestors, the process table, and uids/gids."""

from __future__ import annotations

import pytest

from cgmand.errors import ProcessGone
from cgmand.kernel import procinfo
from cgmand.model import GroupSpec, Ownership, Perm
from cgmand.policy import Caller, may_move, refusal
from fakes import build

SOURCE = "/etc/cgman/10-web.toml"


def spec(name="web", task=None, perm=True):
    return GroupSpec(name, {}, perm=(Perm(task=task) if task is not None else Perm()) if perm else None,
                     source=SOURCE)


ALICE = Caller(1000, 1000)
BOB = Caller(1001, 1001, frozenset({1001, 27, 50}))


# --- refusal --------------------------------------------------------------------------

@pytest.mark.parametrize("group_spec", [None, spec(perm=False), spec(task=Ownership(uid=5, gid=6))])
def test_root_is_always_allowed(group_spec):
    assert refusal("web", group_spec, Caller(0, 0)) is None
    assert refusal("", group_spec, Caller(0, 1234)) is None


def test_an_undeclared_group_is_refused():
    message = refusal("web/frontend", None, ALICE)
    assert message is not None
    assert "web/frontend" in message
    assert "not declared" in message
    assert "only root may" in message
    assert "uid 1000" in message


def test_the_base_group_is_called_so():
    message = refusal("", None, ALICE)
    assert message.startswith("the base group is not declared")
    no_perm = refusal("", GroupSpec("", {}, source=SOURCE), ALICE)
    assert no_perm.startswith(f"the base group ({SOURCE}) has no perm.task")
    mismatch = refusal("", spec("", task=Ownership(uid=7)), ALICE)
    assert mismatch.startswith(f"perm.task of the base group ({SOURCE}) allows uid 7")


@pytest.mark.parametrize("group_spec", [
    spec(perm=False),  # no perm block at all
    spec(),  # a perm block with a default (empty) task
    spec(task=Ownership(dperm=0o755, fperm=0o644)),  # modes, but no owner
    GroupSpec("web", {}, perm=Perm(admin=Ownership(uid=1000, gid=1000)), source=SOURCE),  # admin only
])
def test_a_group_without_a_task_owner_is_refused_naming_its_source(group_spec):
    message = refusal("web", group_spec, ALICE)
    assert message is not None
    assert message == f"web ({SOURCE}) has no perm.task, so only root may place processes in it"


def test_a_task_uid_that_matches_is_allowed():
    assert refusal("web", spec(task=Ownership(uid=1000)), ALICE) is None
    assert refusal("web", spec(task=Ownership(uid=1000, gid=4242)), ALICE) is None


def test_a_task_gid_that_matches_the_primary_gid_is_allowed():
    assert refusal("web", spec(task=Ownership(gid=1000)), ALICE) is None
    assert refusal("web", spec(task=Ownership(uid=4242, gid=1000)), ALICE) is None


def test_a_task_gid_that_matches_a_supplementary_group_is_allowed():
    assert refusal("web", spec(task=Ownership(gid=27)), BOB) is None
    assert refusal("web", spec(task=Ownership(gid=50)), BOB) is None
    assert refusal("web", spec(task=Ownership(gid=27)), ALICE) is not None  # alice is not in 27


def test_a_mismatch_is_refused_naming_the_group_source_owner_and_caller():
    message = refusal("web", spec(task=Ownership(uid=2000, gid=3000)), BOB)
    assert message == (f"perm.task of web ({SOURCE}) allows uid 2000 or group 3000, "
                       "not uid 1001 (gid 1001, groups 27,50)")


def test_a_mismatch_names_only_the_owners_declared():
    only_uid = refusal("web", spec(task=Ownership(uid=2000)), ALICE)
    assert only_uid == f"perm.task of web ({SOURCE}) allows uid 2000, not uid 1000 (gid 1000)"
    only_gid = refusal("web", spec(task=Ownership(gid=3000)), ALICE)
    assert only_gid == f"perm.task of web ({SOURCE}) allows group 3000, not uid 1000 (gid 1000)"


def test_a_task_uid_does_not_match_a_gid_nor_the_other_way():
    # uid 1000 owning the files says nothing about gid 1000, and back.
    assert refusal("web", spec(task=Ownership(uid=1000)), Caller(2000, 1000)) is not None
    assert refusal("web", spec(task=Ownership(gid=1000)), Caller(1000, 2000)) is not None


def test_task_owner_root_does_not_let_a_user_in():
    assert refusal("web", spec(task=Ownership(uid=0, gid=0)), ALICE) is not None


def test_caller_repr_lists_the_supplementary_groups_but_the_primary():
    assert repr(Caller(5, 6)) == "uid 5 (gid 6)"
    assert repr(Caller(5, 6, frozenset({6}))) == "uid 5 (gid 6)"
    assert repr(Caller(5, 6, frozenset({9, 6, 7}))) == "uid 5 (gid 6, groups 7,9)"


# --- may_move -------------------------------------------------------------------------

def test_root_may_move_anything():
    assert may_move(Caller(0, 0), (1000, 1000, 1000)) is True
    assert may_move(Caller(0, 0), (0, 0, 0)) is True


def test_a_caller_may_move_a_process_whose_real_uid_is_theirs():
    assert may_move(ALICE, (1000, 2000, 2000)) is True


def test_a_caller_may_move_a_process_whose_saved_uid_is_theirs():
    assert may_move(ALICE, (2000, 2000, 1000)) is True


def test_a_caller_may_not_move_a_process_whose_effective_uid_only_is_theirs():
    assert may_move(ALICE, (2000, 1000, 2000)) is False


def test_a_caller_may_not_move_another_user_process():
    assert may_move(ALICE, (1001, 1001, 1001)) is False
    assert may_move(ALICE, (0, 0, 0)) is False


def test_the_caller_gid_does_not_matter_to_may_move():
    assert may_move(Caller(1000, 0, frozenset({0})), (0, 0, 0)) is False


# --- procinfo on a fake procfs --------------------------------------------------------

def stat_line(pid: int, comm: str, ppid: int, start: int, state: str = "S") -> str:
    """/proc/PID/stat as the kernel writes it: 52 fields; 3 state, 4 ppid, 22 starttime.
    Fields 5..21 hold their own field number so that an off-by-one reads a wrong value."""
    fields = [str(pid), f"({comm})", state, str(ppid)]
    fields += [str(n) for n in range(5, 22)]  # pgrp .. itrealvalue
    fields.append(str(start))  # 22: starttime
    fields += ["123456789", "456"] + ["0"] * 28  # vsize, rss, rsslim .. exit_code
    assert len(fields) == 52
    return " ".join(fields) + "\n"


def status_text(comm: str, pid: int, tgid: int, ppid: int, uids=(0, 0, 0), gids=(0, 0, 0),
                groups=()) -> str:
    return (f"Name:\t{comm}\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t{tgid}\nNgid:\t0\nPid:\t{pid}\n"
            f"PPid:\t{ppid}\nTracerPid:\t0\n"
            f"Uid:\t{uids[0]}\t{uids[1]}\t{uids[2]}\t{uids[1]}\n"
            f"Gid:\t{gids[0]}\t{gids[1]}\t{gids[2]}\t{gids[1]}\n"
            f"FDSize:\t64\nGroups:\t{' '.join(map(str, groups))}{' ' if groups else ''}\n"
            f"NStgid:\t{tgid}\nNSpid:\t{pid}\nNSpgid:\t{pid}\nNSsid:\t1\nVmPeak:\t   1000 kB\n"
            "Threads:\t1\nSigQ:\t0/1000\n")


def fake_proc(tmp_path, pid: int, ppid: int, start: int, comm: str = "x", tgid: int = 0, **ids) -> None:
    build(tmp_path / "proc" / str(pid), {
        "stat": stat_line(pid, comm, ppid, start),
        "status": status_text(comm, pid, tgid or pid, ppid, **ids)})


@pytest.fixture
def tree(tmp_path):
    """init(1) > sshd(300) > bash(400) > "weird) S 99 (name"(500); kthreadd(2); and the
    entries of /proc that are not processes."""
    fake_proc(tmp_path, 1, 0, 5, "systemd")
    fake_proc(tmp_path, 2, 0, 6, "kthreadd")
    fake_proc(tmp_path, 300, 1, 3000, "sshd")
    fake_proc(tmp_path, 400, 300, 4000, "ba sh")
    fake_proc(tmp_path, 500, 400, 5000, "weird) S 99 (name")
    build(tmp_path / "proc", {"self": {"mountinfo": ""}, "sys": {}, "uptime": "1.0 1.0\n"})
    return str(tmp_path / "proc")


def test_parent_reads_field_4_even_with_spaces_and_parens_in_the_command(tree):
    assert procinfo.parent(500, tree) == 400
    assert procinfo.parent(400, tree) == 300
    assert procinfo.parent(1, tree) == 0


def test_identity_reads_the_start_time_after_a_tricky_command(tree):
    assert procinfo.identity(500, tree) == (500, 5000)
    assert procinfo.identity(400, tree) == (400, 4000)


def test_line_walks_up_to_init(tree):
    assert procinfo.line(500, tree) == [(500, 5000), (400, 4000), (300, 3000), (1, 5)]
    assert procinfo.line(1, tree) == [(1, 5)]
    assert procinfo.line(2, tree) == [(2, 6)]


def test_line_stops_where_an_ancestor_is_gone(tmp_path):
    fake_proc(tmp_path, 1, 0, 5)
    fake_proc(tmp_path, 400, 300, 4000)  # its parent 300 has exited, not yet re-parented
    fake_proc(tmp_path, 500, 400, 5000)
    assert procinfo.line(500, str(tmp_path / "proc")) == [(500, 5000), (400, 4000)]


def test_line_of_a_thread_names_its_process(tree, tmp_path):
    fake_proc(tmp_path, 501, 400, 5001, "worker", tgid=500)  # a thread of 500, listed by id
    assert procinfo.line(501, tree) == [(500, 5000), (400, 4000), (300, 3000), (1, 5)]


def test_line_of_a_missing_process_raises(tree):
    with pytest.raises(ProcessGone):
        procinfo.line(999, tree)


def test_processes_maps_each_process_to_its_parent(tree):
    assert procinfo.processes(tree) == {
        (1, 5): None,
        (2, 6): None,
        (300, 3000): (1, 5),
        (400, 4000): (300, 3000),
        (500, 5000): (400, 4000),
    }


def test_processes_gives_none_for_a_parent_that_is_gone(tmp_path):
    fake_proc(tmp_path, 1, 0, 5)
    fake_proc(tmp_path, 400, 300, 4000)
    fake_proc(tmp_path, 500, 400, 5000)
    build(tmp_path / "proc" / "600", {})  # exited between the listing and the read
    build(tmp_path / "proc" / "700", {"stat": ""})  # an unreadable stat
    assert procinfo.processes(str(tmp_path / "proc")) == {
        (1, 5): None, (400, 4000): None, (500, 5000): (400, 4000)}


def test_ids_returns_the_uids_gids_and_groups(tmp_path):
    fake_proc(tmp_path, 42, 1, 420, uids=(1000, 0, 1001), gids=(100, 101, 102), groups=(27, 100, 4242))
    assert procinfo.ids(42, str(tmp_path / "proc")) == ((1000, 0, 1001), (100, 101, 102), (27, 100, 4242))


def test_ids_with_no_supplementary_groups(tmp_path):
    fake_proc(tmp_path, 43, 1, 430, uids=(5, 6, 7), gids=(8, 9, 10))
    assert procinfo.ids(43, str(tmp_path / "proc")) == ((5, 6, 7), (8, 9, 10), ())


def test_ids_of_a_missing_process_raises(tmp_path):
    (tmp_path / "proc").mkdir()
    with pytest.raises(ProcessGone) as caught:
        procinfo.ids(77, str(tmp_path / "proc"))
    assert "77" in caught.value.path


def test_ids_of_a_truncated_status_raises(tmp_path):
    build(tmp_path / "proc" / "78", {"status": "Name:\tx\nTgid:\t78\n"})  # read as it exited
    with pytest.raises(ProcessGone):
        procinfo.ids(78, str(tmp_path / "proc"))


def test_parent_and_identity_of_a_missing_process_raise(tmp_path):
    (tmp_path / "proc").mkdir()
    with pytest.raises(ProcessGone):
        procinfo.parent(79, str(tmp_path / "proc"))
    with pytest.raises(ProcessGone):
        procinfo.identity(79, str(tmp_path / "proc"))
