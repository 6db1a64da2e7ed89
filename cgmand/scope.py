"""An edit's scope: the groups it changed, and a plan kept to them.

cgmand re-plans on every configuration edit. Planning 1000 groups in full
costs about 200 ms here (layout, reading 2500 kernel files, planning), and an
edit usually touches one group. An edit that leaves ``[manager]`` alone and
removes no group can only need work in the groups it changed or added and in
the cgroups below them, provided the cgroups above are as the last reconcile
left them. So cgmand lays out just those groups with their declared ancestors
and descendants, observes and plans that, and keeps the actions on the changed
subtrees (``restrict``). The partial view makes the ancestors look as if they
needed only their changed children's controllers; those controller disables
are dropped. Anything else planned outside the subtrees (a mkdir, an enable, a
write, a notice), or a kept action waiting on a dropped one, means the
ancestors are not as left: ``restrict`` says so and cgmand reconciles in full.
An edit that removes a group or takes a controller from one is always full
(``changed``), as are explicit reloads, the periodic drift check, and any
edit after a reconcile that left work for the next (cgmand checks that).

Pure: no I/O.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Callable, Dict, FrozenSet, Optional, TypeVar

    from cgmand.plan import Plan

    R = TypeVar("R")  # one hierarchy's part of the record: a set of paths, or path -> files

from cgmand import knobs
from cgmand.model import DesiredState, GroupSpec, ancestors, join


def changed(before: DesiredState, after: DesiredState) -> Optional[FrozenSet[str]]:
    """The groups an edit changed or added; None if it changed [manager], removed a
    group, or took a controller from one. Those may leave a parent's controller
    unused (v2: a disable above the edit; v1: a cgroup to remove there), which
    the partial view cannot tell from the disables it invents: a full reconcile."""
    if before.manager != after.manager or not before.groups.keys() <= after.groups.keys():
        return None
    names = frozenset(name for name, group in after.groups.items() if before.groups.get(name) != group)
    for name in names:
        if name in before.groups and not _controllers(before.groups[name]) <= _controllers(after.groups[name]):
            return None
    return names


def _controllers(group: GroupSpec) -> FrozenSet[str]:
    """The controllers a group's keys and controller tables ask for."""
    return frozenset(knobs.lookup(key)[0].controller for key in group.settings) | group.controllers


def reduce(desired: DesiredState, names: FrozenSet[str]) -> DesiredState:
    """``desired`` with only the ``names`` groups, the declared groups above them (for
    their write policies and cpusets) and every declared group below them."""
    above = {a[1:] for name in names for a in ancestors("/" + name)}
    below = tuple(name + "/" for name in names)
    groups = {name: group for name, group in desired.groups.items()
              if name in names or name in above or name.startswith(below)}
    return DesiredState(desired.manager, groups, desired.sources)


def within(base: str, names: FrozenSet[str]) -> Callable[[str], bool]:
    """Is a cgroup path one of the ``names`` groups' cgroups, or below one?"""
    tops = frozenset(join(base, name) for name in names)
    below = tuple(top + "/" for top in tops)  # str.startswith takes a tuple: one call per path

    def inside(path: str) -> bool:
        return path in tops or path.startswith(below)

    return inside


def part(record: Dict[str, R], inside: Callable[[str], bool]) -> Dict[str, R]:
    """The entries of a per-hierarchy record (created: sets of paths; managed: path ->
    files) inside the scope."""
    return {key: _keep(paths, inside, True) for key, paths in record.items()}


def merged(record: Dict[str, R], scoped: Dict[str, R], inside: Callable[[str], bool]) -> Dict[str, R]:
    """``record`` with its entries inside the scope replaced by ``scoped``'s."""
    out = {}
    for key in set(record) | set(scoped):
        # (scoped may hold entries outside too: the declared ancestors laid out with
        # the edit. The record's own entries stand for those.)
        new = _keep(scoped[key], inside, True) if key in scoped else None
        outside = _keep(record[key], inside, False) if key in record else type(new)()
        value = {**outside, **(new or {})} if isinstance(outside, dict) else outside | set(new or ())
        if value:
            out[key] = value
    return out


def _keep(paths: R, inside: Callable[[str], bool], wanted: bool) -> R:
    if isinstance(paths, dict):
        return {path: value for path, value in paths.items() if inside(path) == wanted}
    return {path for path in paths if inside(path) == wanted}


def restrict(plan: Plan, inside: Callable[[str], bool]) -> Optional[Plan]:
    """The plan's part inside the scope; None if the rest shows more than the partial
    view's controller disables (see the module docstring): reconcile in full."""
    from cgmand.plan import DISABLE, Plan

    kept, dropped = [], set()
    for action in plan.actions:
        if inside(action.path):
            kept.append(action)
        elif action.verb == DISABLE:
            dropped.add(action.id)
        else:
            return None
    if any(not inside(notice.path) for notice in plan.notices):
        return None
    if any(dropped.intersection(action.after) for action in kept):
        return None
    out = Plan(kept, list(plan.notices), list(plan.warnings))
    out.resets = {reset for reset in plan.resets if inside(reset[1])}
    return out
