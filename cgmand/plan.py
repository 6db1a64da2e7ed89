"""The planner: (layout, observed state, created-record) -> ordered actions.

Pure. The order follows DESIGN.md §4 and the kernel rules behind it:

* pass A, top-down: mkdir, cpuset, limits that widen, ownership, then the
  cgroup's own ``+controller`` write (one write per cgroup, so the tokens apply
  all or none) before its children are touched;
* pass B, bottom-up: cgroups that left the config are removed (deepest
  first), limits that narrow are written, unused controllers are disabled.

On a v1 hierarchy a child's cpuset and CFS quota must fit its parent's, so
widening goes top-down and narrowing bottom-up; a cpuset that changes to an
unrelated set is widened to the union first. Within one cgroup the write order
of the knob table applies (memsw before limit when raising, after when
lowering). v2 bounds nothing, so everything goes top-down.

Facts that are only needed for some actions (are there processes in this
cgroup? how much memory does it use?) are not read up front: such actions
carry a ``Guard`` that reconcile.py checks before showing or running them.
"""

from __future__ import annotations

from collections import namedtuple
from types import MappingProxyType
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Dict, FrozenSet, List, Mapping, Optional, Set, Tuple

    Observed = Mapping[Tuple[str, str], "NodeState"]
    Record = Mapping[str, Set[str]]  # hierarchy key -> cgroup paths cgman created

from cgmand.hierarchy.layout import ADD, EXACT, Layout, Node, Target
from cgmand.knobs import FileSetting, lookup
from cgmand.model import join, parent_of
from cgmand.values import LOWER, MAX, NEITHER, NEUTRAL, CpuMax, ValueProblem, direction_between, order

MKDIR, WRITE, ENABLE, DISABLE, RMDIR, CHOWN = "mkdir", "write", "enable", "disable", "rmdir", "chown"
EVACUATE = "evacuate"  # move the delegated unit's own processes into <base>/anchor
ANCHOR = "anchor"  # model.RESERVED_TOP: the keep-alive process's leaf below the base
NO_PROCESSES, MEMORY_BELOW, REMOVABLE, CHILDREN_KNOWN = "no-processes", "memory-below", "removable", "children-known"
REFUSED, KEPT, BLOCKED = "refused", "kept", "blocked"


# Immutable records are namedtuples and mutable ones plain classes with
# __slots__, not dataclasses: importing dataclasses costs ~14 ms of every
# command's start-up (docs/decisions.md).

#   kind: str
#   limit: Optional[int] = None -- MEMORY_BELOW: the new limit in bytes
#   children: FrozenSet[str] = frozenset() -- REMOVABLE / CHILDREN_KNOWN: expected child paths
Guard = namedtuple("Guard", "kind limit children", defaults=(None, frozenset()))


class Action:
    """One step of a plan. Compared by identity: plans hold thousands."""

    __slots__ = ("id", "verb", "hierarchy", "path", "group", "file", "texts", "setting", "desired", "old",
                 "new", "source", "after", "guard", "node", "reads")

    def __init__(self, id: int, verb: str, hierarchy: str, path: str, group: Optional[str] = None,
                 file: Optional[str] = None, texts: Tuple[str, ...] = (), setting: Optional[FileSetting] = None,
                 desired: object = None, old: Optional[str] = None, new: Optional[str] = None,
                 source: Optional[str] = None, after: Tuple[int, ...] = (), guard: Optional[Guard] = None,
                 node: Optional[Node] = None, reads: Tuple[str, ...] = ()):
        self.id = id
        self.verb = verb
        self.hierarchy = hierarchy  # Hierarchy.key
        self.path = path  # cgroup path
        self.group = group
        self.file = file
        self.texts = texts  # each is one write(2)
        self.setting = setting  # what the read-back must show
        self.desired = desired  # the value the read-back must show (WRITE)
        self.old = old  # for display
        self.new = new  # for display
        self.source = source  # config key behind it
        self.after = after  # skip this action if one of these did not succeed
        self.guard = guard
        self.node = node  # CHOWN: the node whose perm to apply
        self.reads = reads  # files to read afterwards, for the snapshot's facts

    def describe(self) -> str:
        where = f"{self.hierarchy}:{self.path}"
        if self.verb == WRITE:
            return f"{where}/{self.file}: {self.old} -> {self.new}"
        if self.verb in (ENABLE, DISABLE):
            return f"{where}/cgroup.subtree_control: {' '.join(self.texts)}"
        return where


class Notice:
    __slots__ = ("verb", "hierarchy", "path", "message", "group", "reference")

    def __init__(self, verb: str, hierarchy: str, path: str, message: str, group: Optional[str] = None,
                 reference: str = "refused"):
        self.verb = verb  # REFUSED, KEPT or BLOCKED
        self.hierarchy = hierarchy
        self.path = path
        self.message = message
        self.group = group
        self.reference = reference


# What observe() found for one cgroup:
#   exists: bool
#   files: Mapping[str, Optional[str]] = {} -- None: file missing (the default is a read-only empty mapping)
#   subtree_control: Optional[FrozenSet[str]] = None
#   entries: Optional[Mapping[str, Tuple[int, int, int]]] = None -- name -> (uid, gid, mode); "." = dir
NodeState = namedtuple("NodeState", "exists files subtree_control entries",
                       defaults=(MappingProxyType({}), None, None))


class Plan:
    __slots__ = ("actions", "notices", "warnings", "resets")

    def __init__(self, actions: Optional[List[Action]] = None, notices: Optional[List[Notice]] = None,
                 warnings: Optional[List[str]] = None):
        self.actions = [] if actions is None else actions
        self.notices = [] if notices is None else notices
        self.warnings = [] if warnings is None else warnings
        # (hierarchy, cgroup, file) of every file the plan puts back to its default:
        # cgman keeps them in its record until a write of the default succeeds.
        self.resets: Set[Tuple[str, str, str]] = set()

    @property
    def drift(self) -> bool:
        return bool(self.actions or self.notices)

    def refuse(self, action: Action, message: str, verb: str = REFUSED, reference: str = "refused") -> Set[int]:
        """Drop an action, and every action that depends on it, with a notice each; return their ids."""
        doomed = {action.id}
        for other in self.actions:
            if doomed.intersection(other.after):
                doomed.add(other.id)
        for other in self.actions:
            if other.id in doomed:
                if other is action:
                    self.notices.append(Notice(verb, action.hierarchy, action.path, message,
                                               action.group, reference))
                else:
                    self.notices.append(Notice(BLOCKED, other.hierarchy, other.path,
                                               f"{other.verb} {_what(other)} waits on: {message}",
                                               other.group, "blocked"))
        self.actions = [a for a in self.actions if a.id not in doomed]
        return doomed


def _what(action: Action) -> str:
    return action.file or action.path


class _Builder:
    def __init__(self, target: Target, observed: Observed, force: bool, start: int, systemd: bool = False):
        self.target = target
        self.key = target.hierarchy.key
        self.flavour = target.hierarchy.flavour
        self.observed = observed
        self.force = force
        self.next_id = start
        self.pass_a: List[Action] = []
        self.pass_b: List[Action] = []
        self.notices: List[Notice] = []
        self.mkdir: Dict[str, int] = {}
        self.enable: Dict[str, int] = {}
        self.blocked: Set[str] = set()
        self.cpusets: Dict[str, Dict[str, object]] = {}
        self.systemd = systemd
        self.created: Set[str] = set()  # the cgroups of this hierarchy cgman made
        self.resets: Set[Tuple[str, str, str]] = set()  # (hierarchy, cgroup, file) put back to default
        self.enabled: Dict[str, FrozenSet[str]] = {}  # cgroup -> controllers it may enable after the plan

    def add(self, phase: List[Action], verb: str, where: Node, **kw) -> Action:
        action = Action(self.next_id, verb, self.key, where.path, where.group, **kw)
        self.next_id += 1
        phase.append(action)
        return action

    def state(self, path: str) -> NodeState:
        return self.observed.get((self.key, path)) or NodeState(False)

    def run(self) -> None:
        for node in self.target.nodes.values():
            self.plan_node(node)

    def plan_node(self, node: Node) -> None:
        parent = parent_of(node.path) if node.path != "/" else None
        if parent in self.blocked:
            self.blocked.add(node.path)
            return
        state = self.state(node.path)
        deps = tuple(i for i in (self.mkdir.get(parent), self.enable.get(parent)) if i is not None)
        if not state.exists and node.reset_only:  # nothing there to put back
            self.blocked.add(node.path)
            return
        if not state.exists:
            if not node.may_create:
                self.blocked.add(node.path)
                self.notices.append(Notice(REFUSED, self.key, node.path, _not_creatable(node, self.systemd),
                                           node.group, "base-missing"))
                return
            made = self.add(self.pass_a, MKDIR, node, after=(self.mkdir[parent],) if parent in self.mkdir else ())
            self.mkdir[node.path] = made.id
            deps = deps + (made.id,)
        written = self.plan_settings(node, state, deps)
        if not state.exists:
            # What observe() would have read and no write reads back: the new
            # cgroup's defaults (an empty io.max, say) are facts of the snapshot too.
            made.reads = tuple(s.file for s in node.settings if s.file not in written)
            if self.target.reads_subtree(node) and (node.children or self.enabled.get(parent) != frozenset()):
                # (observe() infers a leaf's from an empty parent's instead of reading it)
                made.reads += ("cgroup.subtree_control",)
        if node.perm is not None and (not state.exists or _perm_drift(node, state, self.flavour.task_files,
                                                                    self.state("/").entries or {})):
            self.add(self.pass_a, CHOWN, node, after=deps, node=node, new="perm")
        self.plan_subtree(node, state, deps)

    def plan_settings(self, node: Node, state: NodeState, deps: Tuple[int, ...]) -> Set[str]:
        """Writes for one cgroup, each in the pass its direction asks for, in knob-table order.

        Returns the files written."""
        changes = [c for c in (self.change(node, s, state) for s in node.settings) if c is not None]
        written = {c[0].file for c in changes}
        for period in [c for c in changes if c[0].follows]:
            changes = _cfs_pair(node, state, changes, period)
        for setting, desired, old, way, texts in changes:
            vtype = setting.vtype
            common = dict(file=setting.file, setting=setting, source=setting.source, after=deps,
                          old=_show(vtype, state.files.get(setting.file), state.exists),
                          new=vtype.render(desired) + (" (from parent)" if setting.inherit else ""))
            if way == NEITHER:  # unrelated cpusets: widen to the union first (top-down)
                wide = vtype.widen(old, desired)
                self.add(self.pass_a, WRITE, node, texts=(vtype.format(wide),), desired=wide, **common)
                common["after"] = ()
            phase = self.pass_b if way in (LOWER, NEITHER) else self.pass_a
            guard = self.memory_guard(setting, desired, old, state)
            self.add(phase, WRITE, node, texts=tuple(texts), desired=desired, guard=guard, **common)
            if setting.reset:
                self.resets.add((self.key, node.path, setting.file))
        return written

    def change(self, node: Node, setting: FileSetting, state: NodeState):
        """(setting, desired, old, direction, texts) if the file must change, else None."""
        observed = state.files.get(setting.file) if state.exists else None
        if setting.reset and observed is None:
            return None  # a new cgroup, or the file went with its controller: nothing to put back
        vtype = setting.vtype
        desired = setting.value
        if setting.inherit:
            current = _parse(vtype, observed)
            # cgman's cgroups follow their parent's cpuset (what an unset cpuset means on
            # v2); an ancestor is filled only when empty and cgman created it.
            if state.exists and not node.owned and (current or node.path not in self.created):
                self.cpusets.setdefault(node.path, {})[setting.file] = current
                return None
            desired = self.cpusets.get(parent_of(node.path), {}).get(setting.file)
            if not desired:
                self.notices.append(Notice(REFUSED, self.key, node.path,
                                           f"cannot fill {setting.file}: the parent's is empty or unknown",
                                           node.group, "cpuset-parent-empty"))
                return None
        self.cpusets.setdefault(node.path, {})[setting.file] = desired
        texts = vtype.writes(desired, observed)
        if not texts:
            return None
        old = _parse(vtype, observed) if state.exists else vtype.unset
        way = NEUTRAL
        if self.flavour.constrains_children and vtype.hierarchical and old is not None:
            way = vtype.direction(old, desired)
        return (setting, desired, old, way, texts)

    def memory_guard(self, setting: FileSetting, desired: object, old: object, state: NodeState) -> Optional[Guard]:
        """Lowering the hard limit below current use OOM-kills on v2: check first (§3.4).

        Not for a new cgroup, nor (v2) one whose memory controller this plan
        enables: its file is missing, and nothing is charged to it yet (what its
        processes already use stays charged where it was)."""
        if self.force or setting.file != self.flavour.memory_limit or not state.exists or desired == MAX:
            return None
        if state.files.get(setting.file) is None:
            return None
        if old not in (None, MAX) and desired >= old:
            return None
        return Guard(MEMORY_BELOW, limit=desired)

    def plan_subtree(self, node: Node, state: NodeState, deps: Tuple[int, ...]) -> None:
        have = state.subtree_control or frozenset() if state.exists else frozenset()
        if node.subtree not in (EXACT, ADD):
            if state.subtree_control is not None:
                self.enabled[node.path] = state.subtree_control
            return
        wanted = self.target.subtree_control(node)
        self.enabled[node.path] = have | wanted  # at most, after this plan (a disable may be kept)
        add = sorted(wanted - have)
        if add and node.evacuate:
            moved = self.add(self.pass_a, EVACUATE, node, after=deps, file="cgroup.procs",
                             new=join(node.path, ANCHOR))
            deps = deps + (moved.id,)
        if add:
            # The root is exempt from the no-internal-process rule; an evacuated
            # base is emptied by the step before (which reports what stayed).
            # Threaded controllers (cpu, pids, ...) may be enabled in a populated cgroup.
            domain = set(add) - self.flavour.threaded
            guard = None if node.path == "/" or node.evacuate or not domain else Guard(NO_PROCESSES)
            made = self.add(self.pass_a, ENABLE, node, texts=(" ".join("+" + c for c in add),),
                            after=deps, guard=guard, old=" ".join(sorted(have)), new=" ".join(sorted(wanted)))
            self.enable[node.path] = made.id
        remove = sorted(have - wanted) if node.subtree == EXACT else []
        if remove:
            known = set(node.children)
            if node.evacuate:  # systemd's and cgman's own leaves below the delegated cgroup
                known |= {join(node.path, ANCHOR), join(node.path, ".control")}
            self.add(self.pass_b, DISABLE, node, texts=(" ".join("-" + c for c in remove),),
                     guard=Guard(CHILDREN_KNOWN, children=frozenset(known)),
                     old=" ".join(sorted(have)), new=" ".join(sorted(wanted)))


def _cfs_pair(node: Node, state: NodeState, changes: List[tuple], period: tuple) -> List[tuple]:
    """Reorder the writes of a v1 CFS quota/period pair whose period changes.

    v1 checks every write of either file as the ratio quota/period against the
    parent's and every descendant's, and refuses with EINVAL
    (kernel/sched/core.c, tg_cfs_schedulable_down; v2 clamps instead). The
    pair therefore moves in the ratio's direction (top-down when it grows,
    bottom-up when it shrinks), and a period change under a set quota goes
    through quota -1 (unlimited, always accepted): -1, period, quota never
    leaves bounds that both the old and the new ratio meet, where writing the
    two files directly in either order can (50000/100000 -> 100000/200000
    passes through 1.0 or 0.25). The group is unlimited for the moment between
    the writes. ``changes`` is in execution order; pass B is reversed later,
    so a shrinking pair is listed backwards.
    """
    setting = period[0]
    quota = next((s for s in node.settings if s.file == setting.follows), None)
    if quota is None:  # never made by the knob table (the pair comes whole); nothing to order
        return changes
    qtype = quota.vtype
    old_quota = _parse(qtype, state.files.get(quota.file)) if state.exists else qtype.unset
    old_period = period[2] if period[2] is not None else CpuMax.DEFAULT_PERIOD
    if old_quota is None:  # unreadable: nothing to reason about, write period then quota
        return changes
    way = direction_between(order(old_quota) / old_period, order(quota.value) / setting.value)
    rest = [c for c in changes if c[0].file not in (setting.file, quota.file)]
    pair = [(setting, period[1], period[2], way, period[4])]
    if old_quota != MAX:
        pair.insert(0, (quota, MAX, old_quota, way, [qtype.format(MAX)]))
    if quota.value != MAX:
        pair.append((quota, quota.value, old_quota, way, qtype.writes(quota.value, None)))
    if way == LOWER:
        pair.reverse()
    at = next(i for i, c in enumerate(changes) if c[0].file in (setting.file, quota.file))
    return rest[:at] + pair + rest[at:]


def _not_creatable(node: Node, systemd: bool) -> str:
    if node.path == "/":
        return "the hierarchy's root cgroup is missing (is the filesystem mounted?)"
    if systemd:
        return "missing, and it is not cgman's to create (systemd owns it)"
    return "missing, and it is not cgman's to create"


def _parse(vtype, text: Optional[str]):
    if text is None:
        return None
    try:
        return vtype.read(text)
    except ValueProblem:
        return None


def _show(vtype, text: Optional[str], exists: bool) -> str:
    if not exists:
        return "(new)"
    if text is None:
        return "(missing)"
    value = _parse(vtype, text)
    return vtype.render(value) if value is not None else repr(text.strip())


def _perm_drift(node: Node, state: NodeState, task_files: Tuple[str, ...], base: Mapping) -> bool:
    return bool(perm_changes(node, state.entries or {}, task_files, base))


def perm_changes(node: Node, entries: Mapping[str, Tuple[int, int, int]], task_files: Tuple[str, ...],
                 base: Optional[Mapping[str, Tuple[int, int, int]]] = None) -> List[Tuple[str, int, int, int]]:
    """(name, uid, gid, mode) for each entry whose owner or mode differs (unset fields keep theirs).

    cgconfig semantics (research/libcgroup.md §1.3): admin owns the directory
    and its files, task owns the files that take processes; fperm is masked by
    the file's owner bits copied to group and other, so a read-only file stays
    read-only. The owner bits are the kernel's: those of the same file in the
    hierarchy's root (``base``), which cgman never changes; for a knob the root
    lacks (v2 keeps controller files off it), rw- as the kernel makes them; for
    the directory rwx, as mkdir makes it; otherwise the entry's own. (Its own alone would let an fperm that removed
    the owner's write bit keep it removed for good.)
    """
    perm = node.perm
    base = base or {}
    out = []
    for name, (uid, gid, mode) in sorted(entries.items()):
        who = perm.task if name in task_files and _set(perm.task) else perm.admin
        want_mode = mode
        wanted = perm.admin.dperm if name == "." else who.fperm
        if wanted is not None:
            owner = _kernel_owner_bits(name, mode, base)
            want_mode = _merge_mode(mode, wanted, 0o7000 | owner << 6 | owner << 3 | owner)
        want = (who.uid if who.uid is not None else uid, who.gid if who.gid is not None else gid, want_mode)
        if want != (uid, gid, mode):
            out.append((name, want[0], want[1], want[2]))
    return out


def _kernel_owner_bits(name: str, mode: int, base: Mapping[str, Tuple[int, int, int]]) -> int:
    if name == ".":  # mkdir makes cgroup directories rwx for the owner (the root's is the mount's)
        return 0o7
    if name in base:
        return (base[name][2] >> 6) & 0o7
    if lookup(name) is not None:  # a knob (v2 keeps them off the root): the kernel makes it rw-
        return 0o6
    return (mode >> 6) & 0o7


def _set(ownership) -> bool:
    return any(v is not None for v in (ownership.uid, ownership.gid, ownership.fperm))


def _merge_mode(mode: int, wanted: Optional[int], mask: int) -> int:
    return mode if wanted is None else (mode & ~0o7777) | (wanted & mask)


def make(layout: Layout, observed: Observed, record: Record, force: bool = False) -> Plan:
    """Everything that must happen for the kernel to match the layout."""
    plan = Plan(warnings=list(layout.host.warnings))
    next_id = 0
    keys = [t.hierarchy.key for t in layout.targets] + sorted(set(record) - {t.hierarchy.key for t in layout.targets})
    for key in keys:
        target = layout.target(key)
        builder = None
        if target is not None:
            builder = _Builder(target, observed, force, next_id, layout.host.systemd is not None)
            builder.created = record.get(key, set())
            builder.run()
            next_id = builder.next_id
        removals = _removals(key, target, observed, record.get(key, set()), next_id)
        next_id += len(removals)
        if builder is not None:
            _after_removals(builder.pass_b, removals)
            plan.actions += builder.pass_a + removals + list(reversed(builder.pass_b))
            plan.notices += builder.notices
            plan.resets |= builder.resets
        else:
            plan.actions += removals
    return plan


def _removals(key: str, target: Optional[Target], observed: Observed, created: Set[str], start: int) -> List[Action]:
    """rmdir every cgroup cgman created that the config no longer has, deepest first."""
    wanted = target.nodes if target is not None else {}
    gone = sorted((p for p in created if p not in wanted and p != "/"
                   and (observed.get((key, p)) or NodeState(False)).exists),
                  key=lambda p: (-p.count("/"), p))
    ids = {path: start + i for i, path in enumerate(gone)}
    children: Dict[str, List[str]] = {}
    for path in gone:
        children.setdefault(parent_of(path), []).append(path)
    out = []
    for path in gone:
        mine = sorted(children.get(path, ()))
        out.append(Action(ids[path], RMDIR, key, path, after=tuple(ids[c] for c in mine),
                          guard=Guard(REMOVABLE, children=frozenset(mine))))
    return out


def _after_removals(pass_b: List[Action], removals: List[Action]) -> None:
    """A controller disable waits on the removal of the children that needed it: a
    child kept for its processes keeps its parent's controllers (and its limits)."""
    by_parent: Dict[str, List[int]] = {}
    for removal in removals:
        by_parent.setdefault(parent_of(removal.path), []).append(removal.id)
    for action in pass_b:
        if action.verb == DISABLE and action.path in by_parent:
            action.after = action.after + tuple(by_parent[action.path])


def counts(plan: Plan) -> Dict[str, int]:
    out = {verb: 0 for verb in (MKDIR, WRITE, ENABLE, DISABLE, RMDIR, CHOWN, EVACUATE)}
    for action in plan.actions:
        out[action.verb] += 1
    return out
