"""One small function per subcommand; each returns the exit status."""

from __future__ import annotations

import os
import sys
from typing import Any, Tuple

from cgmand import config, configcache, plan as planner, reconcile, render, status
from cgmand.errors import ExitCode
from cgmand.hierarchy import Host, layout
from cgmand.kernel import hostinfo, record
from cgmand.log import logger
from cgmand.model import DesiredState
from cgmand.roots import Roots


def _emit(args: Any, text: str, data: Any) -> None:
    if getattr(args, "json", False):
        import json

        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(text)


def load(roots: Roots) -> Tuple[DesiredState, Host, layout.Layout]:
    """Config, host model and layout; raises ConfigErrors (78) or HostError (69)."""
    desired = configcache.load(roots.config_dir, os.path.join(roots.run_root, "cgman"))
    logger().info("config_loaded", source=roots.config_dir, groups=len(desired.groups),
                  files=len(desired.sources))
    host = hostinfo.detect(desired.manager, roots)
    logger().info("host_detected", layout=host.layout, base=host.base)
    return desired, host, layout.build(desired, host)


def make_plan(roots: Roots, force: bool) -> Tuple[DesiredState, Host, planner.Plan, dict, dict]:
    desired, host, laid = load(roots)
    fss = reconcile.filesystems(host)
    created = record.load(roots.run_root)
    observed = reconcile.observe(laid, created, fss)
    plan = reconcile.check(planner.make(laid, observed, created, force=force), fss)
    logger().info("plan_made", actions=len(plan.actions), notices=len(plan.notices))
    return desired, host, plan, fss, created


def check(args: Any, roots: Roots) -> int:
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
    desired, host, made, _, _ = make_plan(roots, args.force)
    _emit(args, render.plan_text(made, host, len(desired.groups)), render.plan_json(made, host))
    return ExitCode.DRIFT if args.detailed_exitcode and made.drift else ExitCode.OK


def apply(args: Any, roots: Roots) -> int:
    if args.dry_run:
        desired, host, made, _, _ = make_plan(roots, args.force)
        _emit(args, render.plan_text(made, host, len(desired.groups)),
              dict(render.plan_json(made, host), dry_run=True))
        return ExitCode.OK
    with record.locked(roots.run_root):
        desired, host, made, fss, created = make_plan(roots, args.force)
        report = reconcile.apply(made, fss, created)
        record.save(roots.run_root, created)
    counts = report.counts()
    logger().info("reconcile_finished", **counts)
    for warning in made.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    _emit(args, render.report_text(report, args.verbose > 0), render.report_json(report, host))
    return ExitCode.FAILED if report.failed else ExitCode.OK


def show_status(args: Any, roots: Roots) -> int:
    desired, host, laid = load(roots)
    groups = status.collect(laid, reconcile.filesystems(host), record.load(roots.run_root))
    _emit(args, render.status_text(groups, host),
          {"host": host.describe(), "groups": [g.as_dict() for g in groups]})
    return ExitCode.OK
