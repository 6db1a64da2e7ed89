"""Observe the kernel, check guards, and apply a plan through kernel/cgroupfs.

observe() reads only what the plan needs: each desired cgroup's managed files,
subtree_control of every cgroup cgman owns or whose children need controllers
(not a leaf's below a parent that enables nothing: it must be empty),
ownership where perm is set, and whether recorded cgroups still exist. An
unchanged configuration therefore costs one read per managed file and no
writes.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Dict, List, Optional, Set, Tuple

from cgmand.errors import CgroupBusy, CgroupGone, KernelError, ProcessGone
from cgmand.hierarchy import Host
from cgmand.hierarchy.layout import Layout, Target
from cgmand import log
from cgmand.kernel.cgroupfs import CgroupFS
from cgmand.model import parent_of
from cgmand.plan import (
    BLOCKED, CHILDREN_KNOWN, CHOWN, DISABLE, ENABLE, EVACUATE, KEPT, MEMORY_BELOW, MKDIR, NO_PROCESSES,
    REFUSED, REMOVABLE, RMDIR, WRITE, Action, NodeState, Plan, perm_changes,
)
from cgmand.values import Size, ValueProblem

OK, FAILED, SKIPPED = "ok", "failed", "skipped"
NEVER_KILLED = "; kept, never killed"


def filesystems(host: Host) -> Dict[str, CgroupFS]:
    return {h.key: CgroupFS(h) for h in host.hierarchies}


def observe(layout: Layout, record: Dict[str, Set[str]], fss: Dict[str, CgroupFS],
            journal: Optional[List[tuple]] = None) -> Dict[Tuple[str, str], NodeState]:
    """Read what the plan needs. ``journal``, if given, gets every fact read, for
    kernel/snapshot.py: ("f", path, text) file contents, ("d", path) a cgroup that
    exists, ("n", path) one that does not, ("x",) something a snapshot cannot hold."""
    journal = journal if journal is not None else []
    observed: Dict[Tuple[str, str], NodeState] = {}
    for target in layout.targets:
        _observe_target(target, fss[target.hierarchy.key], observed, journal)
    for key, paths in record.items():
        fs = fss.get(key)
        for path in paths:
            if fs is not None and (key, path) not in observed:
                present = fs.exists(path)
                observed[(key, path)] = NodeState(present)
                journal.append(("d", fs.path(path)) if present else ("n", fs.path(path)))
    return observed


def vanished(record: Dict[str, Set[str]], observed: Dict[Tuple[str, str], NodeState],
             fss: Dict[str, CgroupFS]) -> List[Tuple[str, str]]:
    """Recorded cgroups that observe() found missing (hierarchies still mounted only)."""
    return [(key, path) for key, paths in record.items() if key in fss for path in paths
            if not (observed.get((key, path)) or NodeState(False)).exists]


def _observe_target(target: Target, fs: CgroupFS, observed: Dict, journal: List[tuple]) -> None:
    key = target.hierarchy.key
    missing: Set[str] = set()
    perms = any(node.perm is not None for node in target.nodes.values())
    for path, node in target.nodes.items():
        if path != "/" and parent_of(path) in missing:
            missing.add(path)
            continue
        files: Dict[str, Optional[str]] = {}
        try:
            for setting in node.settings:
                files[setting.file] = text = fs.read_if_present(path, setting.file)
                journal.append(("f", fs.path(path, setting.file), text))
            subtree = None
            reads_subtree = target.reads_subtree(node)
            parent = observed.get((key, parent_of(path))) if path != "/" else None
            if reads_subtree and not node.children and parent is not None \
                    and parent.subtree_control == frozenset():
                # A cgroup can enable only what its parent enabled for it; the parent's
                # (read, and a fact of the snapshot) is empty: so is this leaf's.
                subtree, reads_subtree = frozenset(), False
            if reads_subtree:
                text = fs.read(path, "cgroup.subtree_control")
                journal.append(("f", fs.path(path, "cgroup.subtree_control"), text))
                subtree = frozenset(text.split())
            elif all(text is None for text in files.values()):  # nothing read proves it exists
                if not fs.exists(path):
                    raise CgroupGone("stat", path, 2, "missing")
                journal.append(("d", fs.path(path)))
            entries = None
            if node.perm is not None or (perms and path == "/"):  # the root's: the kernel's own modes
                entries = fs.entries(path)
                journal.append(("x",))  # ownership is not kept in snapshots
        except CgroupGone:  # apply's facts will say what it becomes
            missing.add(path)
            continue
        observed[(key, path)] = NodeState(True, files, subtree, entries)


# Plain classes with __slots__, not dataclasses: importing dataclasses costs
# ~14 ms of every command's start-up (docs/decisions.md).


class Outcome:
    __slots__ = ("action", "status", "message")

    def __init__(self, action: Action, status: str, message: str = ""):
        self.action = action
        self.status = status  # OK, FAILED, SKIPPED, REFUSED, KEPT
        self.message = message


class Report:
    __slots__ = ("outcomes", "notices", "_counted")

    def __init__(self, outcomes: Optional[List[Outcome]] = None, notices: Optional[List] = None):
        self.outcomes = [] if outcomes is None else outcomes
        self.notices = [] if notices is None else notices  # plan notices (refused, kept, blocked)
        self._counted: Optional[tuple] = None

    def counts(self) -> Dict[str, int]:
        # Asked several times per run (exit status, text, JSON, log); outcomes only grow.
        size = (len(self.outcomes), len(self.notices))
        if self._counted is None or self._counted[0] != size:
            self._counted = (size, self._count())
        return dict(self._counted[1])

    def _count(self) -> Dict[str, int]:
        out = dict.fromkeys(("created", "written", "removed", "failed", "skipped", "refused", "kept"), 0)
        names = {MKDIR: "created", RMDIR: "removed"}
        for outcome in self.outcomes:
            if outcome.status == OK:
                out[names.get(outcome.action.verb, "written")] += 1
            else:
                out[outcome.status] += 1
        for notice in self.notices:
            out[{BLOCKED: "skipped"}.get(notice.verb, notice.verb)] += 1
        return out

    @property
    def failed(self) -> bool:
        counts = self.counts()
        return bool(counts["failed"] or counts["refused"])


def guard_problem(action: Action, fs: CgroupFS, removing: Set[Tuple[str, str]]) -> Optional[str]:
    """Why a guarded action must not run now; None if it may. ``removing``: the
    (hierarchy, cgroup) pairs the plan removes, which children may be."""
    guard = action.guard
    if guard is None:
        return None
    try:
        if guard.kind == NO_PROCESSES:
            pids = fs.pids(action.path) if fs.exists(action.path) else []
            if pids:
                return (f"holds {len(pids)} process(es) (e.g. pid {pids[0]}), and a cgroup with processes "
                        "cannot enable controllers for children (cgroup v2: no internal processes)")
        elif guard.kind == MEMORY_BELOW:
            usage = Size().read(fs.read(action.path, fs.hierarchy.flavour.memory_usage))
            if usage > guard.limit:
                return (f"{action.file} {Size().render(guard.limit)} is below current usage "
                        f"{Size().render(usage)}; lowering it would make the kernel reclaim and "
                        "OOM-kill (use --force to allow it)")
        elif guard.kind in (REMOVABLE, CHILDREN_KNOWN):
            going = {path for key, path in removing if key == action.hierarchy}
            return _children_problem(action, fs, guard.children | going)
    except CgroupGone:
        return None  # gone already: nothing to protect
    except (KernelError, ValueProblem) as err:
        return f"cannot check: {err}"
    return None


def _children_problem(action: Action, fs: CgroupFS, allowed: Set[str]) -> Optional[str]:
    if action.guard.kind == REMOVABLE:
        pids = fs.pids(action.path)
        if pids:
            return f"still holds {len(pids)} process(es) (e.g. pid {pids[0]}){NEVER_KILLED}"
    foreign = [c for c in fs.children(action.path) if c not in allowed]
    if foreign:
        return f"contains cgroups cgman does not manage: {', '.join(foreign)}"
    return None


def _keeps(action: Action) -> bool:
    """A failed guard that leaves things as they are by design (not a failure):
    a group kept for its processes, controllers kept for cgroups cgman does not manage."""
    return action.verb == RMDIR or action.guard.kind == CHILDREN_KNOWN


def check(plan: Plan, fss: Dict[str, CgroupFS], applying: bool = False) -> Plan:
    """Turn guarded actions whose guard fails into notices (and their dependents).

    Removals come first in a plan; one that is kept leaves ``removing``, so its
    cgroup counts as present for the guards after it. ``applying``: removals
    are not checked here, since the kernel refuses to remove a cgroup with
    processes or children (EBUSY) and apply reports that as kept; reading
    every removed cgroup's processes and children first cost ~1 s per 3000.
    """
    removing = {(a.hierarchy, a.path) for a in plan.actions if a.verb == RMDIR}
    dropped: Set[int] = set()
    for action in [a for a in plan.actions if a.guard is not None]:
        if action.id in dropped or (applying and action.verb == RMDIR):
            continue  # dropped as a dependent of an earlier refusal, or left to the kernel
        problem = guard_problem(action, fss[action.hierarchy], removing)
        if problem:
            kept = _keeps(action)
            reference = "group-kept" if action.verb == RMDIR else (
                "controllers-kept" if kept else action.guard.kind)
            dropped |= plan.refuse(action, problem, KEPT if kept else REFUSED, reference)
            if action.verb == RMDIR:
                removing.discard((action.hierarchy, action.path))
    return plan


def apply(plan: Plan, fss: Dict[str, CgroupFS], record: Dict[str, Set[str]],
          facts: Optional[List[tuple]] = None) -> Report:
    """Run every action; one failure never stops the others. Updates ``record``.

    ``facts``, if given, gets what each successful action leaves in the kernel
    (read-backs, cgroups made or removed), in observe()'s journal format.
    """
    facts = facts if facts is not None else []
    report = Report(notices=list(plan.notices))
    done: Set[int] = set()
    removed: Set[Tuple[str, str]] = set()  # removals that succeeded (a disable waits on them)
    for action in plan.actions:
        fs = fss[action.hierarchy]
        if action.after and not done.issuperset(action.after):
            report.outcomes.append(Outcome(action, SKIPPED, "waits on an earlier step that did not complete"))
            continue
        # Re-check right before acting: the state may have changed since the plan.
        # Not for rmdir: the kernel itself refuses to remove a busy cgroup.
        problem = None
        if action.guard is not None and action.verb != RMDIR:
            problem = guard_problem(action, fs, removed)
        if problem:
            report.outcomes.append(Outcome(action, KEPT if _keeps(action) else REFUSED, problem))
            continue
        try:
            message = _execute(action, fs, record, facts)
        except CgroupBusy as err:
            kept = err.message if err.message.endswith(NEVER_KILLED) else err.message + NEVER_KILLED
            report.outcomes.append(Outcome(action, KEPT, kept))
            continue
        except KernelError as err:
            report.outcomes.append(Outcome(action, FAILED, err.message))
            continue
        except Exception as err:  # noqa: BLE001 - a bug in one action must not stop the rest
            report.outcomes.append(Outcome(action, FAILED, f"internal error: {type(err).__name__}: {err}"))
            continue
        if message:
            report.outcomes.append(Outcome(action, FAILED, message))
            continue
        done.add(action.id)
        if action.verb == RMDIR:
            removed.add((action.hierarchy, action.path))
        report.outcomes.append(Outcome(action, OK))
    if log.enabled():
        for outcome in report.outcomes:
            _log(outcome)
    return report


def _remove(action: Action, fs: CgroupFS) -> None:
    """rmdir, asking why only when the kernel says busy (a cgroup with processes or
    children): checking every removal first cost ~1 s per 3000 cgroups. A busy
    cgroup with neither is the kernel still freeing a just-emptied one: retried."""
    try:
        fs.rmdir(action.path, tries=1)
    except CgroupBusy as busy:
        try:
            why = _children_problem(action, fs, set(action.guard.children) if action.guard else set())
        except KernelError:
            why = None
        if why:
            raise CgroupBusy(busy.op, busy.path, busy.errno, why, busy.value) from None
        fs.rmdir(action.path)


_EVENTS = {MKDIR: "cgroup_created", RMDIR: "cgroup_removed", WRITE: "knob_written",
           ENABLE: "controllers_enabled", DISABLE: "controllers_disabled", CHOWN: "ownership_set",
           EVACUATE: "processes_moved"}


def _log(outcome: Outcome) -> None:
    action = outcome.action
    keys = dict(hierarchy=action.hierarchy, cgroup=action.path, action=action.verb)
    if action.file:
        keys.update(knob=action.file, value=action.new, old=action.old)
    if outcome.status == OK:
        log.logger().info(_EVENTS[action.verb], **keys)
    elif outcome.status == FAILED:
        log.logger().error("action_failed", message=outcome.message, **keys)
    else:
        log.logger().warning(f"action_{outcome.status}", message=outcome.message, **keys)


def _execute(action: Action, fs: CgroupFS, record: Dict[str, Set[str]], facts: List[tuple]) -> Optional[str]:
    """Do one action; return a problem found on read-back, or None."""
    created = record.setdefault(action.hierarchy, set())
    if action.verb == MKDIR:
        made = fs.mkdir(action.path)
        if made:
            created.add(action.path)
        facts.append(("d", fs.path(action.path)))
        for name in action.reads:
            if made and name == "cgroup.subtree_control":
                # A new cgroup enables nothing, and the kernel prints an empty mask as
                # no bytes at all (cgroup_print_ss_mask): no need to read 1000 of them.
                text: Optional[str] = ""
            else:
                text = fs.read_if_present(action.path, name)
            facts.append(("f", fs.path(action.path, name), text))
    elif action.verb == RMDIR:
        _remove(action, fs)
        created.discard(action.path)
        facts.append(("n", fs.path(action.path)))
    elif action.verb == WRITE:
        for text in action.texts:
            fs.write(action.path, action.file, text)
        back = fs.read(action.path, action.file)
        facts.append(("f", fs.path(action.path, action.file), back))
        if action.setting.vtype.writes(action.desired, back):
            return f"wrote {action.file} = {action.new} but the kernel kept {back.strip()!r}"
    elif action.verb in (ENABLE, DISABLE):
        fs.write(action.path, "cgroup.subtree_control", action.texts[0])
        text = fs.read(action.path, "cgroup.subtree_control")
        facts.append(("f", fs.path(action.path, "cgroup.subtree_control"), text))
        back = set(text.split())
        wanted = {t[1:] for t in action.texts[0].split()}
        if (wanted - back) if action.verb == ENABLE else (wanted & back):
            return f"cgroup.subtree_control reads {' '.join(sorted(back))!r} after {action.texts[0]!r}"
    elif action.verb == EVACUATE:
        fs.mkdir(action.new)  # <base>/anchor; never recorded, so never removed
        for pid in fs.pids(action.path):
            try:
                fs.write(action.new, "cgroup.procs", str(pid))
            except ProcessGone:
                pass  # exited meanwhile: nothing left to move
        left = fs.pids(action.path)
        if left:
            return f"processes {left} stayed in {action.path}; controllers cannot be enabled there"
    elif action.verb == CHOWN:
        facts.append(("x",))  # ownership is not kept in snapshots
        task_files = fs.hierarchy.flavour.task_files
        base = fs.entries("/")
        for name, uid, gid, mode in perm_changes(action.node, fs.entries(action.path), task_files, base):
            fs.set_owner(action.path, name, uid, gid, mode)
        left = perm_changes(action.node, fs.entries(action.path), task_files, base)
        if left:
            name, uid, gid, mode = left[0]
            return f"{name} does not read back as {uid}:{gid} {mode:04o} after chown/chmod"
    return None
