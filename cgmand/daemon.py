"""cgmand: keep the kernel's control groups equal to /etc/cgman, all the time (DESIGN.md §6).

Start: load the configuration (exit 78 if it is invalid), detect the host,
reconcile, and only then tell systemd READY=1. Then one loop over one queue,
fed by:

* the configuration directory (watchdog, watching the directory itself, so
  editors that save by rename, and drop-ins that come and go, count), debounced;
* SIGHUP, and `cgman reload` through the control socket, which waits for the
  outcome;
* a drift check every ``[manager] drift_interval`` seconds, which repairs what
  was changed or removed by hand;
* SIGTERM/SIGINT: STOPPING=1 and exit 0, leaving groups and processes as they are.

Each reload is bracketed by RELOADING=1 ... READY=1 with a STATUS= line. A
reload whose files are invalid keeps the last good configuration running
(logged with file, key and expectation, and shown in STATUS=); fixing the file
recovers without a restart. WATCHDOG=1 goes out at half WATCHDOG_USEC. One
failing write never stops the loop: it is in the report, like any other.
"""

from __future__ import annotations

import gc
import os
import queue
import signal
import sys
import time
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Any, Dict, List, Optional

    from cgmand.model import DesiredState
    from cgmand.roots import Roots

from cgmand import commands, config, log, scope
from cgmand.errors import CgmanError, ConfigErrors, ExitCode

CHANGES = ("created", "modified", "moved", "deleted", "closed")  # watchdog event types that change a file
DEBOUNCE = 0.05  # seconds of quiet after a config change before reloading (editors write in bursts)
# Sticky marks are copied down to descendants and pruned this often (cgmand/sticky.py):
# a child is covered on its own once a settle saw it, so its parent may then exit.
STICKY_SETTLE = 5.0
INSTANCE_GRACE = 10.0  # seconds a new template group may stay empty: its process is on its way


class Notifier:
    """sd_notify(3) through $NOTIFY_SOCKET; silent when there is none (no systemd).

    Non-blocking: a Unix datagram socket queues only net.unix.max_dgram_qlen
    (10) messages, and a supervisor that stops reading must not stall the
    loop (a blocked send also blocked STOPPING=1, so the daemon could not
    even exit). A message that does not fit is dropped."""

    def __init__(self) -> None:
        import sdnotify

        self._notifier = sdnotify.SystemdNotifier()
        if self._notifier.socket is not None:
            self._notifier.socket.setblocking(False)

    def send(self, *fields: str) -> None:
        self._notifier.notify("\n".join(fields))


class Daemon:
    def __init__(self, roots: Roots, notifier: Optional[Notifier] = None):
        self.roots = roots
        self.events: queue.SimpleQueue = queue.SimpleQueue()  # put() is safe in signal handlers
        self.notify = notifier or Notifier()
        self.desired: Optional[DesiredState] = None  # the last good configuration
        # What the kernel was brought to by the last reconcile, if it settled (left
        # nothing for the next one to finish): an edit is planned against it alone
        # (scope.py). None: unknown, the next edit is planned in full. With the key of
        # the files it was read from, which tells whether a drift check that found the
        # system in sync (without reading the files) was in sync with it.
        self.baseline: Optional[DesiredState] = None
        self.baseline_key: Optional[tuple] = None
        self.memo = config.Memo()  # what the last load validated: an edit re-validates its groups only
        self.config_error: Optional[str] = None  # why the files are not in force now, if they are not
        self.last: dict = {}  # the last reconcile's summary, for STATUS= and `cgman status`
        self.started = time.time()
        from cgmand.kernel import stickyfile

        self.marks = stickyfile.load(roots.run_root)  # processes placed by hand (cgmand/sticky.py)
        self._host = None  # the host model place requests use (placement_host)
        self.engine = None  # the rules engine, while there are rules (cgmand/engine.py)
        # Groups made from templates for the rules (name -> pattern), kept while in use:
        # part of every desired state from now on, persisted for a restart.
        self.instances: Dict[str, str] = _load_instances(roots.run_root)
        self.instance_born: Dict[str, float] = {name: time.monotonic() for name in self.instances}
        self.rules_error: Optional[str] = None  # why the rules cannot run here, if they cannot

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> int:
        """Load, reconcile, READY=1. A bad configuration at start (a file, or a key
        this host cannot honour) exits 78: the unit sets RestartPreventExitStatus=78,
        since restarting cannot fix a file."""
        from cgmand.kernel import snapshot

        key = snapshot.key(self.roots)
        try:
            desired = self.with_instances(commands.load_config(self.roots, self.memo))
            self.reconcile("start", desired, key, strict=True)
        except ConfigErrors as err:
            log.logger().error("config_invalid", error=err.render())
            self.notify.send(f"STATUS=configuration invalid: {_first_line(err)}")
            return ExitCode.CONFIG
        self.desired = desired
        self.follow_rules()  # subscribed and the running processes placed before READY=1
        self.notify.send("READY=1", f"STATUS={self.status_line()}", f"MAINPID={os.getpid()}")
        log.logger().info("daemon_ready", pid=os.getpid())
        # What start-up built (modules, the configuration, the parse memo) lives as long as
        # the daemon: move it out of the collector's sight, so the full collections an
        # edit's parsing triggers stay short (gc.freeze, Python >= 3.7).
        gc.collect()
        gc.freeze()
        return ExitCode.OK

    def run(self) -> int:
        # Everything that feeds the queue is in place before the first reconcile, so
        # an edit or a signal arriving while it runs (or right after READY=1) is
        # handled next, not lost.
        for signum, event in ((signal.SIGHUP, "reload"), (signal.SIGTERM, "stop"), (signal.SIGINT, "stop")):
            signal.signal(signum, lambda *_, e=event: self.events.put((e, None)))
        watcher = _watch(self.roots.config_dir, self.events)
        from cgmand.control import CONTROL, PLACE, ControlServer

        servers = [ControlServer(self.roots.run_root, self.events, kind) for kind in (CONTROL, PLACE)]
        try:
            status = self.start()
            return self.loop() if status == ExitCode.OK else status
        finally:
            for server in servers:
                server.close()
            if self.engine is not None:
                self.engine.stop()
            if watcher is not None:
                watcher.stop()

    def loop(self) -> int:
        watchdog = _watchdog_interval()
        drift = self.desired.manager.drift_interval if self.desired else 60.0
        next_ping = time.monotonic() + watchdog if watchdog else None
        next_drift = time.monotonic() + drift if drift else None
        next_settle = None  # while there are sticky marks: every STICKY_SETTLE seconds
        while True:
            now = time.monotonic()
            if next_settle is None and (self.marks or self.instances):
                next_settle = now + STICKY_SETTLE
            deadlines = [d for d in (next_ping, next_drift, next_settle) if d is not None]
            try:
                event, reply = self.events.get(timeout=max(0.0, min(deadlines) - now) if deadlines else None)
            except queue.Empty:
                event, reply = None, None
            now = time.monotonic()
            if next_ping is not None and now >= next_ping:
                self.notify.send("WATCHDOG=1")
                next_ping = now + watchdog
            if event == "stop":
                self.notify.send("STOPPING=1")
                log.logger().info("daemon_stopping", reason="signal")
                return ExitCode.OK
            edit = event == "changed"
            if edit:  # its second item says whether the file is complete
                self._settle(complete=bool(reply))
                event, reply = "reload", None
            if event == "reload":
                outcome = self.reload(edit)
                if reply is not None:
                    reply(outcome)
            elif event == "status" and reply is not None:
                reply(self.state())
            elif event in ("place", "sticky") and reply is not None:
                reply(self.answer(event, reply))
            elif event == "instantiate" and reply is not None:
                reply(self.instantiate(reply.body["name"], reply.body["pattern"]))
            if next_settle is not None and now >= next_settle:
                self.settle_marks()
                self.prune_instances()
                next_settle = None
            due = next_drift is not None and now >= next_drift
            if due and event != "reload":
                self.reconcile("drift")
            if due or event == "reload":  # a reload may also change the interval (0: never)
                drift = self.desired.manager.drift_interval if self.desired else drift
                next_drift = time.monotonic() + drift if drift else None

    def _settle(self, complete: bool) -> None:
        """Swallow the rest of a burst of file events. A file closed after writing, or
        renamed into place, is complete: reload at once. Other events (a write still
        going on, a deletion that may be half of a delete-and-recreate) wait for
        DEBOUNCE of quiet first."""
        while True:
            try:
                event, final = self.events.get(timeout=0 if complete else DEBOUNCE)
            except queue.Empty:
                return
            if event != "changed":
                self.events.put((event, final))  # a stop or an explicit reload: handled next
                return
            complete = complete or bool(final)

    # --- work -------------------------------------------------------------------------

    def reload(self, edit: bool = False) -> dict:
        """Read the files again; apply them, or keep the last good configuration.
        ``edit``: a file changed (not SIGHUP or `cgman reload`, which always
        reconcile in full): plan only the groups the edit changed, if it can."""
        from cgmand.kernel import snapshot

        self.notify.send("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")
        key = snapshot.key(self.roots)  # before reading: what the files were when read
        try:
            desired = self.with_instances(commands.load_config(self.roots, self.memo))
            self.reconcile("reload", desired, key, before=self.baseline if edit else None, strict=True)
            self.desired, self.config_error = desired, None
            self.follow_rules(rescan=desired.manager.rescan_on_reload)
        except ConfigErrors as err:  # nothing of it was applied
            self.config_error = _first_line(err)
            log.logger().error("config_invalid", error=err.render(), kept="the last good configuration")
            # Planned from the last good state: no snapshot may vouch for these files.
            self.reconcile("reload", self.desired, None)
        self.notify.send("READY=1", f"STATUS={self.status_line()}")
        return self.state()

    def reconcile(self, reason: str, desired: Optional[DesiredState] = None, key: Optional[tuple] = None,
                  before: Optional[DesiredState] = None, strict: bool = False) -> None:
        """``desired``: the state just read (with the snapshot ``key`` taken before) or,
        while the files are invalid, the last good one; None: read the files.
        ``before``: the state the kernel was last brought to, for an edit to be
        planned for its changed groups alone (scope.py). ``strict``: raise
        ConfigErrors (a key this host cannot honour) instead of logging them."""
        from cgmand import configcache
        from cgmand.kernel import snapshot

        if desired is None and self.config_error:
            desired = self.desired
        elif desired is None and self.instances:  # the files alone would drop the template groups
            try:
                desired = self.with_instances(commands.load_config(self.roots, self.memo))
            except ConfigErrors:
                desired = self.desired
        self._host = None
        started = time.monotonic()
        # The files as they were before they were read (now, for a drift check).
        files = key[snapshot.CONFIG] if key is not None else configcache.key(self.roots.config_dir)
        names = scope.changed(before, desired) if before is not None and desired is not None else None
        try:
            done = None
            if names is not None:  # an edit that changed no group (a comment): nothing to do
                done = commands.reconcile_edit(self.roots, desired, names) if names else \
                    commands.Reconciled(None, None, desired, None, [])
            if done is None:
                names = None
                done = commands.reconcile_once(self.roots, desired=desired, started=key)
        except CgmanError as err:  # the host changed under us, the record is unreadable, ...
            self.baseline = None
            if strict and isinstance(err, ConfigErrors):
                raise  # a key this host cannot honour: the caller keeps the last good config
            self._failed(reason, err)
            return
        self._track(done, files)
        counts = done.report.counts() if done.report is not None else {}
        self.last = {"reason": reason, "at": time.time(), "counts": counts,
                     "failed": bool(done.report is not None and done.report.failed),
                     "duration_ms": round((time.monotonic() - started) * 1000, 1)}
        log.logger().info("reconcile_done", reason=reason, duration_ms=self.last["duration_ms"],
                          in_sync=done.report is None, scope="all" if names is None else len(names), **counts)

    def answer(self, event: str, request: Any) -> dict:
        """A place or sticky request from a socket (cgmand/placement.py)."""
        from cgmand import placement
        from cgmand.kernel import stickyfile

        started = time.monotonic()
        try:
            if event == "place":
                outcome = placement.place(request, self.roots, self.desired, self.placement_host(), time.time())
            else:
                outcome = placement.sticky_request(request.body, self.roots, time.time())
        except OSError as err:  # the marks' file
            outcome = {"ok": False, "error": f"cannot record the sticky mark: {err}"}
        except Exception as err:  # one bad request must not stop the daemon
            log.logger().exception("request_failed", request=event)
            outcome = {"ok": False, "error": f"internal error: {type(err).__name__}: {err}",
                       "reference": "internal-error"}
        self.marks = stickyfile.load(self.roots.run_root)
        log.logger().info("request_done", request=event, pid=request.peer[0], uid=request.peer[1],
                          ok=outcome.get("ok", True), error=outcome.get("error"),
                          duration_ms=round((time.monotonic() - started) * 1000, 1))
        return outcome

    def follow_rules(self, rescan: bool = False) -> None:
        """Start the rules engine when there are rules, give it a new rule set (whole: a
        file that does not validate never gets here), stop it when none are left."""
        rules = self.desired.rules if self.desired else ()
        if not rules:
            if self.engine is not None:
                self.engine.stop()
                self.engine = None
                log.logger().info("rules_stopped")
            return
        if self.engine is not None:
            self.engine.update(self.desired, self.placement_host(), rescan=rescan)
            return
        from cgmand.engine import Engine

        def note(event: str, **fields: Any) -> None:
            log.logger().info(event, **fields)

        engine = Engine(self.roots, self.placement_host(), self.desired, lambda: self.marks, note,
                        instantiate=self.ask_instance, buffer=self.desired.manager.events_buffer,
                        log_debug=(lambda event, **fields: log.logger().debug(event, **fields))
                        if log.debug_enabled() else None)
        try:
            engine.start()
        except (CgmanError, OSError) as err:  # no proc connector here: groups are still kept
            self.rules_error = err.render() if isinstance(err, CgmanError) else f"proc connector: {err}"
            log.logger().error("rules_unavailable", error=self.rules_error)
            return
        self.engine, self.rules_error = engine, None
        log.logger().info("rules_started", rules=len(rules))

    # --- groups from templates (cgmand/rules.py: place = "batch/%u") -----------------------

    def with_instances(self, desired: DesiredState) -> DesiredState:
        """``desired`` and the template groups in use; one whose template is gone is dropped."""
        if not self.instances:
            return desired
        groups = dict(desired.groups)
        for name, pattern in list(self.instances.items()):
            template = desired.templates.get(pattern)
            if template is None:
                self._forget_instance(name)
            elif name not in groups:
                groups[name] = template._replace(name=name, source=f"{template.source} (template {pattern})")
        return desired._replace(groups=groups)

    def instantiate(self, name: str, pattern: str) -> dict:
        """Make group ``name`` from template ``pattern`` (the engine asks, from its thread,
        through the queue): part of the desired state from now on, reconciled now."""
        desired = self.desired
        if desired is None or pattern not in desired.templates:
            return {"ok": False, "error": f"no template {pattern!r} in the configuration in force"}
        if name not in self.instances and name not in desired.groups:
            self.instances[name] = pattern
            self.instance_born[name] = time.monotonic()
            self._save_instances()
            wanted = self.with_instances(desired)
            self.reconcile("template", wanted, None, before=self.baseline)
            self.desired = wanted
            log.logger().info("template_group_made", group=name, template=pattern)
        return {"ok": True}

    def prune_instances(self) -> None:
        """Template groups nobody is in any more (after a grace period: the engine moves a
        process in just after making one) leave the desired state, and so the kernel."""
        gone = [name for name in self.instances
                if time.monotonic() - self.instance_born.get(name, 0.0) > INSTANCE_GRACE and not self._populated(name)]
        if not gone or self.desired is None:
            return
        patterns = {name: self.instances[name] for name in gone}
        for name in gone:
            self._forget_instance(name)
        groups = {n: g for n, g in self.desired.groups.items() if n not in gone}
        wanted = self.desired._replace(groups=groups)
        self.reconcile("template", wanted, None)
        # The engine may have moved a process in between the look and the removal (its
        # cgroup.procs is open): such a group stayed (busy), and is kept on.
        back = [name for name in gone if self._populated(name)]
        if back:
            for name in back:
                self.instances[name] = patterns[name]
                self.instance_born[name] = time.monotonic()
            self._save_instances()
            wanted = wanted._replace(groups=dict(wanted.groups, **{n: self.desired.groups[n] for n in back
                                                                   if n in self.desired.groups}))
            log.logger().info("template_groups_kept", groups=",".join(sorted(back)))
        self.desired = wanted
        removed = sorted(set(gone) - set(back))
        if removed:
            log.logger().info("template_groups_removed", groups=",".join(removed))

    def _forget_instance(self, name: str) -> None:
        self.instances.pop(name, None)
        self.instance_born.pop(name, None)
        self._save_instances()

    def _populated(self, name: str) -> bool:
        from cgmand import targets
        from cgmand.kernel import attach

        try:
            return attach.populated(targets.resolve(self.placement_host(), [targets.parse(f"*:{name}")]))
        except CgmanError:
            return False

    def _save_instances(self) -> None:
        import json

        from cgmand.kernel import runfiles

        try:
            runfiles.write_atomically(os.path.join(self.roots.run_root, "cgman", "instances.json"),
                                      json.dumps(self.instances, sort_keys=True).encode())
        except OSError as err:
            log.logger().error("template_groups_unsaved", error=str(err))

    def ask_instance(self, name: str, pattern: str) -> Optional[str]:
        """For the engine's thread: have the loop make the group; why not, or None."""
        import threading

        from cgmand.control import Request

        if threading.current_thread() is threading.main_thread():  # the start-up scan: the loop is us
            answer = self.instantiate(name, pattern)
            return None if answer.get("ok") else answer.get("error", "refused")
        pending = Request({"name": name, "pattern": pattern}, (os.getpid(), 0, 0))
        self.events.put(("instantiate", pending))
        answer = None
        for _ in range(600):  # 60 s, but not past a stop: stop() waits for this thread
            answer = pending.wait(0.1)
            if answer is not None or (self.engine is not None and self.engine.stopping):
                break
        if answer is None:
            return "cgmand did not make the group in time"
        return None if answer.get("ok") else answer.get("error", "refused")

    def placement_host(self):
        """The host model of the configuration in force, for place requests: detected once,
        again after each reconcile (which may follow a change of base or of delegation)."""
        if self._host is None:
            from cgmand import model
            from cgmand.kernel import hostinfo

            manager = self.desired.manager if self.desired else model.ManagerSpec()
            self._host = hostinfo.detect(manager, self.roots, offered=False)
        return self._host

    def settle_marks(self) -> None:
        """Copy sticky marks down to the living processes they cover and forget the dead
        (cgmand/sticky.py), so a marked process's exit does not free its children."""
        if not self.marks:
            return
        from cgmand.kernel import procinfo, stickyfile

        try:
            self.marks = stickyfile.update(self.roots.run_root,
                                           lambda marks: marks.settle(procinfo.processes(self.roots.proc_root)))
        except OSError as err:
            log.logger().error("sticky_marks_unwritable", error=str(err))

    def _track(self, done: commands.Reconciled, files: Optional[tuple]) -> None:
        """Keep the baseline (see __init__) and the last good configuration up to date."""
        if not done.settled:
            self.baseline = None
        elif done.desired is not None:  # what this reconcile brought the kernel to
            self.baseline, self.baseline_key = done.desired, files
            if self.config_error is None:  # a drift check may have read changed files
                self.desired = done.desired
        elif files is None or files != self.baseline_key:
            # In sync, says the snapshot, but with files other than the baseline's
            # (changed with no event seen, say): unknown.
            self.baseline = None

    def _failed(self, reason: str, err: CgmanError) -> None:
        self.last = {"reason": reason, "error": err.render(), "at": time.time()}
        log.logger().error("reconcile_failed", reason=reason, error=err.render())

    def status_line(self) -> str:
        if self.config_error:
            return f"configuration invalid, running the last good one: {self.config_error}"
        counts = self.last.get("counts") or {}
        done = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "in sync"
        if self.last.get("error"):
            done = f"last reconcile failed: {self.last['error'].splitlines()[0]}"
        groups = len(self.desired.groups) if self.desired else 0
        return f"{groups} groups; {self.last.get('reason', 'start')}: {done}"

    def state(self) -> dict:
        return {"pid": os.getpid(), "started": self.started, "config_error": self.config_error,
                "last": self.last, "status": self.status_line(),
                "groups": len(self.desired.groups) if self.desired else 0, "sticky": len(self.marks),
                "rules": self.engine.state() if self.engine is not None else
                {"rules": len(self.desired.rules) if self.desired else 0, "error": self.rules_error}}



def _load_instances(run_root: str) -> Dict[str, str]:
    import json

    from cgmand.kernel import runfiles

    data = runfiles.read_trusted(os.path.join(run_root, "cgman", "instances.json"))
    try:
        loaded = json.loads(data) if data else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def _first_line(err: CgmanError) -> str:
    """One line for STATUS=: the first problem, and how many more there are."""
    if isinstance(err, ConfigErrors) and err.errors:
        more = len(err.errors) - 1
        return err.errors[0].render().splitlines()[0] + (f" (and {more} more)" if more else "")
    return err.render().splitlines()[0]


def _watchdog_interval() -> Optional[float]:
    """Half of WATCHDOG_USEC, if systemd asked for pings (and for this process)."""
    usec, pid = os.environ.get("WATCHDOG_USEC"), os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


def _watch(directory: str, events: Any) -> Optional[Any]:
    """A watchdog observer on the directory itself: a save by rename, a new or a
    removed drop-in, all arrive as events on *.toml names."""
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    class Changed(FileSystemEventHandler):
        def on_any_event(self, event: Any) -> None:
            # Not "opened" or "closed_no_write": reading the files to reload would
            # otherwise ask for the next reload, forever.
            if event.event_type not in CHANGES:
                return
            names = [getattr(event, "src_path", ""), getattr(event, "dest_path", "")]
            if any(str(n).endswith(".toml") and not os.path.basename(str(n)).startswith(".") for n in names):
                # ("changed", complete?): closed after writing, or renamed into place. Not a
                # deletion: delete-and-recreate is a way to save, and reloading in between
                # would remove every empty group only to create it again.
                events.put(("changed", event.event_type in ("closed", "moved")))

    if not os.path.isdir(directory):
        log.logger().warning("config_dir_missing", path=directory)
        return None
    observer = Observer()
    observer.schedule(Changed(), directory, recursive=False)
    observer.daemon = True
    observer.start()
    return observer


def main(argv: Optional[List[str]] = None) -> int:
    """`cgmand [root options]`, the same as `cgman daemon`."""
    from cgmand import cli

    return cli.main(["daemon"] + list(sys.argv[1:] if argv is None else argv))


def run(roots: Roots, log_format: Optional[str] = None) -> int:
    from cgmand import configcache

    gc.enable()  # the console script turns it off for one-shot commands; this one lives on

    fmt = log_format
    if fmt is None:  # the config may set it; a bad config still gets its error logged
        try:
            fmt = configcache.load(roots.config_dir, None).manager.log_format
        except CgmanError:
            fmt = "auto"
    log.configure("info", fmt)
    return Daemon(roots).run()


def entry() -> None:
    sys.exit(main())
