"""cgmand's answers to the verbs that need it: placing an unprivileged caller's
processes (place.sock) and keeping sticky marks (control.sock, and the place
requests that ask for them). See cgmand/control.py for the protocol and
cgmand/policy.py for who may do what."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Iterable, List, Optional, Tuple

    from cgmand.model import DesiredState
    from cgmand.roots import Roots
    from cgmand.sticky import Marks

from cgmand.errors import CgmanError, ProcessGone


def _refused(message: str, reference: str = "permission-denied") -> dict:
    return {"ok": False, "error": message, "reference": reference}


def place(body: dict, peer: Tuple[int, int, int], roots: Roots, desired: Optional[DesiredState],
          now: float) -> dict:
    """Place the processes of a "place" request for the peer (pid, uid, gid), if policy
    allows: every group asked must allow the caller, and every process must be theirs."""
    from cgmand import policy, targets
    from cgmand.kernel import attach, procinfo
    from cgmand.verbs.classify import classify
    from cgmand.verbs.execute import host

    pid, uid, gid = peer
    groups, pids, sticky = body.get("groups"), body.get("pids") or [pid], body.get("sticky")
    if not (isinstance(groups, list) and groups and all(isinstance(g, str) for g in groups)
            and isinstance(pids, list) and all(isinstance(p, int) and p > 0 for p in pids)
            and sticky in (True, False, None)):
        return _refused("a place request needs groups (a list of -g texts), optional pids (positive "
                        "numbers) and optional sticky (true, false or null)", "usage")
    try:
        caller = policy.Caller(uid, gid, frozenset(procinfo.ids(pid, roots.proc_root)[2]))
    except ProcessGone:
        return _refused("the caller is gone", "process-gone")
    try:
        specs = [targets.parse(text) for text in groups]
        here = host(roots)
        chosen = targets.resolve(here, specs, mirrors=here.systemd is not None)
        attach.check(chosen)  # a missing group is named as such (cgroupfs is readable by all anyway)
        for spec in specs:
            why = policy.refusal(spec.group, desired.groups.get(spec.group) if desired else None, caller)
            if why is not None:
                return _refused(f"permission denied: {why}")
    except CgmanError as err:
        return _refused(err.render(), err.reference)
    results, placed = [], []
    for target in pids:
        try:
            uids = procinfo.ids(target, roots.proc_root)[0]
            identity = procinfo.identity(target, roots.proc_root)
        except ProcessGone:
            results.append({"pid": target, "gone": True, "problem": f"process {target} is gone (it exited), "
                                                                    "not moved"})
            continue
        if not policy.may_move(caller, uids):
            results.append({"pid": target, "gone": False,
                            "problem": f"process {target}: permission denied: it belongs to uid {uids[0]}, "
                                       f"not to {caller}"})
            continue
        problem = classify(target, chosen, roots.proc_root)
        if problem is None:
            placed.append(identity)
        else:
            results.append({"pid": target, "gone": problem[0], "problem": problem[1]})
    if sticky is not None and placed:
        mark(roots, placed, specs[0].group, sticky, now)
    return {"placed": [list(i) for i in placed], "problems": results}


def sticky_request(body: dict, roots: Roots, now: float) -> dict:
    """A "sticky" request on control.sock (root's): mark or free processes named by
    identity, if they are still the processes named."""
    rows, group, sticky = body.get("pids"), body.get("group", ""), body.get("sticky")
    if not (isinstance(rows, list) and all(isinstance(r, list) and len(r) == 2 and all(isinstance(v, int)
                                                                                        for v in r)
                                           for r in rows)
            and isinstance(group, str) and sticky in (True, False)):
        return _refused("a sticky request needs pids ([[PID, START], ...]), group and sticky (true or false)",
                        "usage")
    return {"marked": mark(roots, [tuple(r) for r in rows], group, sticky, now)}


def mark(roots: Roots, identities: Iterable[Tuple[int, int]], group: str, sticky: bool, now: float) -> int:
    """Mark the processes sticky (or free them: --cancel-sticky); those still alive and
    the same process count. Returns how many were marked. Raises OSError from the file."""
    from cgmand.kernel import procinfo, stickyfile

    lines: List[list] = []
    for identity in identities:
        try:
            line = procinfo.line(identity[0], roots.proc_root)
        except ProcessGone:
            continue
        if line[0] == tuple(identity):
            lines.append(line)

    def change(marks: Marks) -> bool:
        from cgmand.sticky import descendants

        changed = False
        parents = procinfo.processes(roots.proc_root) if lines and not sticky else {}
        for line in lines:
            if sticky:
                marks.stick(line[0], group, now)
                changed = True
            else:
                changed = marks.cancel(line, now, below=descendants(line[0], parents)) or changed
        return changed

    stickyfile.update(roots.run_root, change)
    return len(lines)
