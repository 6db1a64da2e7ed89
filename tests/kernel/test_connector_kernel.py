"""The engine's kernel I/O against the real kernel: the proc connector socket's wake-up,
receive timeout and sender check (kernel/procconnector.py), and a cgroup.procs kept open
for many moves (kernel/cgroupfs.ProcsFile). Other processes on the machine exec too, so
a receive may return their events first: each check reads until it sees what it waits for."""

from __future__ import annotations

import socket
import subprocess
import threading
import time

import pytest

from cgmand import procevents
from cgmand.errors import CgroupGone
from cgmand.hierarchy import Hierarchy
from cgmand.kernel.cgroupfs import CgroupFS, ProcsFile
from cgmand.kernel.procconnector import NETLINK_CONNECTOR, TIMEOUT, WAKE, Connector, Overrun

from conftest import MOUNTS, mount_of, wait_until


@pytest.fixture(name="connector")
def _connector():
    made = Connector(procevents.EXEC)
    try:
        assert made.can_wake  # root here: netlink lets it send to its own socket
        made.set_timeout(0.05)
        while made.receive() is not TIMEOUT:  # what queued since the subscription, and the first wake-up
            pass
        yield made
    finally:
        made.close()


def until_wake(connector, seconds=10.0, end=WAKE):
    """Receive until ``end`` (WAKE, or TIMEOUT); how long that took, and what came before."""
    started, events = time.monotonic(), []
    while time.monotonic() - started < seconds:
        got = connector.receive()
        if got is end:
            return time.monotonic() - started, events
        events.append(got)
    raise AssertionError(f"no {end} in {seconds} s ({len(events)} events)")


def test_wake_ends_a_blocking_receive(connector):
    connector.set_timeout(None)
    threading.Timer(0.3, connector.wake).start()
    took, _events = until_wake(connector)
    assert 0.25 <= took < 5


def test_the_receive_timeout_ends_an_idle_wait(connector):
    connector.set_timeout(0.2)
    took, events = until_wake(connector, end=TIMEOUT)
    assert took >= 0.15  # events of other processes may come first; never a timeout before its time
    assert WAKE not in events


def test_a_datagram_from_another_socket_is_counted_not_taken(connector):
    connector.set_timeout(0.5)
    stranger = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
    try:
        stranger.bind((0, 0))
        # A well-formed exec event, as the kernel would send it, from a user process's port
        stranger.sendto(procevents.build(procevents.EXEC, 4242, 4242), (connector.sock.getsockname()[0], 0))
        _took, events = until_wake(connector, end=TIMEOUT)
    finally:
        stranger.close()
    assert None in events and connector.foreign == 1
    assert all(e is None or e.tgid != 4242 for e in events)


def test_exec_events_still_arrive(connector, tmp_path):
    connector.set_timeout(1.0)
    child = subprocess.Popen(["/bin/true"])
    child.wait()
    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and child.pid not in seen:
        got = connector.receive()
        if got is not WAKE and got is not None and got.what == procevents.EXEC:
            seen.append(got.tgid)
    assert child.pid in seen


def hierarchy_for_pids():
    """A hierarchy that moves processes: pids (v1 here, or cgroup2's root in the v2 guest)."""
    point = mount_of("pids") or mount_of("unified")
    mount = MOUNTS[point]
    controllers = ("pids",) if mount.fstype == "cgroup" else ()
    return Hierarchy(version=1 if mount.fstype == "cgroup" else 2, mount_point=point, root="/",
                     controllers=frozenset(controllers))


def test_one_open_cgroup_procs_moves_many_and_a_removed_group_is_named(kenv):
    hierarchy = hierarchy_for_pids()
    fs = CgroupFS(hierarchy)
    fs.mkdir(kenv.prefix)
    group = kenv.prefix + "/held"
    fs.mkdir(group)
    procs = ProcsFile(fs, group)
    sleepers = [subprocess.Popen(["sleep", "60"]) for _ in range(3)]
    kenv.procs.extend(sleepers)
    try:
        for sleeper in sleepers:
            procs.write(sleeper.pid)
        inside = fs.read(group, "cgroup.procs").split()
        assert sorted(inside) == sorted(str(s.pid) for s in sleepers)
        for sleeper in sleepers:
            kenv.stop(sleeper)
        assert wait_until(lambda: fs.read(group, "cgroup.procs").strip() == "", 10)
        fs.rmdir(group)  # the open file does not keep the cgroup
        late = subprocess.Popen(["sleep", "60"])
        kenv.procs.append(late)
        with pytest.raises(CgroupGone, match="removed"):
            procs.write(late.pid)
    finally:
        procs.close()
    assert procs.fd == -1


def test_wake_never_blocks_on_a_full_queue():
    """A netlink send to a full queue waits for room; the engine's queue is full exactly
    when it is busiest, and a reload or stop must not hang there."""
    made = Connector(procevents.EXEC, rcvbuf=4096)
    try:
        done = threading.Event()

        def flood():
            for _ in range(10000):  # far more than a 4 KiB queue holds
                made.wake()
            done.set()

        worker = threading.Thread(target=flood, daemon=True)
        worker.start()
        worker.join(timeout=30)
        assert done.is_set(), "wake() blocked on the full queue"
        made.set_timeout(1.0)
        got = []
        while WAKE not in got and len(got) < 1000:  # what was queued still reads as wake-ups
            try:
                got.append(made.receive())
            except Overrun:  # other processes' events, on a kernel that cannot filter them (< 6.6)
                continue
        assert WAKE in got
    finally:
        made.close()


def test_queued_says_when_a_read_emptied_the_queue(connector):
    """What the engine waits for after an overflow: netlink stops dropping once a read
    leaves the queue empty. SO_MEMINFO gives the queue's size and the drop count."""
    from cgmand.kernel.procconnector import TIMEOUT

    assert isinstance(connector.dropped(), int)
    for _ in range(3):
        connector.wake()
    assert connector.queued() > 0
    connector.set_timeout(0.2)
    while connector.receive() is not TIMEOUT:
        pass
    assert connector.queued() == 0
