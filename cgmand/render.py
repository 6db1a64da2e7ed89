"""Text and JSON renderings of plans, reports and status. Pure."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Dict, List

from cgmand.hierarchy import Host
from cgmand.plan import CHOWN, DISABLE, ENABLE, EVACUATE, MKDIR, RMDIR, WRITE, Action, Notice, Plan
from cgmand.reconcile import OK, Report
from cgmand.status import GroupStatus
from cgmand.values import Size

_MARK = {MKDIR: "+", WRITE: "~", ENABLE: "+", DISABLE: "-", RMDIR: "-", CHOWN: "~", EVACUATE: ">"}


def host_line(host: Host) -> str:
    sides = []
    for version in (1, 2):
        names = sorted({c for h in host.hierarchies if h.version == version for c in h.controllers})
        if any(h.version == version for h in host.hierarchies):
            sides.append(f"v{version}: {' '.join(names) or '(no controllers)'}")
    where = f"systemd unit {host.systemd.unit} at {host.base}" if host.systemd else f"{host.base}"
    return f"host: {host.layout} ({'; '.join(sides)}); groups under {where}"


def _where(hierarchy: str, path: str, file: str = "") -> str:
    joined = path.rstrip("/") + "/" + file if file else path
    return f"{hierarchy}:{joined}"


def action_line(action: Action) -> str:
    where = _where(action.hierarchy, action.path)
    if action.verb == WRITE:
        detail = f"{_where(action.hierarchy, action.path, action.file)}: {action.old} -> {action.new}"
        if action.setting is not None and action.setting.reset:
            detail += "  (no longer configured: back to the default)"
        elif action.source and action.source != action.file and not action.source.startswith("("):
            detail += f"  ({action.source})"
    elif action.verb in (ENABLE, DISABLE):
        detail = f"{_where(action.hierarchy, action.path, 'cgroup.subtree_control')}: {action.texts[0]}"
    elif action.verb == CHOWN:
        detail = f"{where}: ownership and modes (perm)"
    elif action.verb == EVACUATE:
        detail = f"{where}: move its processes into {action.new}"
    else:
        detail = where
    return f"  {_MARK[action.verb]} {action.verb:<8} {detail}"


def notice_line(notice: Notice) -> str:
    mark = {"kept": "=", "blocked": "!", "refused": "!"}[notice.verb]
    return f"  {mark} {notice.verb:<8} {notice.hierarchy}:{notice.path}: {notice.message}"


def plan_text(plan: Plan, host: Host, groups: int) -> str:
    lines = [host_line(host)] + [f"warning: {w}" for w in plan.warnings]
    if not plan.drift:
        lines.append(f"No changes: the kernel matches the configuration ({groups} groups).")
        return "\n".join(lines)
    lines += [action_line(a) for a in plan.actions] + [notice_line(n) for n in plan.notices]
    lines.append("Plan: " + summary(plan_counts(plan)) + ".")
    return "\n".join(lines)


def plan_counts(plan: Plan) -> Dict[str, int]:
    out = {"create": 0, "write": 0, "remove": 0, "refused": 0, "kept": 0, "blocked": 0}
    for action in plan.actions:
        out[{MKDIR: "create", RMDIR: "remove"}.get(action.verb, "write")] += 1
    for notice in plan.notices:
        out[notice.verb] += 1
    return out


def summary(counts: Dict[str, int]) -> str:
    parts = [f"{n} {name}" for name, n in counts.items() if n]
    return ", ".join(parts) if parts else "nothing to do"


def action_json(action: Action) -> dict:
    return {"id": action.id, "verb": action.verb, "hierarchy": action.hierarchy, "path": action.path,
            "group": action.group, "file": action.file, "old": action.old, "new": action.new,
            "source": action.source, "writes": list(action.texts)}


def notice_json(notice: Notice) -> dict:
    return {"verb": notice.verb, "hierarchy": notice.hierarchy, "path": notice.path, "group": notice.group,
            "reference": notice.reference, "message": notice.message}


def plan_json(plan: Plan, host: Host) -> dict:
    return {"host": host.describe(), "drift": plan.drift, "counts": plan_counts(plan),
            "actions": [action_json(a) for a in plan.actions],
            "notices": [notice_json(n) for n in plan.notices], "warnings": plan.warnings}


def report_text(report: Report, verbose: bool) -> str:
    lines = []
    for outcome in report.outcomes:
        if verbose or outcome.status != OK:
            line = action_line(outcome.action)
            if outcome.status != OK:
                line += f"\n      {outcome.status}: {outcome.message}"
            lines.append(line)
    lines += [notice_line(n) for n in report.notices]
    lines.append("Applied: " + summary(report.counts()) + ".")
    return "\n".join(lines)


def report_json(report: Report, host: Host, dry_run: bool = False) -> dict:
    return {"host": host.describe(), "dry_run": dry_run, "counts": report.counts(),
            "outcomes": [dict(action_json(o.action), status=o.status, message=o.message)
                         for o in report.outcomes],
            "notices": [notice_json(n) for n in report.notices]}


def status_text(groups: List[GroupStatus], host: Host) -> str:
    lines = [host_line(host)]
    if not groups:
        lines.append("No groups are configured.")
    for group in groups:
        state = "in sync" if group.in_sync else ("not in the config (kept)" if not group.in_config else "DRIFT")
        usage = [f"{group.processes} procs"]
        if group.memory_bytes is not None:
            usage.append(f"memory {Size().render(group.memory_bytes)}")
        if group.cpu_usec is not None:
            usage.append(f"cpu {group.cpu_usec / 1e6:.1f}s")
        if group.tasks is not None:
            usage.append(f"{group.tasks} tasks")
        lines.append(f"{group.name}  [{state}]  {', '.join(usage)}")
        if group.missing:
            lines.append(f"    missing in: {', '.join(group.missing)}")
        for s in group.settings:
            mark = "ok" if s.in_sync else f"kernel has {s.actual if s.actual is not None else '(missing)'}"
            spelled = s.key if s.key == s.file else f"{s.key} -> {s.file}"
            lines.append(f"    {spelled} = {s.desired}  {mark}")
    return "\n".join(lines)
