"""The rules engine: places processes the moment they start, from the kernel's proc
connector (research/rules.md §3-5).

One thread. It waits in one blocking recvfrom(2) for the next event; for a
process that exec'd (or changed uid or gid, when a rule looks at users or
groups) it reads what the rules ask of it, decides, and moves it; then it
waits again. Every syscall and every hand-off is paid thousands of times a
second (docs/performance.md):
* no reader thread feeding a worker: the hand-off cost ~120 us of CPU per
  event (137 us per exec, against 18 us handled directly). The kernel's queue
  (8 MiB: thousands of events) is the buffer; it holds far more than arrives
  while one cgroup write waits ~15 ms for an RCU grace period;
* no poll(2) before each read: other threads wake the receive with a datagram
  (Connector.wake), and a pending rescan's delay is a receive timeout;
* most execs match no rule: when every rule names a comm, one read of comm and
  one regex answer for them (rules.comm_filter);
* each group's cgroup.procs stays open (cgroupfs.ProcsFile).

Start-up has no gap: subscribe first, then scan /proc, then handle what queued
meanwhile (a process seen twice is only placed again, which changes nothing).
When the kernel drops events (ENOBUFS), the engine counts it, doubles the
socket's buffer (up to MAX_BUFFER) and, once RESCAN_DELAY has passed without
another overflow and a read has emptied the queue (until then netlink drops
silently), scans /proc again: every process still alive is placed.

Never moved: PID 1, kernel threads, zombies, cgmand itself, processes a rule's
origin policy does not reach (cgmand/origins.py), and sticky processes
(cgmand/sticky.py) unless the rule says force = true.
"""

from __future__ import annotations

import os
import queue
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Any, Callable, Dict, Optional

from cgmand import origins, procevents, rules as rulebook
from cgmand.errors import CgmanError, CgroupGone, KernelError, ProcessGone
from cgmand.kernel.procconnector import TIMEOUT, WAKE, Overrun
from cgmand.kernel.procfacts import ProcFacts, pid_namespace, pin, pinned_alive, unpin

MASK = procevents.EXEC | procevents.UID | procevents.GID  # what the engine acts on (6.6+: filtered in the kernel)
IDLE_WAKE = 0.5  # seconds: how long a request may wait where the connector cannot be woken
MAX_BUFFER = 64 << 20
RESCAN_DELAY = 1.0  # seconds of no overflow before the resynchronising scan
RESCAN_POLL = 0.05  # while a scan waits: the receive timeout that shows the queue empty
FAILURE_PAUSE = 1.0  # seconds after a turn that failed: a persistent fault never makes a busy loop
MAX_OPEN_GROUPS = 64  # groups whose cgroup.procs stay open (each 1-4 descriptors)
RESCAN = "rescan"


class Counters:
    FIELDS = ("events", "examined", "placed", "in_place", "ignored", "unmatched", "origin_refused", "sticky",
              "gone", "failed", "overflows", "rescans", "foreign")

    def __init__(self) -> None:
        for name in self.FIELDS:
            setattr(self, name, 0)

    def as_dict(self) -> Dict[str, int]:
        return {name: getattr(self, name) for name in self.FIELDS}


class Engine:
    def __init__(self, roots: Any, host: Any, desired: Any, marks: Callable[[], Any],
                 log: Callable[..., None], connector: Any = None,
                 instantiate: Optional[Callable[[str, str], Optional[str]]] = None, buffer: int = 8 << 20,
                 log_debug: Optional[Callable[..., None]] = None):
        """``host``: the host model to resolve groups with; ``desired``: the configuration
        in force (its rules, and its groups' controllers); ``marks``: returns the
        sticky marks now; ``log(event, **fields)``; ``connector``: a started
        kernel/procconnector.Connector (tests give a fake); ``instantiate(group,
        pattern)``: has cgmand make a template's group (None, or why not)."""
        self.instantiate, self.buffer = instantiate, buffer
        self.log_debug = log_debug  # per process; None (the default): not even built
        self.roots, self.marks, self.log = roots, marks, log
        self._set(desired, host)
        self.counters = Counters()
        self.work: queue.SimpleQueue = queue.SimpleQueue()
        self.connector = connector
        self.own_pid = os.getpid()
        self.init_ns = pid_namespace(1, roots.proc_root)
        self._last_overflow: Optional[float] = None
        self._rescan_wanted = False
        self._asked = buffer  # the receive buffer asked for (the kernel grants twice as much)
        self.stopping = False
        self._attention = False  # a request, or a rescan, waits: looked at before the next receive
        self._targets_of: Any = None  # the configuration the open target files were resolved for
        self._open: Dict[str, list] = {}  # destination -> its targets, each with its cgroup.procs open
        self._names: Optional[Dict[str, str]] = None  # hierarchy key -> its names in /proc/PID/cgroup
        self.threads: list = []

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Subscribe (the connector); place what already runs (here, before returning:
        cgmand says READY=1 after it), while the kernel queues what starts meanwhile;
        then handle the events in a thread of their own."""
        if self.connector is None:
            from cgmand.kernel.procconnector import Connector

            self.connector = Connector(MASK, rcvbuf=self.buffer)
        self._rescan()  # after the subscription: nothing started in between is missed
        self._thread(self._serve, "rules")

    def _thread(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def update(self, desired: Any, host: Any, rescan: bool = False) -> None:
        """A new configuration (already validated whole): its rules swapped in at once."""
        self._set(desired, host)
        if rescan:
            self._request(RESCAN)

    def _set(self, desired: Any, host: Any) -> None:
        # One assignment of a tuple: the engine's thread sees the old set or the new one,
        # whole. Its open files are its own: it closes them when it sees the change.
        rules = tuple(desired.rules)
        # a rule that looks at ids, or places by them (batch/%u): a setuid() matters to it
        uses_ids = any(key in rule.match for rule in rules for key in ("user", "uid", "group", "gid")) or \
            any("%" in (rule.place or "") for rule in rules)
        self.config = (rules, host, desired, rulebook.comm_filter(rules), uses_ids)

    @property
    def rules(self) -> tuple:
        return self.config[0]

    @property
    def host(self) -> Any:
        return self.config[1]

    @property
    def desired(self) -> Any:
        return self.config[2]

    def stop(self) -> None:
        self.stopping = True  # a template request in flight gives up (daemon.ask_instance)
        if self.threads:
            self._request(None)
            for thread in self.threads:
                thread.join(timeout=5)
        if not any(thread.is_alive() for thread in self.threads):  # else its files are still in use
            self._close_targets()
        if self.connector is not None:
            self.connector.close()

    def _request(self, item: Any) -> None:
        """Work from another thread (a rescan, stop): queued, and the receive woken."""
        self.work.put(item)
        self._attention = True
        if self.connector is not None and self.threads:
            self.connector.wake()

    # --- the loop -------------------------------------------------------------------------

    def _serve(self) -> None:
        """Receive an event, handle it, again; between two, only a flag is looked at.
        When it is up: requests (stop, rescan) and a pending rescan's timing. Nothing that
        goes wrong in one turn ends the thread; the open files are closed on the way out."""
        connector = self.connector
        self._idle_timeout = None if connector.can_wake else IDLE_WAKE
        connector.set_timeout(self._idle_timeout)
        self._timeout_set = self._idle_timeout
        try:
            while True:
                try:
                    if self._attention and self._attend():
                        return
                    self._turn(connector)
                except Exception as err:  # never a silent death, never a busy loop
                    self.counters.failed += 1
                    self._log_safely(f"{type(err).__name__}: {err}")
                    time.sleep(FAILURE_PAUSE)
        finally:
            self._close_targets()

    def _turn(self, connector: Any) -> None:
        try:
            event = connector.receive()
        except Overrun:
            self._overrun()
            return
        if event is WAKE or event is TIMEOUT:
            return
        if event is None:
            self.counters.foreign += 1
            return
        if event.pid != event.tgid and event.what == procevents.EXEC:
            return  # exec events name the leader (de_thread gave the exec'ing thread its pid)
        try:
            self.handle(event)
        except Exception as err:  # one process must never stop the engine
            self.counters.failed += 1
            self._log_safely(f"{type(err).__name__}: {err}")

    def _log_safely(self, error: str) -> None:
        try:
            self.log("rules_error", error=error)
        except Exception:  # a broken log must not end the engine either
            pass

    def _attend(self) -> bool:
        """Requests and the rescan's timing; True to stop. The flag goes down first: a
        request queued meanwhile raises it again.

        After an overflow the kernel keeps dropping events, silently, until a read leaves
        the socket's queue empty (netlink marks the socket congested, and one ENOBUFS is
        all it says; netlink_rcv_wake clears the mark): the scan waits for RESCAN_DELAY
        without overflows AND for the queue to be empty after a read, so what it lists
        from /proc is followed by events again. If the socket's drop count still grew
        during the scan, it scans once more."""
        self._attention = False
        while not self.work.empty():  # this thread is the only consumer
            item = self.work.get_nowait()
            if item is None:
                return True
            self._rescan_wanted = True
        if not self._rescan_wanted:
            self._timeout(self._idle_timeout)
            return False
        if time.monotonic() - (self._last_overflow or 0.0) >= RESCAN_DELAY and self.connector.queued() in (0, None):
            self._rescan_wanted, self._last_overflow = False, None
            before = self.connector.dropped()
            self._rescan()
            after = self.connector.dropped()
            if before is not None and after is not None and after > before:
                self._last_overflow, self._rescan_wanted = time.monotonic(), True
                self._attention = True
                self._timeout(RESCAN_POLL)
                return False
            self._timeout(self._idle_timeout)
            return False
        # Not yet: look again after each event, or after RESCAN_POLL without one (the
        # receive timeout, set once: a syscall less per event).
        self._timeout(RESCAN_POLL)
        self._attention = True
        return False

    def _timeout(self, seconds: Optional[float]) -> None:
        if seconds != self._timeout_set:
            self.connector.set_timeout(seconds)
            self._timeout_set = seconds

    def _overrun(self) -> None:
        self.counters.overflows += 1
        if self._asked < MAX_BUFFER:  # what was asked for: the kernel reports twice that (socket(7))
            self._asked = min(self._asked * 2, MAX_BUFFER)
            self.connector.rcvbuf = self.connector.grow(self._asked)
        self._last_overflow = time.monotonic()
        self._rescan_wanted = self._attention = True
        self.log("rules_overflow", buffer=self.connector.rcvbuf, overflows=self.counters.overflows)

    def _rescan(self) -> None:
        self.counters.rescans += 1
        started = time.monotonic()
        placed_before = self.counters.placed
        from cgmand.kernel.procinfo import pids

        for pid in pids(self.roots.proc_root):
            try:
                self.place(pid, scanned=True)
            except Exception as err:  # one process must not end the scan
                self.counters.failed += 1
                self._log_safely(f"{type(err).__name__}: {err}")
        self.log("rules_scan", duration_ms=round((time.monotonic() - started) * 1000, 1),
                 placed=self.counters.placed - placed_before)

    def handle(self, event: procevents.Event) -> None:
        self.counters.events += 1
        if event.what == procevents.EXEC or (event.what in (procevents.UID, procevents.GID) and self.config[4]):
            self.place(event.tgid)

    def place(self, pid: int, scanned: bool = False) -> Optional[str]:
        """Decide for one process and move it; what happened (a Counters field).
        ``scanned``: found in /proc (a kernel thread, a zombie maybe), not from an exec."""
        outcome = self._place(pid, scanned)
        if outcome is not None:
            setattr(self.counters, outcome, getattr(self.counters, outcome) + 1)
        return outcome

    def _place(self, pid: int, scanned: bool) -> Optional[str]:
        rules, host, _desired, comm_filter, _ids = self.config
        if not rules or pid in (1, self.own_pid):
            return None
        self.counters.examined += 1
        facts = ProcFacts(pid, self.roots.proc_root)
        pinned = None
        try:
            # Most processes match no rule: decide first, on what the rules read (comm
            # first: the smallest file), and look further only at a match.
            if comm_filter is not None and comm_filter.match(facts.comm()) is None:
                return "unmatched"
            rule = rulebook.first(rules, facts)
            if rule is None:
                return "unmatched"
            if rule.ignore:
                return "ignored"
            # An exec is never a kernel thread's, and a zombie's move is a no-op the pidfd
            # reports: only what a scan finds needs its state read.
            if scanned and (facts.kernel_thread() or facts.state() in ("Z", "X")):
                return None
            if not self._origin_allowed(facts, rule, host):
                return "origin_refused"
            if not rule.force and self._sticky(pid):
                return "sticky"
            # The process, pinned from here to the move: a pidfd refers to this process and
            # no later one with its pid, so after the write it tells whether the pid still
            # named it (pidfd_open(2), 5.3+). Taken after the decision, which most processes
            # never pass: two syscalls fewer each.
            if self.roots.proc_root == "/proc":  # the real processes (tests give a fake /proc)
                pinned = pin(pid)  # None on a kernel without pidfds: the start time checks instead
            start = None if pinned is not None else facts.identity()[1]
            return self._move(pid, pinned, start, rulebook.destination(rule, facts), rule, facts)
        except ProcessGone:
            return "gone"
        finally:
            if pinned is not None:
                unpin(pinned)

    def _origin_allowed(self, facts: Any, rule: rulebook.Rule, host: Any) -> bool:
        """The origin policy. The pid namespace (a readlink) is read only when it decides:
        when the process's cgroup alone allows what a container would not, or the reverse."""
        systemd = host.systemd is not None
        where = origins.origin(facts.cgroup(), host.base, systemd, False)
        if where == "cgman":
            return True
        ok = origins.allowed(where, rule.origins)
        if ok == origins.allowed("containers", rule.origins):
            return ok
        return origins.allowed("containers" if self._container(facts) else where, rule.origins)

    def _container(self, facts: Any) -> bool:
        ns = facts.pid_namespace()
        return ns is not None and self.init_ns is not None and ns != self.init_ns

    def _sticky(self, pid: int) -> bool:
        marks = self.marks()
        if not marks:
            return False
        from cgmand.kernel import procinfo

        return marks.is_sticky(procinfo.line(pid, self.roots.proc_root))

    def _move(self, pid: int, pinned: Optional[int], start: Optional[int], group: str, rule: rulebook.Rule,
              facts: Any, again: bool = True) -> str:
        if self._names is None:  # how /proc/PID/cgroup names each hierarchy: the same for all
            from cgmand.kernel.attach import hierarchy_key

            self._names = {hierarchy_key(names): names for names in facts.cgroups()}
        try:
            present = self._targets(group, rule)
        except CgmanError as err:
            self.log("rules_move_failed", pid=pid, rule=rule.name, group=group, error=err.render())
            return "failed"
        wanted = [t for t in present if t.line is None or not facts.in_cgroup(t.line)]  # read for the origin
        if not wanted:
            return "in_place"
        try:
            for target in wanted:  # the pid, once per hierarchy: the whole process moves
                target.procs.write(pid)
        except ProcessGone:
            return "gone"
        except CgroupGone:
            # Removed since it was looked up (an emptied template group, a reload): look
            # again, once; a template's group is made anew.
            self._forget(group)
            if again:
                return self._move(pid, pinned, start, group, rule, facts, again=False)
            self.log("rules_move_failed", pid=pid, rule=rule.name, group=group, error="the group is gone")
            return "failed"
        except KernelError as err:
            self.log("rules_move_failed", pid=pid, rule=rule.name, group=group, error=err.render())
            return "failed"
        if not self._same(pid, pinned, start):  # it exited: the write may have moved a newcomer
            self.log("rules_exited_during_move", pid=pid, group=group)
            return "gone"
        if self.log_debug is not None:
            self.log_debug("rules_placed", pid=pid, rule=rule.name, group=group)
        return "placed"

    def _same(self, pid: int, pinned: Optional[int], start: Optional[int]) -> bool:
        """Is the process looked at still alive, so that its pid named it at the write?"""
        if pinned is not None:
            return pinned_alive(pinned)
        from cgmand.kernel import procinfo

        try:
            return procinfo.start_time(pid, self.roots.proc_root) == start
        except ProcessGone:
            return False

    def _targets(self, group: str, rule: rulebook.Rule) -> list:
        """Where a process placed in ``group`` is written: the hierarchies of the group's
        controllers (its knobs'), plus systemd's tracking ones under systemd, as `cgman
        exec` joins them. Worked out once per group and configuration, cgroup.procs kept
        open; only this thread opens and closes those files."""
        if self._targets_of is not self.config:
            self._close_targets()
            self._targets_of = self.config
        cached = self._open.get(group)
        if cached is not None:
            return cached
        from cgmand import targets
        from cgmand.kernel import attach

        desired = self.desired
        spec = desired.groups.get(group) or desired.templates.get(rule.place or "")
        names = _controllers(spec) if spec is not None else ()
        text = f"{','.join(sorted(names)) if names else '*'}:{group}"
        chosen = targets.resolve(self.host, [targets.parse(text)], mirrors=self.host.systemd is not None)
        try:
            present = attach.check(chosen)
        except attach.AttachError as err:
            if err.reference != "group-missing" or "%" not in (rule.place or "") or self.instantiate is None:
                raise
            why = self.instantiate(group, rule.place)  # a template's group, made on first use
            if why is not None:
                raise CgmanError(f"cannot make {group} from template {rule.place}: {why}") from None
            present = attach.check(chosen)
        opened: list = []
        try:
            for target in present:
                opened.append(_Target(target, self.roots.cgroup_root is None, self._names or {}))
        except BaseException:
            for done in opened:
                done.procs.close()
            raise
        self._open[group] = opened
        while len(self._open) > MAX_OPEN_GROUPS:  # template groups come and go: the oldest first
            self._forget(next(iter(self._open)))
        return opened

    def _forget(self, group: str) -> None:
        for target in self._open.pop(group, ()):
            target.procs.close()

    def _close_targets(self) -> None:
        for group in list(self._open):
            self._forget(group)

    def state(self) -> dict:
        out = self.counters.as_dict()
        out["rules"] = len(self.rules)
        out["running"] = bool(self.threads) and all(thread.is_alive() for thread in self.threads)
        if self.connector is not None and hasattr(self.connector, "drops"):
            out["kernel_drops"] = self.connector.drops()
            out["buffer"] = self.connector.rcvbuf
        return out


def _controllers(spec: Any) -> tuple:
    """The controllers a group's knobs (and its empty controller tables) belong to."""
    from cgmand import knobs

    names = set(spec.controllers)
    for key in spec.settings:
        known = knobs.lookup(key)
        if known is not None:
            names.add(known[0].controller)
    return tuple(names)


class _Target:
    """One hierarchy a group's processes are written to: the line a process in it shows
    in /proc/PID/cgroup (":cpu,cpuacct:/cgman/web", None if that hierarchy's names are
    unknown: then it is always written), and its cgroup.procs, open."""

    __slots__ = ("line", "procs")

    def __init__(self, target: Any, kernel: bool, names: Dict[str, str]):
        from cgmand.kernel.cgroupfs import CgroupFS, ProcsFile

        root = target.hierarchy.root.rstrip("/")
        expected = (root + target.path) if target.path != "/" else (root or "/")
        known = names.get(target.hierarchy.key)
        self.line = f":{known}:{expected}" if known is not None else None
        self.procs = ProcsFile(CgroupFS(target.hierarchy), target.path, kernel)
