"""cgmand's place requests (cgmand/placement.py) on a fake hybrid host: who may move what, and
the refusals that keep place.sock (anyone's) from moving what is not the caller's to move."""

from __future__ import annotations

import pytest

from cgmand import commands, placement
from cgmand.control import Request
from cgmand.kernel import attach, hostinfo, procinfo, stickyfile
from fakes import build, hybrid_host_with_web, v1_group, write_config

CONF = ('[group."web"]\ncpu.weight = 200\n[group."web".perm]\ntask = { uid = 1000 }\n'
        '[group."team"]\ncpu.weight = 100\n[group."team".perm]\ntask = { gid = 3000 }\n'
        '[group."penalty"]\ncpu.weight = 1\n')
START = 4242


def proc(tmp_path, pid, uid=1000, tgid=0, ppid=1, start=START, cgroup="/"):
    build(tmp_path / "proc" / str(pid), {
        "status": f"Name:\tx\nTgid:\t{tgid or pid}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"
                  f"Gid:\t{uid}\t{uid}\t{uid}\t{uid}\nGroups:\t\n",
        "stat": f"{pid} (x) S {ppid} " + " ".join(["0"] * 17) + f" {start} 0\n",
        "cgroup": f"4:memory:/\n3:cpu:{cgroup}\n0::/\n"})


@pytest.fixture(name="host")
def _host(tmp_path, monkeypatch):
    roots = hybrid_host_with_web(tmp_path)
    for name in ("team", "penalty"):
        build(tmp_path / "cgroup" / "cpu" / "cgman" / name, v1_group("cpu"))
    write_config(roots, "10.toml", CONF)
    desired = commands.load_config(roots)
    moved = []
    real = attach.move

    def move(pid, targets):  # the kernel would show the process there: so does the fake /proc
        moved.append((pid, [t.path for t in targets]))
        done = real(pid, targets)
        (tmp_path / "proc" / str(pid) / "cgroup").write_text(f"4:memory:/\n3:cpu:{targets[0].path}\n0::/\n")
        return done

    monkeypatch.setattr(attach, "move", move)
    proc(tmp_path, 700)  # the caller, uid 1000

    def ask(body, peer=(700, 1000, 1000), groups=(), start=START):
        return placement.place(Request(body, peer, groups, start), roots, desired,
                               hostinfo.detect(desired.manager, roots, offered=False), 1.0)

    ask.roots, ask.moved = roots, moved
    return ask


def test_the_caller_is_placed_where_perm_task_names_it(host):
    answer = host({"groups": ["cpu:web"]})
    assert answer["problems"] == [] and host.moved == [(700, ["/cgman/web"])]


def test_a_group_of_the_caller_counts_as_the_socket_saw_it(host):
    """Supplementary groups come from SO_PEERGROUPS (Request.groups), not /proc."""
    refused = host({"groups": ["cpu:team"]})
    assert refused["ok"] is False and "allows group 3000" in refused["error"]
    assert host({"groups": ["cpu:team"]}, groups=(3000,))["problems"] == []


def test_a_group_without_policy_is_refused_naming_it(host):
    refused = host({"groups": ["cpu:penalty"]})
    assert refused["reference"] == "permission-denied" and "penalty" in refused["error"]
    assert "has no perm.task" in refused["error"] and host.moved == []


def test_a_caller_whose_pid_now_names_another_process_is_refused(host):
    assert host({"groups": ["cpu:web"]}, start=START + 1)["error"] == "the caller is gone"
    assert host({"groups": ["cpu:web"]}, start=None)["error"] == "the caller is gone"
    assert host.moved == []


def test_a_thread_running_as_the_user_does_not_make_its_process_theirs(tmp_path, host):
    proc(tmp_path, 500, uid=0)               # root's process
    proc(tmp_path, 501, uid=1000, tgid=500)  # one of its threads, with the user's uid
    answer = host({"groups": ["cpu:web"], "pids": [501]})
    assert host.moved == [] and "belongs to uid 0" in answer["problems"][0]["problem"]


def test_a_pid_reused_after_the_check_is_not_moved(tmp_path, host, monkeypatch):
    proc(tmp_path, 501, start=100)
    real = procinfo.ids

    def ids(pid, proc_root="/proc"):
        out = real(pid, proc_root)
        if pid == 501:  # the user's 501 exits right after the check; root's new process gets 501
            proc(tmp_path, 501, uid=0, start=999)
        return out

    monkeypatch.setattr(procinfo, "ids", ids)
    answer = host({"groups": ["cpu:web"], "pids": [501]})
    assert host.moved == [] and answer["problems"][0]["gone"] is True


def test_a_process_in_a_group_the_policy_does_not_give_the_user_stays(tmp_path, host):
    """Policy bounds what a user may leave too: root's penalty group holds its processes."""
    proc(tmp_path, 800, cgroup="/cgman/penalty")
    proc(tmp_path, 801, cgroup="/cgman/team")
    proc(tmp_path, 802, cgroup="/user.slice/session-1.scope")
    answer = host({"groups": ["cpu:web"], "pids": [800, 801, 802]}, groups=(3000,))
    assert [p["pid"] for p in answer["problems"]] == [800]
    assert "it is in penalty, which policy does not let it leave" in answer["problems"][0]["problem"]
    assert [pid for pid, _ in host.moved] == [801, 802]


@pytest.mark.parametrize("body", [
    {"groups": ["cpu:web"], "pids": [True]},
    {"groups": ["cpu:web"], "pids": [1.0]},
    {"groups": ["cpu:web"], "pids": list(range(1, placement.MAX_PIDS + 2))},
    {"groups": ["cpu:web"] * (placement.MAX_GROUPS + 1)},
    {"groups": []},
    {"groups": "cpu:web"},
    {"groups": ["cpu:web"], "sticky": "yes"},
])
def test_malformed_or_oversized_requests_are_refused(host, body):
    answer = host(body)
    assert answer["ok"] is False and answer["reference"] == "usage" and host.moved == []


def test_a_pid_given_twice_is_moved_once(host):
    host({"groups": ["cpu:web"], "pids": [700, 700, 700]})
    assert host.moved == [(700, ["/cgman/web"])]


def test_a_user_cancel_frees_only_their_own_descendants(tmp_path, host):
    proc(tmp_path, 800, start=10, cgroup="/cgman/web")
    proc(tmp_path, 801, uid=0, ppid=800, start=11, cgroup="/cgman/web")  # sudo, started by the user
    proc(tmp_path, 802, ppid=800, start=12, cgroup="/cgman/web")
    placement.mark(host.roots, [(801, 11), (802, 12)], "web", True, 0.0)  # root: classify --sticky
    answer = host({"groups": [], "pids": [800], "sticky": False})
    assert answer["problems"] == [] and host.moved == []  # a cancel alone moves nothing
    assert set(stickyfile.load(host.roots.run_root).marks) == {(801, 11)}


def test_the_host_given_decides_the_base_not_the_files_now(tmp_path, host):
    """cgmand resolves with the host model of the configuration it runs, even when the files
    have since been edited to another base (and a failed reload kept the old one)."""
    build(tmp_path / "cgroup" / "cpu" / "alt", dict(v1_group("cpu"), web=v1_group("cpu")))
    write_config(host.roots, "10.toml", '[manager]\nroot = "/alt"\n[group."x"]\ncpu.wieght = 1\n')
    host({"groups": ["cpu:web"]})
    assert host.moved == [(700, ["/cgman/web"])]
