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


MAX_PIDS, MAX_GROUPS = 1024, 16  # per request: place.sock is anyone's


def place(request, roots: Roots, desired: Optional[DesiredState], host, now: float) -> dict:
    """Place the processes of a "place" request (control.Request) for its peer, if policy
    allows: every group asked must allow the caller; every process must be the caller's
    (real or saved uid, read from its thread-group leader), and must now be outside
    cgman's tree or in a group the caller may also place into (the policy decides
    what a user may leave, not only what they may join). ``host``: the host model
    of the configuration cgmand runs (``desired``), never of the files as they are now.
    An empty ``groups`` with sticky false only cancels sticky marks."""
    from cgmand import policy, targets
    from cgmand.kernel import attach, procinfo
    from cgmand.verbs.classify import classify

    body = request.body
    pid, uid, gid = request.peer
    groups, pids, sticky = body.get("groups"), body.get("pids") or [pid], body.get("sticky")
    if not (isinstance(groups, list) and all(isinstance(g, str) for g in groups) and len(groups) <= MAX_GROUPS
            and isinstance(pids, list) and 0 < len(pids) <= MAX_PIDS
            and all(type(p) is int and p > 0 for p in pids)
            and sticky in (True, False, None) and (groups or sticky is False)):
        return _refused(f"a place request needs groups (a list of at most {MAX_GROUPS} -g texts; empty only "
                        f"to cancel sticky marks), optional pids (at most {MAX_PIDS} positive numbers) and "
                        "optional sticky (true, false or null)", "usage")
    pids = list(dict.fromkeys(pids))
    # Who asked, as the socket saw it at connect time: if the peer's pid now names another
    # process, its request is void (a client that handed its socket on and exited).
    try:
        if request.start is None or procinfo.identity(pid, roots.proc_root) != (pid, request.start):
            return _refused("the caller is gone", "process-gone")
    except ProcessGone:
        return _refused("the caller is gone", "process-gone")
    caller = policy.Caller(uid, gid, frozenset(request.groups))
    chosen: list = []
    try:
        specs = [targets.parse(text) for text in groups]
        if specs:
            chosen = targets.resolve(host, specs, mirrors=host.systemd is not None)
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
            identity = procinfo.identity(target, roots.proc_root)
            uids = procinfo.ids(identity[0], roots.proc_root)[0]  # the process's, not a thread's own
            if not policy.may_move(caller, uids):
                results.append({"pid": target, "gone": False,
                                "problem": f"process {target}: permission denied: it belongs to uid {uids[0]}, "
                                           f"not to {caller}"})
                continue
            held = _held(identity[0], chosen, host, desired, caller, roots.proc_root)
        except ProcessGone:
            results.append({"pid": target, "gone": True, "problem": f"process {target} is gone (it exited), "
                                                                    "not moved"})
            continue
        if held is not None:
            results.append({"pid": target, "gone": False, "problem": f"process {target}: permission denied: {held}"})
            continue
        problem = classify(target, chosen, roots.proc_root, expected=identity) if chosen else None
        if problem is None:
            placed.append(identity)
        else:
            results.append({"pid": target, "gone": problem[0], "problem": problem[1]})
    if sticky is not None and placed:
        mark(roots, placed, specs[0].group if specs else "", sticky, now,
             owner=None if uid == 0 else caller)
    return {"placed": [list(i) for i in placed], "problems": results}


def _held(leader: int, chosen: list, host, desired: Optional[DesiredState], caller, proc_root: str) -> Optional[str]:
    """Why the process may not leave where it is, for this caller: it is in a group of
    cgman's tree (in a hierarchy it would move in) that the policy does not give them."""
    from cgmand import policy
    from cgmand.kernel import attach

    if caller.uid == 0:
        return None
    where = attach.cgroups_of(leader, proc_root)
    base = host.base.rstrip("/")
    for target in chosen:
        path = where.get(target.hierarchy.key)
        if path is None:
            continue
        root = target.hierarchy.root.rstrip("/")
        path = path[len(root):] if root and path.startswith(root) else path
        if path != base and not path.startswith(base + "/"):
            continue  # outside cgman's tree: the caller's session, say
        name = path[len(base):].strip("/")
        why = policy.refusal(name, desired.groups.get(name) if desired else None, caller)
        if why is not None:
            return f"it is in {name or 'the base group'}, which policy does not let it leave ({why})"
    return None


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


def mark(roots: Roots, identities: Iterable[Tuple[int, int]], group: str, sticky: bool, now: float,
         owner=None) -> int:
    """Mark the processes sticky (or free them: --cancel-sticky); those still alive and
    the same process count. Returns how many were marked. ``owner``: a user's request
    (policy.Caller): a cancel frees only the descendants that are theirs. Raises OSError
    from the file."""
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
                below = descendants(line[0], parents)
                if owner is not None:
                    below = [i for i in below if _owned(i, owner, roots.proc_root)]
                changed = marks.cancel(line, now, below=below) or changed
        return changed

    stickyfile.update(roots.run_root, change)
    return len(lines)


def _owned(identity: Tuple[int, int], owner, proc_root: str) -> bool:
    from cgmand import policy
    from cgmand.kernel import procinfo

    try:
        return policy.may_move(owner, procinfo.ids(identity[0], proc_root)[0])
    except ProcessGone:
        return False
