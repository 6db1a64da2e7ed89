"""The rules engine (cgmand/engine.py) on a fake hybrid host and a fake /proc: what it places,
what it leaves alone and why, and how it recovers when the kernel drops events."""

from __future__ import annotations

import os
import queue
import time

import pytest

from cgmand import commands, engine as engine_mod, procevents as pe, sticky
from cgmand.kernel import hostinfo
from cgmand.kernel.cgroupfs import CgroupFS
from cgmand.kernel.procconnector import TIMEOUT, WAKE, Overrun
from fakes import build, hybrid_host_with_web, write_config

CONF = ('[group."web"]\ncpu.weight = 200\n'
        '[[rule]]\nname = "builds"\ncomm = "cc1*"\nplace = "web"\n'
        '[[rule]]\nname = "shells"\ncomm = "bash"\nignore = true\n'
        '[[rule]]\nname = "forced"\ncomm = "miner"\nforce = true\nplace = "web"\n')


def proc(tmp_path, pid, comm="cc1plus", ppid=1, start=100, uid=1000, cgroup="/", flags=0, state="S"):
    build(tmp_path / "proc" / str(pid), {
        "status": f"Name:\t{comm}\nTgid:\t{pid}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t{uid}\t{uid}\t{uid}\t{uid}\n"
                  "Groups:\t\n",
        "stat": f"{pid} ({comm}) {state} {ppid} 0 0 0 0 {flags} " + " ".join(["0"] * 12) + f" {start} 0\n",
        "comm": comm + "\n", "cmdline": comm + "\0",
        "cgroup": f"4:memory:/\n3:cpu:{cgroup}\n0::/\n"})


class FakeConnector:
    """What the engine uses of kernel/procconnector.Connector: events fed by the test,
    "overrun" to raise Overrun, a wake-up, and a receive timeout."""

    def __init__(self, can_wake=True):
        self.items: queue.SimpleQueue = queue.SimpleQueue()
        self.rcvbuf = 1 << 20
        self.grown, self.timeouts = [], []
        self.can_wake = can_wake
        self.timeout = None
        self.drop_count = 0  # what SO_MEMINFO would say
        self.on_scan = None  # called when the engine reads the drop count (around a scan)

    def put(self, item):
        self.items.put(item)

    def wake(self):
        if self.can_wake:
            self.items.put(WAKE)

    def set_timeout(self, seconds):
        self.timeout = seconds
        self.timeouts.append(seconds)

    def receive(self):
        try:
            item = self.items.get(timeout=self.timeout)
        except queue.Empty:
            return TIMEOUT
        if item == "overrun":
            raise Overrun()
        return item

    def queued(self):
        return self.items.qsize()

    def dropped(self):
        if self.on_scan is not None:
            self.on_scan()
        return self.drop_count

    def grow(self, size):
        self.grown.append(size)
        return size

    def drops(self):
        return 0

    def close(self):
        pass


@pytest.fixture(name="made")
def _made(tmp_path, monkeypatch):
    roots = hybrid_host_with_web(tmp_path)
    write_config(roots, "10.toml", CONF)
    desired = commands.load_config(roots)
    host = hostinfo.detect(desired.manager, roots, offered=False)
    moved, logged = [], []
    real = CgroupFS.write

    def write(self, cgroup, file, text):  # a move, as the kernel would then show it in /proc/PID/cgroup
        done = real(self, cgroup, file, text)
        if file == "cgroup.procs":
            pid = int(text)
            if pid not in moved:
                moved.append(pid)
            where = tmp_path / "proc" / str(pid) / "cgroup"
            key = "" if self.hierarchy.version == 2 else self.hierarchy.key
            lines = [line for line in where.read_text().splitlines() if line.split(":")[1] != key]
            where.write_text("\n".join(lines + [f"9:{key}:{cgroup}"]) + "\n")
        return done

    monkeypatch.setattr(CgroupFS, "write", write)
    marks = sticky.Marks()
    made = engine_mod.Engine(roots, host, desired, lambda: marks, lambda event, **f: logged.append(event),
                             connector=FakeConnector(), log_debug=lambda event, **f: logged.append((event, f)))
    made.moved, made.logged, made.sticky_marks, made.tmp = moved, logged, marks, tmp_path
    made.log = lambda event, **f: logged.append((event, f))
    return made


def test_a_matching_process_is_placed_once(made):
    proc(made.tmp, 500)
    assert made.place(500) == "placed" and made.moved == [500], made.logged
    assert made.place(500) == "in_place" and made.moved == [500]  # a second look changes nothing
    assert ("rules_placed", {"pid": 500, "rule": "builds", "group": "web"}) in made.logged


@pytest.mark.parametrize("kwargs, outcome", [
    ({"comm": "vim"}, "unmatched"),
    ({"comm": "bash"}, "ignored"),
])
def test_unmatched_and_ignored_stay(made, kwargs, outcome):
    proc(made.tmp, 500, **kwargs)
    assert made.place(500) == outcome and made.moved == []


@pytest.mark.parametrize("kwargs", [{"flags": 0x00200000}, {"state": "Z"}])
def test_kernel_threads_and_zombies_are_never_looked_at(made, kwargs):
    proc(made.tmp, 500, **kwargs)
    assert made.place(500, scanned=True) is None and made.moved == []  # what a scan of /proc finds


def test_pid_1_and_cgmand_itself_are_never_moved(made):
    proc(made.tmp, 1)
    assert made.place(1) is None
    made.own_pid = 500
    proc(made.tmp, 500)
    assert made.place(500, scanned=True) is None and made.moved == []  # what a scan of /proc finds


def test_a_process_gone_is_counted_not_an_error(made):
    assert made.place(4242) == "gone"


def test_sticky_processes_stay_unless_the_rule_forces(made):
    proc(made.tmp, 400, comm="bash", start=7)
    proc(made.tmp, 500, ppid=400, start=8)
    proc(made.tmp, 501, comm="miner", ppid=400, start=9)
    made.sticky_marks.stick((400, 7), "elsewhere", 0.0)  # a parent placed by hand: its children too
    assert made.place(500) == "sticky"
    assert made.place(501) == "placed" and made.moved == [501]


def test_processes_in_other_containers_are_left_alone(made, monkeypatch):
    proc(made.tmp, 500)
    monkeypatch.setattr(made, "init_ns", 1)
    from cgmand.kernel import procfacts

    monkeypatch.setattr(procfacts.ProcFacts, "pid_namespace", lambda self: 2)
    assert made.place(500) == "origin_refused" and made.moved == []


def with_rules(made, text):
    """The engine given these rules (in the fixture's configuration)."""
    from cgmand import rules as rulebook

    errors = []
    parsed = rulebook.parse(__import__("tomllib").loads(text)["rule"], "/etc/cgman/20.toml", errors)
    assert errors == []
    made.update(made.desired._replace(rules=tuple(parsed)), made.host)


@pytest.mark.parametrize("origins, cgroup, outcome", [
    ('["containers"]', "/", "placed"),  # free and containers both allowed: it does not matter
    ("[]", "/cgman/web", "in_place"),  # already in cgman's tree: allowed whatever its namespace
])
def test_the_pid_namespace_is_read_only_when_it_decides(made, monkeypatch, origins, cgroup, outcome):
    from cgmand.kernel import procfacts

    def unread(self):
        raise AssertionError("the pid namespace was read")

    monkeypatch.setattr(procfacts.ProcFacts, "pid_namespace", unread)
    with_rules(made, f'[[rule]]\nname = "any"\ncomm = "cc1*"\nplace = "web"\norigins = {origins}\n')
    proc(made.tmp, 500, cgroup=cgroup)
    (made.tmp / "proc" / "500" / "cgroup").write_text(f"4:memory:/\n3:cpu:{cgroup}\n0::{cgroup}\n")
    assert made.place(500) == outcome


def test_a_container_process_is_taken_when_the_rule_allows_containers(made, monkeypatch):
    from cgmand.kernel import procfacts

    monkeypatch.setattr(made, "init_ns", "pid:[1]")
    monkeypatch.setattr(procfacts.ProcFacts, "pid_namespace", lambda self: "pid:[2]")
    with_rules(made, '[[rule]]\nname = "c"\ncomm = "cc1*"\nplace = "web"\norigins = ["containers"]\n')
    proc(made.tmp, 500)
    assert made.place(500) == "placed"


def test_unmatched_processes_are_answered_by_comm_alone(made, monkeypatch):
    """Every rule names a comm: a process whose comm none could match is not looked at
    further (one read), whatever the rules' other keys would have read."""
    from cgmand.kernel import procfacts

    read = []
    real = procfacts.ProcFacts._text
    monkeypatch.setattr(procfacts.ProcFacts, "_text", lambda self, name: read.append(name) or real(self, name))
    with_rules(made, '[[rule]]\nname = "u"\ncomm = "cc1*"\nuid = 0\nexe = "/usr/**"\nplace = "web"\n')
    proc(made.tmp, 500, comm="vim")
    assert made.place(500) == "unmatched" and read == ["comm"]


def test_a_connector_that_cannot_be_woken_is_read_with_a_timeout(made):
    """Where the wake-up datagram is refused, a request (here: stop) waits at most IDLE_WAKE."""
    made.connector = FakeConnector(can_wake=False)
    made.start()
    assert wait(lambda: made.connector.timeouts == [engine_mod.IDLE_WAKE])
    started = time.monotonic()
    made.stop()
    assert not made.threads[0].is_alive()
    assert time.monotonic() - started < engine_mod.IDLE_WAKE + 2


def test_events_exec_and_the_scan_at_start(made):
    proc(made.tmp, 500)  # already running when the engine starts: the scan places it
    made.start()
    proc(made.tmp, 600, comm="cc1")
    made.connector.put(pe.parse(pe.build(pe.EXEC, 600, 600)))
    made.connector.put(pe.parse(pe.build(pe.EXEC, 601, 600)))  # a thread's: ignored
    assert wait(lambda: sorted(made.moved) == [500, 600])
    assert made.counters.rescans == 1 and made.counters.events == 1
    made.stop()


def test_an_overflow_grows_the_buffer_and_rescans_once(made, monkeypatch):
    monkeypatch.setattr(engine_mod, "RESCAN_DELAY", 0.05)
    made.start()
    assert wait(lambda: made.counters.rescans == 1)
    proc(made.tmp, 700)  # started while events were lost
    for _ in range(3):
        made.connector.put("overrun")
    assert wait(lambda: made.moved == [700])
    assert made.counters.overflows == 3 and made.counters.rescans == 2  # one scan for the storm
    # Doubles what it asked for (8 MiB by default), not what the kernel reports (twice that)
    assert made.connector.grown[:2] == [16 << 20, 32 << 20]
    # The rescan waited with a short receive timeout, set once for the storm, then the idle wait
    assert wait(lambda: made.connector.timeouts == [None, engine_mod.RESCAN_POLL, None]), made.connector.timeouts
    made.stop()


def test_uid_events_matter_only_to_rules_about_users(made):
    proc(made.tmp, 500)
    made.handle(pe.parse(pe.build(pe.UID, 500, 500, 0, 0)))
    assert made.moved == []  # no rule looks at users
    made.update(made.desired._replace(rules=()), made.host)
    assert made.place(500) is None  # no rules: nothing examined


def wait(check, seconds=5.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


def test_explain_shows_each_rule_verdict_and_the_destination(made, capsys):
    from cgmand import cli

    proc(made.tmp, 500, comm="cc1plus", uid=1000)
    roots = made.roots
    code = cli.main(["--config-dir", roots.config_dir, "--cgroup-root", roots.cgroup_root, "--proc-root",
                     roots.proc_root, "--run-root", roots.run_root, "explain", "500"])
    out = capsys.readouterr().out
    assert code == 0
    assert "1. builds" in out and "MATCH: comm 'cc1plus' matches 'cc1*'  <- first match" in out
    assert "2. shells" in out and "no: comm 'cc1plus' does not match 'bash'" in out
    assert out.rstrip().endswith("=> rule 'builds': placed in web")
    assert made.moved == []  # explain moves nothing
    code = cli.main(["--config-dir", roots.config_dir, "--cgroup-root", roots.cgroup_root, "--proc-root",
                     roots.proc_root, "--run-root", roots.run_root, "explain", "4242"])
    assert code == 1 and "no process 4242" in capsys.readouterr().err


def test_a_group_removed_since_it_was_looked_up_is_looked_up_again(made):
    """The targets are remembered per group; a group gone under them (a reload, an emptied
    template group) is resolved again, once, instead of failing the process."""
    import shutil

    proc(made.tmp, 500)
    proc(made.tmp, 501)
    assert made.place(500) == "placed"
    web = made.tmp / "cgroup" / "cpu" / "cgman" / "web"
    saved = made.tmp / "web-saved"
    shutil.move(web, saved)  # gone: the cached targets now point at nothing
    calls = []
    real = made._targets

    def targets(group, rule):
        calls.append(group)
        if len(calls) == 2:  # the second look: it is back (made again)
            shutil.move(saved, web)
        return real(group, rule)

    made._targets = targets
    assert made.place(501) == "placed" and 501 in made.moved and calls == ["web", "web"]


def test_the_scan_waits_for_the_queue_to_empty_after_an_overflow(made, monkeypatch):
    """netlink drops events silently until a read empties the queue: a scan before that
    would miss what starts meanwhile. It waits for the queue to empty."""
    monkeypatch.setattr(engine_mod, "RESCAN_DELAY", 0.0)
    made.start()
    assert wait(lambda: made.counters.rescans == 1)
    held = queue.SimpleQueue()  # a backlog the engine has not read yet
    made.connector.put("overrun")
    real_queued = made.connector.queued
    made.connector.queued = lambda: 1 if held.empty() is False else real_queued()
    held.put("backlog")
    time.sleep(0.3)
    assert made.counters.overflows == 1 and made.counters.rescans == 1  # not while the queue holds events
    held.get()
    assert wait(lambda: made.counters.rescans == 2)
    made.stop()


def test_a_scan_during_which_the_kernel_dropped_is_done_again(made, monkeypatch):
    monkeypatch.setattr(engine_mod, "RESCAN_DELAY", 0.0)
    made.start()
    assert wait(lambda: made.counters.rescans == 1)
    reads = []

    def around_scan():  # the second read (after the scan) sees drops, once
        reads.append(1)
        if len(reads) == 2:
            made.connector.drop_count += 5

    made.connector.on_scan = around_scan
    made.connector.put("overrun")
    assert wait(lambda: made.counters.rescans == 3)
    time.sleep(0.2)
    assert made.counters.rescans == 3  # no drops during the second: done
    made.stop()


def test_a_setuid_matters_to_a_rule_that_places_by_user(made):
    with_rules(made, '[[rule]]\nname = "t"\ncomm = "cc1*"\nplace = "web/%u"\n')
    assert made.config[4] is True  # uid and gid events are acted on


def test_state_says_whether_the_engine_runs(made):
    assert made.state()["running"] is False
    made.start()
    assert made.state()["running"] is True
    made.stop()
    assert made.state()["running"] is False


def test_a_failing_scan_of_one_process_does_not_end_the_scan(made, monkeypatch):
    proc(made.tmp, 500)
    proc(made.tmp, 501)
    real = made.place

    def place(pid, scanned=False):
        if pid == 500:
            raise RuntimeError("boom")
        return real(pid, scanned)

    monkeypatch.setattr(made, "place", place)
    made._rescan()
    assert made.moved == [501] and made.counters.failed == 1


def test_a_turn_that_fails_is_logged_and_the_engine_goes_on(made, monkeypatch):
    """Nothing that goes wrong in one turn ends the thread: logged, counted, next event."""
    monkeypatch.setattr(engine_mod, "FAILURE_PAUSE", 0.01)
    made.start()
    real = made.connector.receive
    failed = []

    def receive():
        if not failed:
            failed.append(1)
            raise RuntimeError("the socket went strange")
        return real()

    made.connector.receive = receive
    made.connector.put(WAKE)  # wakes the first receive, which now fails
    proc(made.tmp, 600, comm="cc1")
    made.connector.put(pe.parse(pe.build(pe.EXEC, 600, 600)))
    assert wait(lambda: made.moved == [600])
    assert made.counters.failed == 1 and made.state()["running"]
    assert any(entry[0] == "rules_error" and "socket went strange" in entry[1]["error"]
               for entry in made.logged if isinstance(entry, tuple))
    made.stop()
