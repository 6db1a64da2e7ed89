"""cgmand against a fake tree, with a real notify socket (a test-owned AF_UNIX datagram socket as
$NOTIFY_SOCKET): READY only after the first reconcile, RELOADING/READY around reloads, STATUS on
errors, WATCHDOG pings, STOPPING on SIGTERM; config edits, drift repair and `cgman reload`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fakes import hybrid_host_with_web, write_config

WEB = '[manager]\ndrift_interval = {drift}\n[group."web"]\ncpu.weight = {weight}\nmemory.max = "1G"\n'


class Guest:
    """A cgmand process on a fake tree, and the datagrams it sends to its notify socket."""

    def __init__(self, tmp: Path, drift: float = 600):
        self.tmp = tmp
        self.roots = hybrid_host_with_web(tmp)
        self.drift = drift
        self.config(200)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(tmp / "notify.sock"))
        self.messages: list = []
        self.proc = None

    def root_args(self):
        r = self.roots
        return ["--config-dir", r.config_dir, "--cgroup-root", r.cgroup_root, "--proc-root", r.proc_root,
                "--run-root", r.run_root]

    def config(self, weight, text=None) -> None:
        write_config(self.roots, "10-web.toml", text or WEB.format(drift=self.drift, weight=weight))

    def start(self, watchdog_usec: int = 0):
        env = dict(os.environ, NOTIFY_SOCKET=str(self.tmp / "notify.sock"))
        if watchdog_usec:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        self.log = open(self.tmp / "cgmand.log", "w")  # a file: a full pipe would stall the daemon
        self.proc = subprocess.Popen([sys.executable, "-m", "cgmand", "daemon", *self.root_args()],
                                     env=env, stdout=self.log, stderr=self.log, text=True)
        return self

    def log_lines(self, event: str) -> list:
        return [line for line in (self.tmp / "cgmand.log").read_text().splitlines() if f"event={event}" in line]

    def reconciles(self) -> int:
        return (self.tmp / "cgmand.log").read_text().count("event=reconcile_done")

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        """The next datagram containing ``text`` (all received ones are kept in messages)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.time()))
            try:
                message = self.sock.recv(65536).decode()
            except socket.timeout:
                break
            self.messages.append(message)
            if text in message:
                return message
        raise AssertionError(f"no {text!r} within {timeout} s; got {self.messages}; "
                             f"daemon: {self.proc.poll()} {(self.tmp / 'cgmand.log').read_text()[-2000:]}")

    def shares(self) -> str:
        return (self.tmp / "cgroup/cpu/cgman/web/cpu.shares").read_text().strip()

    def repaired_after_hand_edit(self, seconds: float = 20) -> bool:
        """Change web's cpu.shares by hand; True once the daemon has put back 2048."""
        (self.tmp / "cgroup/cpu/cgman/web/cpu.shares").write_text("5")
        deadline = time.time() + seconds
        while self.shares() != "2048" and time.time() < deadline:
            time.sleep(0.05)
        return self.shares() == "2048"

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        finally:
            self.sock.close()


@pytest.fixture(name="guest")
def _guest(tmp_path):
    guest = Guest(tmp_path)
    yield guest
    if guest.proc is not None and guest.proc.poll() is None:
        guest.proc.kill()
        guest.proc.wait()


def test_ready_only_after_the_first_reconcile(guest):
    """READY=1 arrives once the kernel already matches the files, with a STATUS line."""
    assert guest.shares() == "1024"
    guest.start()
    ready = guest.wait_for("READY=1")
    assert guest.shares() == "2048"
    assert "STATUS=1 groups; start:" in ready and f"MAINPID={guest.proc.pid}" in ready
    assert not any("READY=1" in m for m in guest.messages[:-1])
    assert guest.stop() == 0


def test_an_edit_is_applied_between_reloading_and_ready(guest):
    guest.start()
    guest.wait_for("READY=1")
    guest.config(300)
    reloading = guest.wait_for("RELOADING=1")
    assert "MONOTONIC_USEC=" in reloading
    ready = guest.wait_for("READY=1")
    assert guest.shares() == "3072" and "reload: 1 written" in ready
    time.sleep(1)  # reading the files to reload must not look like an edit (no reload loop)
    assert guest.reconciles() <= 3
    assert guest.stop() == 0


def test_an_edit_saved_by_rename_is_applied(guest):
    """Editors write a temporary file and rename it over the old one."""
    guest.start()
    guest.wait_for("READY=1")
    temporary = Path(guest.roots.config_dir) / ".10-web.toml.swp"
    temporary.write_text(WEB.format(drift=600, weight=400))
    os.rename(temporary, Path(guest.roots.config_dir) / "10-web.toml")
    guest.wait_for("RELOADING=1")
    guest.wait_for("READY=1")
    assert guest.shares() == "4096"
    assert guest.stop() == 0


@pytest.mark.parametrize("bad, error", [
    ('[group."web"]\ncpu.weight = "lots"\n', 'group."web".cpu.weight'),
    # parses, but cgroup v1 has no such file: refused whole all the same
    (WEB.format(drift=600, weight=300) + "memory.oom.group = 1\n",
     'group."web".memory.oom.group: cannot be honoured on this host'),
])
def test_a_bad_edit_keeps_the_last_good_config_and_a_fix_recovers(guest, bad, error):
    guest.start()
    guest.wait_for("READY=1")
    guest.config(0, bad)
    ready = guest.wait_for("READY=1")
    assert "STATUS=configuration invalid, running the last good one:" in ready
    assert error in ready
    assert guest.shares() == "2048" and guest.proc.poll() is None
    guest.config(100)
    ready = guest.wait_for("READY=1")
    assert "invalid" not in ready and guest.shares() == "1024"
    assert guest.stop() == 0


def test_watchdog_pings_at_half_the_interval(guest):
    guest.start(watchdog_usec=400_000)
    guest.wait_for("READY=1")
    started = time.time()
    guest.wait_for("WATCHDOG=1")
    guest.wait_for("WATCHDOG=1")
    assert time.time() - started < 2.0  # two pings at ~0.2 s
    assert guest.stop() == 0


def test_sigterm_says_stopping_and_leaves_everything(guest):
    guest.start()
    guest.wait_for("READY=1")
    before = sorted(p.name for p in (guest.tmp / "cgroup/cpu/cgman").iterdir())
    guest.proc.send_signal(signal.SIGTERM)
    guest.wait_for("STOPPING=1")
    assert guest.proc.wait(timeout=20) == 0
    assert sorted(p.name for p in (guest.tmp / "cgroup/cpu/cgman").iterdir()) == before
    assert guest.shares() == "2048"


def test_a_value_changed_by_hand_is_repaired_by_the_drift_check(tmp_path):
    guest = Guest(tmp_path, drift=0.3).start()
    try:
        guest.wait_for("READY=1")
        assert guest.repaired_after_hand_edit()
    finally:
        assert guest.stop() == 0


def test_cgman_reload_waits_for_the_outcome(guest):
    guest.start()
    guest.wait_for("READY=1")
    guest.config(50)
    cli = [sys.executable, "-m", "cgmand", "reload", "--json", *guest.root_args()]
    done = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["ok"] and answer["config_error"] is None and guest.shares() == "512"
    guest.config(0, '[group."web"]\ncpu.weight = "lots"\n')
    done = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert done.returncode == 78 and 'group."web".cpu.weight' in done.stderr
    assert guest.stop() == 0
    done = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert done.returncode == 69 and "cgmand is not running" in done.stderr


def test_an_invalid_config_at_start_exits_78_with_a_status(guest):
    guest.config(0, '[group."web"]\ncpu.weight = "lots"\n')
    guest.start()
    status = guest.wait_for("STATUS=configuration invalid")
    assert 'group."web".cpu.weight' in status
    assert guest.proc.wait(timeout=20) == 78
    assert not any("READY=1" in m for m in guest.messages)


def test_a_supervisor_that_stops_reading_does_not_stall_the_daemon(guest):
    """A Unix datagram socket queues ~10 messages; with nobody reading, edits still apply and
    SIGTERM still ends the daemon (its notifications are dropped, not waited on)."""
    guest.start()
    guest.wait_for("READY=1")
    for weight in range(101, 113):  # two datagrams each, never read
        guest.config(weight)
        deadline = time.time() + 20
        while guest.shares() != str(weight * 1024 // 100) and time.time() < deadline:
            time.sleep(0.01)
        assert guest.shares() == str(weight * 1024 // 100)
        time.sleep(0.1)
    guest.proc.send_signal(signal.SIGTERM)
    assert guest.proc.wait(timeout=20) == 0


def test_cgman_status_shows_the_running_daemon(guest):
    guest.start()
    guest.wait_for("READY=1")
    cli = [sys.executable, "-m", "cgmand", "status", "--json", *guest.root_args()]
    done = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    daemon = json.loads(done.stdout)["daemon"]
    assert daemon["pid"] == guest.proc.pid and daemon["status"].startswith("1 groups; start:")
    assert guest.stop() == 0
    done = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert json.loads(done.stdout)["daemon"] is None


def test_a_reload_can_turn_the_drift_check_on(tmp_path):
    """drift_interval = 0 (never) at start, 0.3 after an edit: hand-made changes are then repaired."""
    guest = Guest(tmp_path, drift=0).start()
    try:
        guest.wait_for("READY=1")
        guest.drift = 0.3
        guest.config(200)
        guest.wait_for("RELOADING=1")
        guest.wait_for("READY=1")
        assert guest.repaired_after_hand_edit()
    finally:
        assert guest.stop() == 0


def test_delete_and_recreate_does_not_remove_the_groups_in_between(guest):
    """Saving by deleting the file and writing it anew: the reload sees the new file, not the
    moment without it (which would remove every empty group, only to create it again)."""
    guest.start()
    guest.wait_for("READY=1")
    path = Path(guest.roots.config_dir) / "10-web.toml"
    text = path.read_text().replace("cpu.weight = 200", "cpu.weight = 150")
    path.unlink()
    time.sleep(0.02)  # within the debounce: still one save
    path.write_text(text)
    guest.wait_for("READY=1")
    assert guest.shares() == "1536"
    log = (guest.tmp / "cgmand.log").read_text()
    assert "cgroup_removed" not in log and log.count("event=reconcile_done") == 2
    assert guest.stop() == 0


def test_an_edit_is_planned_for_its_groups_and_sighup_in_full(guest):
    """A file edit re-plans the groups it changed (scope.py); SIGHUP, an explicit request,
    reconciles everything (and so repairs what was changed by hand)."""
    guest.start()
    guest.wait_for("READY=1")
    guest.config(300)
    guest.wait_for("READY=1")
    assert guest.shares() == "3072"
    assert " scope=1 " in guest.log_lines("reconcile_done")[-1]
    (guest.tmp / "cgroup/cpu/cgman/web/cpu.shares").write_text("5")
    guest.proc.send_signal(signal.SIGHUP)
    guest.wait_for("READY=1")
    assert guest.shares() == "3072"
    assert " scope=all " in guest.log_lines("reconcile_done")[-1]
    assert guest.stop() == 0


def test_a_key_this_host_cannot_honour_at_start_exits_78(guest):
    guest.config(0, WEB.format(drift=600, weight=300) + "memory.oom.group = 1\n")
    guest.start()
    assert "memory.oom.group" in guest.wait_for("STATUS=configuration invalid")
    assert guest.proc.wait(timeout=20) == 78
    assert guest.shares() == "1024"  # nothing applied


# --- the edit path's baseline, in process -------------------------------------------------


class Quiet:
    def send(self, *fields):
        pass


@pytest.fixture(name="inproc")
def _inproc(tmp_path, monkeypatch):
    """A Daemon object on the fake host (not started as a process), and the list of the edits
    it planned alone (the names commands.reconcile_edit was called with)."""
    from cgmand import commands, daemon, log

    log.configure("warning", "logfmt")
    roots = hybrid_host_with_web(tmp_path)
    write_config(roots, "10-web.toml", WEB.format(drift=0, weight=200))
    scoped = []
    real = commands.reconcile_edit
    monkeypatch.setattr(commands, "reconcile_edit",
                        lambda r, desired, names: scoped.append(sorted(names)) or real(r, desired, names))
    d = daemon.Daemon(roots, Quiet())
    assert d.start() == 0
    d.scoped = scoped
    d.shares = lambda: (tmp_path / "cgroup/cpu/cgman/web/cpu.shares").read_text().strip()
    yield d
    import gc
    gc.unfreeze()


def edit(d, text):
    write_config(d.roots, "10-web.toml", text)
    d.reload(edit=True)


def test_an_edit_after_a_reconcile_that_left_work_is_planned_in_full(inproc):
    """web drops its only memory key: a full reconcile (a controller left it), which puts
    memory.limit_in_bytes back and leaves the v1 leftover cgroup for the next run. The next
    edit is therefore full too; the one after it, planned alone."""
    no_memory = '[manager]\ndrift_interval = 0\n[group."web"]\ncpu.weight = {}\n'
    edit(inproc, no_memory.format(200))
    assert inproc.scoped == [] and inproc.baseline is None
    edit(inproc, no_memory.format(300))
    assert inproc.scoped == [] and inproc.shares() == "3072"
    edit(inproc, no_memory.format(400))
    assert inproc.scoped == [["web"]] and inproc.shares() == "4096"


def test_a_drift_check_that_read_changed_files_moves_the_baseline(inproc):
    """Files changed with no event seen: the drift check applies them, and the edit that puts
    the old text back is planned against what the drift check applied."""
    write_config(inproc.roots, "10-web.toml", WEB.format(drift=0, weight=300))
    inproc.reconcile("drift")
    assert inproc.shares() == "3072"
    edit(inproc, WEB.format(drift=0, weight=200))
    assert inproc.scoped == [["web"]] and inproc.shares() == "2048"


def test_an_edit_that_changes_no_group_writes_nothing(inproc, monkeypatch):
    from cgmand import commands

    monkeypatch.setattr(commands, "reconcile_once", lambda *a, **k: pytest.fail("planned in full"))
    edit(inproc, "# a comment\n" + WEB.format(drift=0, weight=200))
    assert inproc.last["counts"] == {} and inproc.baseline is not None


def test_a_template_group_filled_while_it_was_pruned_is_kept(inproc, monkeypatch):
    """The engine writes through a cgroup.procs it keeps open: a process may arrive between
    the emptiness check and the removal, which then fails (busy). The group stays known."""
    inproc.instances["web"] = "w%u"
    inproc.instance_born["web"] = 0.0  # long past the grace period
    looks = iter([False, True])  # empty at the check, populated after the reconcile
    monkeypatch.setattr(inproc, "_populated", lambda name: next(looks))
    reconciled = []
    monkeypatch.setattr(inproc, "reconcile", lambda why, wanted, names: reconciled.append(sorted(wanted.groups)))
    inproc.prune_instances()
    assert reconciled == [[]]  # it was asked to go
    assert inproc.instances == {"web": "w%u"} and "web" in inproc.desired.groups  # and is kept on


def test_a_template_group_still_empty_after_the_prune_is_gone(inproc, monkeypatch):
    inproc.instances["web"] = "w%u"
    inproc.instance_born["web"] = 0.0
    monkeypatch.setattr(inproc, "_populated", lambda name: False)
    monkeypatch.setattr(inproc, "reconcile", lambda why, wanted, names: None)
    inproc.prune_instances()
    assert inproc.instances == {} and "web" not in inproc.desired.groups
