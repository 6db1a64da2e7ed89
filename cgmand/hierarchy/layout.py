"""Lay the desired groups out on the host's hierarchies.

``build(desired, host)`` turns each group's keys into kernel files per
hierarchy (through the knob table), adds the ancestors every cgroup needs, and
works out which v2 controllers each cgroup must get from its parent. A key the
host cannot honour is a configuration error naming the file and key; nothing is
dropped silently.

Pure module: no I/O.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Dict, FrozenSet, List, Optional, Set, Tuple

    Managed = Dict[str, Dict[str, FrozenSet[str]]]  # hierarchy key -> cgroup path -> files

from cgmand import knobs
from cgmand.errors import ConfigError, ConfigErrors
from cgmand.hierarchy import SYSTEMD_V1_MANAGED, Hierarchy, Host
from cgmand.knobs import CONTROLLERS, FileSetting
from cgmand.model import DesiredState, GroupSpec, Perm, ancestors, depth, join, parent_of
from cgmand.values import CpuList

ANCESTOR, BASE, IMPLICIT, GROUP = "ancestor", "base", "implicit", "group"
EXACT, ADD, NONE = "exact", "add", "none"  # how cgman may write a node's subtree_control


# The records below are plain classes with __slots__, not dataclasses:
# importing dataclasses costs ~14 ms of every command's start-up
# (docs/decisions.md). They compare by identity.


class Node:
    __slots__ = ("path", "kind", "group", "settings", "own", "needs", "children", "perm", "may_create",
                 "subtree", "evacuate", "reset_only")

    def __init__(self, path: str, kind: str, group: Optional[str] = None,
                 settings: Optional[List[FileSetting]] = None, own: Optional[Set[str]] = None,
                 needs: Optional[Set[str]] = None, children: Optional[List[str]] = None,
                 perm: Optional[Perm] = None, may_create: bool = True, subtree: str = NONE,
                 evacuate: bool = False):
        self.path = path  # cgroup path in the hierarchy
        self.kind = kind  # ANCESTOR (above the base), BASE, IMPLICIT (between base and a group) or GROUP
        self.group = group  # name of the declared group
        self.settings = [] if settings is None else settings
        self.own = set() if own is None else own  # v2 controllers its own files need
        self.needs = set() if needs is None else needs  # own plus what its descendants need
        self.children = [] if children is None else children
        self.perm = perm
        self.may_create = may_create
        self.subtree = subtree
        # The delegated unit's cgroup under systemd on v2: its keep-alive process
        # must move to <base>/anchor before controllers can be enabled there
        # (no internal processes; research/systemd-v2.md §1.4). systemd >= 254
        # does it itself with DelegateSubgroup=anchor.
        self.evacuate = evacuate
        # v1: a configured group that no longer uses this hierarchy, kept here only
        # to put back what cgman set in it; never created (see _place_leftovers).
        self.reset_only = False

    @property
    def owned(self) -> bool:
        """Base and below belong to cgman; ancestors belong to whoever made them."""
        return self.kind != ANCESTOR


class Target:
    """The desired cgroups of one hierarchy, parents before children."""

    __slots__ = ("hierarchy", "nodes")

    def __init__(self, hierarchy: Hierarchy, nodes: Dict[str, Node]):
        self.hierarchy = hierarchy
        self.nodes = nodes

    def subtree_control(self, node: Node) -> FrozenSet[str]:
        return frozenset(c for child in node.children for c in self.nodes[child].needs)

    def reads_subtree(self, node: Node) -> bool:
        """Must cgroup.subtree_control be read? For a node with children, and for
        every node cgman owns: a leaf must have none enabled (a group whose child
        left the config still has the child's; its parent could never disable them)."""
        return self.hierarchy.flavour.subtree_control and bool(node.children or node.subtree == EXACT)


class Layout:
    __slots__ = ("host", "targets")

    def __init__(self, host: Host, targets: List[Target]):
        self.host = host
        self.targets = targets

    def target(self, key: str) -> Optional[Target]:
        return next((t for t in self.targets if t.hierarchy.key == key), None)

    def managed(self) -> Managed:
        """The files the configuration sets, per hierarchy and group cgroup (for the record)."""
        out: Managed = {}
        for target in self.targets:
            for path, node in target.nodes.items():
                files = frozenset(s.file for s in node.settings if not (s.inherit or s.reset))
                if node.kind == GROUP and files:
                    out.setdefault(target.hierarchy.key, {})[path] = files
        return out


def build(desired: DesiredState, host: Host, managed: Optional[Managed] = None) -> Layout:
    """``managed``: the files cgman wrote per hierarchy and cgroup (the record);
    those whose key left the configuration are put back to their defaults."""
    errors: List[ConfigError] = []
    placed: Dict[str, Dict[str, Node]] = {h.key: {} for h in host.hierarchies}
    for group in desired.groups.values():
        _place_group(group, host, placed, errors)
    if errors:
        raise ConfigErrors(errors)
    _place_leftovers(desired, host, placed, managed or {})
    targets = []
    for hierarchy in sorted(host.hierarchies, key=lambda h: "cpuset" not in h.controllers):
        nodes = placed[hierarchy.key]
        if nodes:
            target = _complete(hierarchy, nodes, host)
            _add_resets(target.nodes, (managed or {}).get(hierarchy.key, {}), hierarchy.version,
                        host.page_size)
            targets.append(target)
    errors = _inner_places(desired, host, targets)
    if errors:
        raise ConfigErrors(errors)
    return Layout(host, targets)


def _inner_places(desired: DesiredState, host: Host, targets: List[Target]) -> List[ConfigError]:
    """Rules that would place processes into an inner group on cgroup v2: one whose child
    groups need a domain controller (memory, io, ...) enabled for them, which then makes
    the group refuse processes (the no-internal-process rule, cgroup-v2.rst; threaded
    controllers such as cpu and pids do not bind it)."""
    from cgmand.hierarchy.flavour import V2

    if not desired.rules:
        return []
    domain: Dict[str, set] = {}  # group -> the domain controllers its children need
    for target in targets:
        if target.hierarchy.version != 2:
            continue
        for node in target.nodes.values():
            if node.group is None:
                continue
            below = set()
            for child in node.children:
                below |= target.nodes[child].needs if child in target.nodes else set()
            below -= V2.threaded
            if below:
                domain.setdefault(node.group, set()).update(below)
    unified = next((h for h in host.hierarchies if h.version == 2), None)
    for pattern, template in desired.templates.items():  # the groups templates will make below theirs
        parent = pattern.rsplit("/", 1)[0] if "/" in pattern else ""
        needs = {knobs.lookup(k)[0].controller for k in template.settings if knobs.lookup(k)} | set(template.controllers)
        needs = {c for c in needs if unified is not None and c in unified.controllers} - V2.threaded
        if parent and needs:
            domain.setdefault(parent, set()).update(needs)
    errors = []
    for rule in desired.rules:
        if rule.place and "%" not in rule.place and domain.get(rule.place):
            errors.append(ConfigError(
                f'place = "{rule.place}" is an inner group on cgroup v2: its child groups need '
                f"{', '.join(sorted(domain[rule.place]))} enabled for them, so it can hold no processes "
                "(the no-internal-process rule)", source=rule.source, key=f"rule[{rule.position}].place",
                reference="group-inner", hint="place into one of its child groups, or a leaf of its own"))
    return errors


def _place_group(group: GroupSpec, host: Host, placed: Dict[str, Dict[str, Node]],
                 errors: List[ConfigError]) -> None:
    files: Dict[str, List[FileSetting]] = {}
    v2_needs: Set[str] = set()
    ctx = knobs.Context(host.page_size, group.settings)
    where = f'group."{group.name}"'
    errors_before = len(errors)

    def fail(key: str, reason: str, hint: Optional[str] = None) -> None:
        errors.append(ConfigError(reason, source=group.source, key=f"{where}.{key}" if key else where,
                                  hint=hint, reference="knob-unmappable"))

    def home_of(controller: str, key: str) -> Optional[Hierarchy]:
        home = host.home(controller)
        ctl = CONTROLLERS[controller]
        if home is None:
            fail(key, f"the {controller} controller is not available on this host"
                 + (f" ({ctl.v2_refusal})" if ctl.v2_refusal else ""))
            return None
        if home.version == 2 and ctl.v2 and host.delegated_controllers is not None \
                and ctl.v2 not in host.delegated_controllers:
            fail(key, f"the {ctl.v2} controller is not delegated to "
                 f"{host.systemd.unit if host.systemd else 'cgman'}",
                 "set Delegate=yes on the unit; systemd does not delegate hugetlb, rdma or misc")
            return None
        if home.version == 2 and ctl.v2:
            v2_needs.add(ctl.v2)
        files.setdefault(home.key, [])
        return home

    for concept, keys in _by_concept(group).items():
        home = home_of(concept.controller, next(iter(keys)))
        if home is None:
            continue
        try:
            made = concept.translate(keys, home.version, ctx)
        except knobs.Untranslatable as refusal:
            fail(refusal.key, f"cannot be honoured on this host: {refusal.reason}", refusal.hint)
            continue
        offered = host.offered.get(home.key)
        lacking = [s.file for s in made if offered is not None and s.file not in offered]
        if lacking:
            reason, hint = knobs.why_missing(lacking[0])
            fail(next(iter(keys)), f"cannot be honoured on this host: this kernel has no {lacking[0]} in "
                 f"the {home.key} hierarchy ({reason})", hint)
            continue
        files[home.key].extend(made)
    for controller in sorted(group.controllers):
        home_of(controller, controller)
    for mirror in host.mirrors():
        files.setdefault(mirror.key, [])
    if not files and len(errors) == errors_before:  # not when its controllers were refused above
        fail("", "the group names no controller, and this host has no cgroup2 hierarchy to hold "
             "it", "add a controller table such as cpu = {}")
    path = join(host.base, group.name)
    for key, settings in files.items():
        own = v2_needs if key == "unified" else set()
        placed[key][path] = Node(path, GROUP, group.name, sorted(settings, key=lambda s: s.order),
                                 set(own), perm=group.perm)


def _place_leftovers(desired: DesiredState, host: Host, placed: Dict[str, Dict[str, Node]],
                     managed: Managed) -> None:
    """A group still configured but no longer using a v1 hierarchy (its last memory
    key went, say) keeps a node there for one more run, so what cgman set is put
    back: its cgroup stays if it holds processes or was not cgman's, and must not
    keep the old limit. Once the resets succeed the record forgets the files, the
    node goes, and a cgroup cgman made is removed when empty."""
    groups = {join(host.base, name): name for name in desired.groups}
    for key, cgroups in managed.items():
        nodes = placed.get(key)
        if nodes is None:  # the hierarchy is not mounted now
            continue
        for path in cgroups:
            if path not in nodes and path in groups:
                nodes[path] = Node(path, GROUP, groups[path])
                nodes[path].reset_only = True


def _add_resets(nodes: Dict[str, Node], managed: Dict[str, FrozenSet[str]], version: int,
                page_size: int) -> None:
    for path, files in managed.items():
        node = nodes.get(path)
        if node is None or not node.owned:  # not wanted here any more: the cgroup goes, settings and all
            continue
        have = {s.file for s in node.settings}
        gone = set(files - have)
        gone |= {knobs.RESET_TOGETHER[f] for f in gone if f in knobs.RESET_TOGETHER} - have
        resets = [knobs.reset_setting(f, version, page_size) for f in sorted(gone)
                  if knobs.SAME_VALUE.get(f) not in have]
        if any(resets):
            node.settings = sorted(node.settings + [r for r in resets if r is not None], key=lambda s: s.order)


def _by_concept(group: GroupSpec) -> Dict[knobs.Concept, Dict[str, object]]:
    out: Dict[str, Tuple[knobs.Concept, Dict[str, object]]] = {}
    for key, value in group.settings.items():
        concept, _version, _vtype = knobs.lookup(key)
        out.setdefault(concept.name, (concept, {}))[1][key] = value
    return {concept: keys for concept, keys in out.values()}


def _complete(hierarchy: Hierarchy, groups: Dict[str, Node], host: Host) -> Target:
    """Add every ancestor, link children, compute needs and write policies."""
    nodes: Dict[str, Node] = {}
    for path in sorted(set(groups) | {a for p in groups for a in ancestors(p)}, key=_sort_key):
        node = groups.get(path) or Node(path, _kind_of(path, host.base))
        node.may_create, node.subtree = _policy(hierarchy, node, host)
        node.evacuate = node.kind == BASE and host.systemd is not None and hierarchy.version == 2
        nodes[path] = node
        if path != "/":
            nodes[parent_of(path)].children.append(path)
    for node in sorted(nodes.values(), key=lambda n: -depth(n.path)):
        node.needs = set(node.own).union(*(nodes[c].needs for c in node.children))
        if node.reset_only and node.children:  # needed as an ancestor after all: an ordinary node
            node.reset_only = False
    if hierarchy.flavour.fills_cpuset and "cpuset" in hierarchy.controllers:
        _inherit_cpusets(nodes)
    return Target(hierarchy, nodes)


def _sort_key(path: str) -> Tuple[int, str]:
    return (0 if path == "/" else path.count("/"), path)


def _kind_of(path: str, base: str) -> str:
    if path == "/":  # the root cgroup is everyone's, even with manager.root = "/"
        return ANCESTOR
    if path == base:
        return BASE
    if base == "/" or path.startswith(base + "/"):
        return IMPLICIT
    return ANCESTOR


def _policy(hierarchy: Hierarchy, node: Node, host: Host) -> Tuple[bool, str]:
    """May cgman create this cgroup, and how may it write its subtree_control?"""
    systemd_owned = host.systemd is not None and (
        hierarchy.version == 2 or hierarchy.name == "systemd"
        or bool(hierarchy.controllers & SYSTEMD_V1_MANAGED))
    if node.kind == ANCESTOR or (node.kind == BASE and host.systemd is not None):
        may_create = node.path != "/" and not systemd_owned
    else:
        may_create = True
    if not hierarchy.flavour.subtree_control:
        return may_create, NONE
    if node.owned:
        return may_create, EXACT
    # Above the base: add what cgman's tree needs, never remove (other managers
    # may rely on it); under systemd never write at all (the unit's Delegate= does).
    return may_create, NONE if host.systemd is not None else ADD


def _inherit_cpusets(nodes: Dict[str, Node]) -> None:
    """v1 cpusets start empty and refuse tasks: fill unset cpus/mems from the parent."""
    for node in nodes.values():  # the root too: its values are what the first level copies
        have = {s.file for s in node.settings}
        for order, file in enumerate(("cpuset.cpus", "cpuset.mems")):
            if file not in have:
                node.settings.insert(order, FileSetting(file, None, CpuList(), "(from parent)", order,
                                                        inherit=True))
