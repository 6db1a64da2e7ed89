"""The rules engine: places processes the moment they start, from the kernel's proc
connector (research/rules.md §3-5).

One thread. It drains the connector socket (everything queued), then, for each
process that exec'd (or changed uid or gid, when a rule looks at users or
groups), reads what the rules ask of it, decides, and moves it, draining again
every BATCH events; then it sleeps in poll(2). A reader thread feeding a worker
cost ~120 us of CPU per event in thread hand-offs (measured: 137 us per exec
against 18 us handled directly); the 8 MiB buffer holds thousands of events,
far more than arrive while one cgroup write waits ~15 ms for an RCU grace
period.

Start-up has no gap: subscribe first, then scan /proc, then handle what queued
meanwhile (a process seen twice is only placed again, which changes nothing).
When the kernel drops events (ENOBUFS), the engine counts it, doubles the
socket's buffer (up to MAX_BUFFER) and, once RESCAN_DELAY has passed without
another overflow, scans /proc again: every process still alive is placed.

Never moved: PID 1, kernel threads, zombies, cgmand itself, processes a rule's
origin policy does not reach (cgmand/origins.py), and sticky processes
(cgmand/sticky.py) unless the rule says force = true.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Any, Callable, Dict, Optional

from cgmand import origins, procevents, rules as rulebook
from cgmand.errors import CgmanError, ProcessGone

MASK = procevents.EXEC | procevents.UID | procevents.GID  # what the worker acts on (6.6+: filtered in the kernel)
MAX_BUFFER = 64 << 20
RESCAN_DELAY = 1.0  # seconds of no overflow before the resynchronising scan
RESCAN = "rescan"
BATCH = 64  # events handled between two drains of the socket


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
        self.log_debug = log_debug or (lambda event, **fields: None)  # per process: not logged by default
        self.roots, self.marks, self.log = roots, marks, log
        self._set(desired, host)
        self.counters = Counters()
        self.work: queue.SimpleQueue = queue.SimpleQueue()
        self.connector = connector
        self.own_pid = os.getpid()
        self.init_ns = _pid_namespace(roots.proc_root, 1)
        self.stopped = False
        self._last_overflow: Optional[float] = None
        self._overflowed = False
        self.threads: list = []

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Subscribe (the connector); place what already runs (here, before returning:
        cgmand says READY=1 after it), while the kernel queues what starts meanwhile;
        then handle the events in a thread of their own."""
        if self.connector is None:
            from cgmand.kernel.procconnector import Connector

            self.connector = Connector(MASK, rcvbuf=self.buffer)
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
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
        # One assignment of a tuple each: the worker sees the old set or the new one.
        self.rules, self.host, self.desired = tuple(desired.rules), host, desired
        self._resolved: Dict[str, list] = {}  # destination -> the cgroups to write its processes to

    def stop(self) -> None:
        self.stopped = True
        if self.threads:
            self._request(None)
            for thread in self.threads:
                thread.join(timeout=5)
        if self.connector is not None:
            self.connector.close()

    def _request(self, item: Any) -> None:
        """Work from another thread (a rescan, stop): queued, and the loop woken."""
        self.work.put(item)
        try:
            os.write(self._wake_write, b"!")
        except (BlockingIOError, AttributeError):
            pass  # already woken (or not started)

    # --- the loop -------------------------------------------------------------------------

    def _serve(self) -> None:
        """One thread, no hand-off: drain the socket (all it holds), handle those events,
        drain again every BATCH events (a cgroup write may wait ~15 ms, and the kernel's
        buffer holds thousands of events), take requests, then sleep in poll(2) on the
        socket and the wake-up pipe. A rescan waits for RESCAN_DELAY without overflows."""
        import collections
        import select

        poller = select.poll()
        poller.register(self.connector.fileno(), select.POLLIN)
        poller.register(self._wake_read, select.POLLIN)
        pending: collections.deque = collections.deque()
        rescan = False
        while True:
            self._drain(pending)
            handled = 0
            while pending:
                event = pending.popleft()
                try:
                    self.handle(event)
                except Exception as err:  # one process must never stop the engine
                    self.counters.failed += 1
                    self.log("rules_error", error=f"{type(err).__name__}: {err}")
                handled += 1
                if handled % BATCH == 0:
                    self._drain(pending)
            while True:
                try:
                    item = self.work.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    return
                rescan = True
            if self._overflowed:
                rescan, self._overflowed = True, False
            wait = None
            if rescan:
                quiet = time.monotonic() - (self._last_overflow or 0.0)
                if quiet >= RESCAN_DELAY:
                    rescan, self._last_overflow = False, None
                    try:
                        self._rescan()
                    except Exception as err:
                        self.log("rules_error", error=f"{type(err).__name__}: {err}")
                    continue
                wait = int((RESCAN_DELAY - quiet) * 1000) + 1
            # poll(2) returns at once if more came meanwhile; the wake-up pipe is read only
            # when it was written (every syscall counts here: thousands of events a second)
            for fd, _mask in poller.poll(wait):
                if fd == self._wake_read:
                    try:
                        os.read(self._wake_read, 4096)
                    except BlockingIOError:
                        pass

    def _drain(self, pending: Any) -> None:
        events, overrun = self.connector.drain()
        if overrun:
            self._overrun()
        for event in events:
            if event is None:
                self.counters.foreign += 1
            elif not event.thread or event.what in (procevents.UID, procevents.GID):
                pending.append(event)

    def _overrun(self) -> None:
        self.counters.overflows += 1
        size = self.connector.rcvbuf
        if size < MAX_BUFFER:
            self.connector.rcvbuf = self.connector.grow(min(size * 2, MAX_BUFFER))
        self._last_overflow = time.monotonic()
        self._overflowed = True
        self.log("rules_overflow", buffer=self.connector.rcvbuf, overflows=self.counters.overflows)

    def _rescan(self) -> None:
        self.counters.rescans += 1
        started = time.monotonic()
        placed_before = self.counters.placed
        for name in os.listdir(self.roots.proc_root):
            if name.isdigit():
                self.place(int(name), scanned=True)
        self.log("rules_scan", duration_ms=round((time.monotonic() - started) * 1000, 1),
                 placed=self.counters.placed - placed_before)

    def handle(self, event: procevents.Event) -> None:
        self.counters.events += 1
        if event.what == procevents.EXEC:
            self.place(event.tgid)
        elif event.what in (procevents.UID, procevents.GID) and self._uses_ids():
            self.place(event.tgid)

    def _uses_ids(self) -> bool:
        return any(key in rule.match for rule in self.rules for key in ("user", "uid", "group", "gid"))

    def place(self, pid: int, scanned: bool = False) -> Optional[str]:
        """Decide for one process and move it; what happened (a Counters field).
        ``scanned``: found in /proc (a kernel thread, a zombie maybe), not from an exec."""
        outcome = self._place(pid, scanned)
        if outcome is not None:
            setattr(self.counters, outcome, getattr(self.counters, outcome) + 1)
        return outcome

    def _place(self, pid: int, scanned: bool) -> Optional[str]:
        from cgmand.kernel.procfacts import ProcFacts

        rules = self.rules
        if not rules or pid in (1, self.own_pid):
            return None
        pinned = None
        facts = ProcFacts(pid, self.roots.proc_root)
        try:
            # Most processes match no rule: decide first, on what the rules read (comm
            # first: the smallest file), and look further only at a match.
            self.counters.examined += 1
            rule = rulebook.decide(rules, facts).rule
            if rule is None:
                return "unmatched"
            if rule.ignore:
                return "ignored"
            # An exec is never a kernel thread's, and a zombie's move is a no-op the pidfd
            # reports: only what a scan finds needs its state read.
            if scanned and (facts.kernel_thread() or facts.state() in ("Z", "X")):
                return None
            kind = origins.origin(facts.cgroup(), self.host.base, self.host.systemd is not None,
                                  self._container(facts))
            if not origins.allowed(kind, rule.origins):
                return "origin_refused"
            if not rule.force and self._sticky(pid):
                return "sticky"
            # The process, pinned from here to the move: a pidfd refers to this process and
            # no later one with its pid, so after the write it tells whether the pid still
            # named it (pidfd_open(2), 5.3+). Taken after the decision, which most processes
            # never pass: two syscalls fewer each.
            if self.roots.proc_root == "/proc":  # the real processes (tests give a fake /proc)
                try:
                    pinned = os.pidfd_open(pid)
                except ProcessLookupError:
                    return "gone"
                except OSError:  # an older kernel: the start time checks instead
                    pinned = None
            start = None if pinned is not None else facts.identity()[1]
            return self._move(pid, pinned, start, rulebook.destination(rule, facts), rule, facts)
        except ProcessGone:
            return "gone"
        finally:
            if pinned is not None:
                os.close(pinned)

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
        from cgmand.errors import CgroupGone, KernelError
        from cgmand.kernel.cgroupfs import CgroupFS

        try:
            present = self._targets(group, rule)
        except CgmanError as err:
            self.log("rules_move_failed", pid=pid, rule=rule.name, group=group, error=err.render())
            return "failed"
        where = facts.cgroups_by_key()  # read already, for the origin
        wanted = [t for t in present if where.get(t.hierarchy.key) != _expected(t)]
        if not wanted:
            return "in_place"
        try:
            for target in wanted:  # the pid, once per hierarchy: the whole process moves
                CgroupFS(target.hierarchy).write(target.path, "cgroup.procs", str(pid))
        except ProcessGone:
            return "gone"
        except CgroupGone:
            # Removed since it was looked up (an emptied template group, a reload): look
            # again, once; a template's group is made anew.
            self._resolved.pop(group, None)
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
        self.log_debug("rules_placed", pid=pid, rule=rule.name, group=group)
        return "placed"

    def _same(self, pid: int, pinned: Optional[int], start: Optional[int]) -> bool:
        """Is the process looked at still alive, so that its pid named it at the write?"""
        if pinned is not None:
            try:
                signal.pidfd_send_signal(pinned, 0)
                return True
            except ProcessLookupError:
                return False
        from cgmand.kernel import procinfo

        try:
            return procinfo.start_time(pid, self.roots.proc_root) == start
        except ProcessGone:
            return False

    def _targets(self, group: str, rule: rulebook.Rule) -> list:
        """The cgroups a process placed in ``group`` is written to: the hierarchies of the
        group's controllers (its knobs'), plus systemd's tracking ones under systemd, as
        `cgman exec` joins them. Worked out once per group and configuration."""
        cached = self._resolved.get(group)
        if cached is not None:
            return cached
        from cgmand import targets
        from cgmand.kernel import attach

        spec = self.desired.groups.get(group) or self.desired.templates.get(rule.place or "")
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
        self._resolved[group] = present
        return present

    def state(self) -> dict:
        out = self.counters.as_dict()
        out["rules"] = len(self.rules)
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


def _expected(target: Any) -> str:
    root = target.hierarchy.root.rstrip("/")
    return (root + target.path) if target.path != "/" else (root or "/")


def _pid_namespace(proc_root: str, pid: int) -> Optional[int]:
    try:
        return os.stat(f"{proc_root}/{pid}/ns/pid").st_ino
    except OSError:
        return None
