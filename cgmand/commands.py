"""One small function per subcommand; each returns the exit status.

plan and apply first ask kernel/snapshot.py whether the system is still
exactly as last verified in sync; only if not do they import and run the
full pipeline (config, host, layout, observe, plan), so the common
"nothing changed" case costs little more than reading the managed files.
"""

from __future__ import annotations

import os
import sys
from collections import namedtuple

from cgmand.errors import ExitCode
from cgmand.kernel import snapshot
from cgmand.log import logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, FrozenSet, Optional, Set, Tuple

    from cgmand.hierarchy import Host
    from cgmand.hierarchy.layout import Layout
    from cgmand.model import DesiredState
    from cgmand.plan import Plan
    from cgmand.roots import Roots


def _emit(args: Any, text: Any, data: Any) -> None:
    """Print text, or JSON with --json; either may be a callable, built only when used."""
    if getattr(args, "json", False):
        import json

        json.dump(data() if callable(data) else data, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(text() if callable(text) else text)


def load_config(roots: Roots, memo: Optional[Any] = None) -> DesiredState:
    """The configuration (from the cache when unchanged, or through cgmand's
    config.Memo); raises ConfigErrors (78)."""
    from cgmand import configcache

    desired = configcache.load(roots.config_dir, os.path.join(roots.run_root, "cgman"), memo)
    logger().info("config_loaded", source=roots.config_dir, groups=len(desired.groups),
                  files=len(desired.sources))
    return desired


def load(roots: Roots, managed: Optional[dict] = None, journal: Optional[list] = None,
         desired: Optional[DesiredState] = None) -> Tuple[DesiredState, Host, Layout]:
    """Config (or ``desired``), host model and layout (with resets of the
    ``managed`` files whose keys left the config); raises ConfigErrors (78) or
    HostError (69). ``journal`` gets the kernel files host detection read."""
    from cgmand.hierarchy import layout
    from cgmand.kernel import hostinfo

    if desired is None:
        desired = load_config(roots)
    host = hostinfo.detect(desired.manager, roots, journal)
    logger().info("host_detected", layout=host.layout, base=host.base)
    return desired, host, layout.build(desired, host, managed)


# What make_plan() found: desired state, host, layout, plan, filesystems, the
# record as loaded (its created part pruned of cgroups found missing: then
# ``pruned``), every fact read, and the snapshot key taken before the
# configuration was read.
Planned = namedtuple("Planned", "desired host layout plan fss record facts pruned started")


def make_plan(roots: Roots, force: bool, applying: bool = False,
              desired: Optional[DesiredState] = None, started: Optional[tuple] = None) -> Planned:
    """The full pipeline. Saves a snapshot when the kernel is already in sync.
    ``applying``: leave removals to the kernel's own refusal (reconcile.check).
    ``desired``: plan for this state instead of the files (the daemon's last
    good configuration while the files are invalid); no snapshot is then kept,
    since it would vouch for files it did not come from, unless ``started``
    is the snapshot key taken before ``desired`` was read from the files."""
    from cgmand import plan as planner, reconcile
    from cgmand.kernel import record

    if desired is None:
        started = snapshot.key(roots)
    rec = record.load(roots.run_root)
    facts: list = []
    desired, host, laid = load(roots, rec.managed, facts, desired)
    fss = reconcile.filesystems(host)
    observed = reconcile.observe(laid, rec.created, fss, facts)
    pruned = record.forget_vanished(rec.created, reconcile.vanished(rec.created, observed, fss))
    plan = reconcile.check(planner.make(laid, observed, rec.created, force=force), fss, applying)
    logger().info("plan_made", actions=len(plan.actions), notices=len(plan.notices))
    if not plan.drift and not pruned and laid.managed() == rec.managed:
        snapshot.save(roots, facts, _in_sync_outputs(plan, host, len(desired.groups)), started)
    return Planned(desired, host, laid, plan, fss, rec, facts, pruned, started)


def _managed_after(laid: Layout, plan: Plan, done: Set[Tuple[str, str, str]]) -> dict:
    """The files cgman now answers for: the config's, and defaults not yet put back."""
    managed = {key: dict(cgroups) for key, cgroups in laid.managed().items()}
    for key, path, file in plan.resets - done:
        cgroups = managed.setdefault(key, {})
        cgroups[path] = cgroups.get(path, frozenset()) | {file}
    return managed


def _in_sync_outputs(plan: Plan, host: Host, groups: int) -> dict:
    """What plan and apply print when nothing needs doing, kept with the snapshot."""
    from cgmand import reconcile, render

    empty = reconcile.Report()
    return {"plan_text": render.plan_text(plan, host, groups), "plan_json": render.plan_json(plan, host),
            "apply_text": render.report_text(empty, False), "apply_json": render.report_json(empty, host),
            "warnings": list(plan.warnings)}


def _merge(before: list, after: list) -> list:
    """Facts observed, then overridden by what apply did to the same paths."""
    latest = {fact[1]: fact for fact in before + after if fact[0] != "x"}
    return list(latest.values()) + [fact for fact in before + after if fact[0] == "x"][:1]


def _verified(roots: Roots):
    outputs = snapshot.verify(roots)
    if outputs is not None:
        logger().info("snapshot_verified", files=roots.config_dir)
    return outputs


def check(args: Any, roots: Roots) -> int:
    from cgmand import config
    from cgmand.hierarchy import layout
    from cgmand.kernel import hostinfo

    desired = config.load(roots.config_dir)  # always the full parse: that is what check is for
    text = f"ok: {len(desired.groups)} groups in {len(desired.sources)} files"
    data = {"valid": True, "groups": len(desired.groups), "files": list(desired.sources)}
    if not args.no_host:
        host = hostinfo.detect(desired.manager, roots)
        layout.build(desired, host)
        text += f"; every setting maps onto this host ({host.layout})"
        data["host"] = host.describe()
        data["warnings"] = list(host.warnings)
        text = "\n".join([text] + [f"warning: {w}" for w in host.warnings])
    _emit(args, text, data)
    return ExitCode.OK


def plan(args: Any, roots: Roots) -> int:
    return _show_plan(args, roots, dry_run=False)


def _show_plan(args: Any, roots: Roots, dry_run: bool) -> int:
    """plan, and apply --dry-run: the plan's JSON with "dry_run": true and apply's
    counts (created, written, ... as if every action succeeded), so a script
    reads the same keys from apply --json with or without --dry-run."""
    known = _verified(roots)
    if known is not None:
        extra = {"dry_run": True, "counts": known["apply_json"]["counts"]} if dry_run else {}
        _emit(args, known["plan_text"], dict(known["plan_json"], **extra))
        return ExitCode.OK
    from cgmand import render

    planned = make_plan(roots, args.force)
    made, host = planned.plan, planned.host

    def data() -> dict:
        out = render.plan_json(made, host)
        if dry_run:
            from cgmand import reconcile

            preview = reconcile.Report([reconcile.Outcome(a, reconcile.OK) for a in made.actions], made.notices)
            out.update(dry_run=True, counts=preview.counts())
        return out

    _emit(args, lambda: render.plan_text(made, host, len(planned.desired.groups)), data)
    return ExitCode.DRIFT if getattr(args, "detailed_exitcode", False) and made.drift else ExitCode.OK


def apply(args: Any, roots: Roots) -> int:
    if args.dry_run:
        _show_plan(args, roots, dry_run=True)
        return ExitCode.OK
    done = reconcile_once(roots, args.force)
    for warning in done.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if done.known is not None:
        _emit(args, done.known["apply_text"], done.known["apply_json"])
        return ExitCode.OK
    from cgmand import render

    report, host = done.report, done.host
    _emit(args, lambda: render.report_text(report, args.verbose > 0), lambda: render.report_json(report, host))
    return ExitCode.FAILED if report.failed else ExitCode.OK


# What one reconcile did: the Report (None when the snapshot showed the kernel in
# sync: then ``known`` holds the stored outputs), the host, the desired state
# planned for (None on the fast path), the host's warnings, and whether it
# ``settled``: left nothing for the next reconcile to finish (see _settled).
Reconciled = namedtuple("Reconciled", "report host desired known warnings settled", defaults=(True,))


def _settled(report: Any, laid: Layout) -> bool:
    """Did the reconcile leave nothing for the next one? Not if an action failed or was
    skipped, a notice stands (a group kept for its processes, a refusal), or a v1
    leftover was reset this time and is to be removed next time. cgmand plans an
    edit alone (scope.py) only after a settled reconcile."""
    from cgmand import reconcile

    return (not report.notices and all(o.status == reconcile.OK for o in report.outcomes)
            and not any(node.reset_only for target in laid.targets for node in target.nodes.values()))


def reconcile_once(roots: Roots, force: bool = False, desired: Optional[DesiredState] = None,
                   started: Optional[tuple] = None) -> Reconciled:
    """Make the kernel match the files (or ``desired``), under the apply lock: `cgman
    apply`, and each of the daemon's reconciles. ``started``: the snapshot key
    taken before ``desired`` was read from the files (the daemon, which has just
    read them, so they need not be read twice). Raises ConfigErrors, HostError."""
    from cgmand.kernel import record

    with record.locked(roots.run_root):
        known = _verified(roots) if desired is None else None
        if known is not None:
            return Reconciled(None, None, None, known, list(known["warnings"]))
        from cgmand import plan as planner, reconcile

        planned = make_plan(roots, force, applying=True, desired=desired, started=started)
        made, host, rec = planned.plan, planned.host, planned.record
        before = {key: set(paths) for key, paths in rec.created.items()}
        done: list = []
        report = None
        try:
            report = reconcile.apply(made, planned.fss, rec.created, done)
        finally:  # even if apply dies half-way, what it created is recorded
            written = set() if report is None else {
                (o.action.hierarchy, o.action.path, o.action.file) for o in report.outcomes
                if o.status == reconcile.OK and o.action.verb == planner.WRITE}
            managed = _managed_after(planned.layout, made, written)
            wrote_record = planned.pruned or rec.created != before or managed != rec.managed
            if wrote_record:
                record.save(roots.run_root, record.Record(rec.created, managed))
        if report.outcomes or wrote_record:
            # A clean apply ends in a verified state: what observe read, updated by
            # every read-back. Anything less, and the next run plans in full.
            clean = not report.notices and all(o.status == reconcile.OK for o in report.outcomes)
            if not (clean and snapshot.save(roots, _merge(planned.facts, done), _in_sync_outputs(
                    planner.Plan(warnings=list(made.warnings)), host, len(planned.desired.groups)),
                    planned.started, wrote_record)):
                snapshot.forget(roots)
    logger().info("reconcile_finished", **report.counts())
    return Reconciled(report, host, planned.desired, None, list(made.warnings), _settled(report, planned.layout))


def reconcile_edit(roots: Roots, desired: DesiredState, names: FrozenSet[str]) -> Optional[Reconciled]:
    """cgmand after an edit that changed or added the ``names`` groups: plan and apply
    only them and what lies below them (scope.py). None when the cgroups above are
    not as the last reconcile left them, and a full reconcile must run instead.
    Raises ConfigErrors (a changed key this host cannot honour), HostError."""
    from cgmand import plan as planner, reconcile, scope
    from cgmand.hierarchy import layout
    from cgmand.kernel import hostinfo, record

    with record.locked(roots.run_root):
        rec = record.load(roots.run_root)
        host = hostinfo.detect(desired.manager, roots)
        inside = scope.within(host.base, names)
        created, managed = scope.part(rec.created, inside), scope.part(rec.managed, inside)
        laid = layout.build(scope.reduce(desired, names), host, managed)
        fss = reconcile.filesystems(host)
        observed = reconcile.observe(laid, created, fss)
        made = scope.restrict(planner.make(laid, observed, created), inside)
        if made is None:
            logger().info("scope_widened", groups=len(names), reason="the cgroups above need work too")
            return None
        made = reconcile.check(made, fss, applying=True)
        record.forget_vanished(created, reconcile.vanished(created, observed, fss))
        done: list = []
        report = None
        try:
            report = reconcile.apply(made, fss, created, done)
        finally:
            written = set() if report is None else {
                (o.action.hierarchy, o.action.path, o.action.file) for o in report.outcomes
                if o.status == reconcile.OK and o.action.verb == planner.WRITE}
            after = record.Record(scope.merged(rec.created, created, inside),
                                  scope.merged(rec.managed, _managed_after(laid, made, written), inside))
            if after != rec:
                record.save(roots.run_root, after)
            if report is None or report.outcomes or after != rec:
                # The snapshot vouches for every managed file, and only these were read.
                snapshot.forget(roots)
    logger().info("reconcile_finished", scope=len(names), **report.counts())
    return Reconciled(report, host, desired, None, list(made.warnings), _settled(report, laid))


def show_status(args: Any, roots: Roots) -> int:
    from cgmand import reconcile, render, status
    from cgmand.kernel import record

    desired, host, laid = load(roots)
    groups = status.collect(laid, reconcile.filesystems(host), record.load(roots.run_root).created,
                            list(desired.groups))
    running = _daemon_state(roots)

    def text() -> str:
        lines = [render.status_text(groups, host)]
        if running is not None:
            lines.append(f"cgmand: pid {running['pid']}, {running['status']}")
            if running.get("sticky"):
                lines.append(f"sticky processes: {running['sticky']} (cgman exec/classify --sticky)")
            engine = running.get("rules") or {}
            if engine.get("error"):
                lines.append(f"rules: not running: {engine['error']}")
            elif "placed" in engine:
                lines.append(f"rules: {engine['rules']}; events {engine['events']}, placed {engine['placed']}, "
                             f"already in place {engine['in_place']}, gone {engine['gone']}, failed "
                             f"{engine['failed']}, overflows {engine['overflows']} (kernel drops "
                             f"{engine.get('kernel_drops')}), rescans {engine['rescans']}")
        return "\n".join(lines)

    _emit(args, text, lambda: {"host": host.describe(), "groups": [g.as_dict() for g in groups],
                               "daemon": running})
    return ExitCode.OK


def _daemon_state(roots: Roots) -> Optional[dict]:
    """What a running cgmand says of itself, or None (none runs, or it does not answer soon)."""
    from cgmand import control

    try:
        answer = control.ask(roots.run_root, "status", timeout=5)
    except (OSError, ValueError):
        return None
    return answer if answer and answer.get("ok") else None


def daemon(args: Any, roots: Roots) -> int:
    from cgmand import daemon as cgmand

    return cgmand.run(roots, None if args.log_format == "auto" else args.log_format)


def reload(args: Any, roots: Roots) -> int:
    """Ask the running daemon to reload; exit 0 applied, 1 something failed, 78 the files are
    invalid (the daemon keeps the last good configuration), 69 no daemon."""
    from cgmand import control
    from cgmand.errors import HostError

    answer = control.ask(roots.run_root, "reload")
    if answer is None:
        raise HostError(f"cgmand is not running (nothing listens on {control.path(roots.run_root)})",
                        reference="daemon-not-running",
                        hint="start it (systemctl start cgmand), or apply once with cgman apply")
    if not answer.get("ok"):
        raise HostError(f"cgmand did not reload: {answer.get('error')}", reference="daemon-not-running")
    _emit(args, lambda: f"cgmand: {answer['status']}", answer)
    if answer.get("config_error"):
        print(f"cgman: {answer['config_error']}", file=sys.stderr)
        return ExitCode.CONFIG
    return ExitCode.FAILED if (answer.get("last") or {}).get("failed") else ExitCode.OK
