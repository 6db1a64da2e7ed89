"""Who may place processes into which group, when cgmand does it for them (pure).

Root places anything, directly. An unprivileged user is placed by cgmand
(its place socket, cgmand/control.py) into a group the configuration
declares with a `perm.task` owner that is that user, or a group the user is
in (primary or supplementary): the same `perm.task` that, on cgroup v1, owns
the group's tasks and cgroup.procs and so lets that user write them directly,
as cgconfig did. Nothing else is allowed: a group made by hand or by
`cgman create` has no policy cgmand can read.

A user may move only their own processes: the caller's uid must be the
process's real or saved uid, the rule cgroup v1 applies to a write into tasks
(kernel/cgroup/cgroup-v1.c, __cgroup1_procs_write()).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import FrozenSet, Optional, Tuple

    from cgmand.model import GroupSpec


class Caller:
    """Who asked: SO_PEERCRED's uid and gid, and the supplementary groups."""

    __slots__ = ("uid", "gid", "groups")

    def __init__(self, uid: int, gid: int, groups: FrozenSet[int] = frozenset()):
        self.uid, self.gid, self.groups = uid, gid, frozenset(groups)

    def __repr__(self) -> str:
        return f"uid {self.uid} (gid {self.gid}" + \
            (f", groups {','.join(map(str, sorted(self.groups - {self.gid})))})" if self.groups - {self.gid}
             else ")")


def refusal(name: str, spec: Optional[GroupSpec], caller: Caller) -> Optional[str]:
    """Why ``caller`` may not place processes into group ``name`` (declared as ``spec``,
    None if it is not declared); None if it may."""
    if caller.uid == 0:
        return None
    label = name or "the base group"
    if spec is None:
        return (f"{label} is not declared in the configuration, so no perm.task policy lets "
                f"{caller} place processes in it; only root may")
    task = spec.perm.task if spec.perm is not None else None
    if task is None or (task.uid is None and task.gid is None):
        return f"{label} ({spec.source}) has no perm.task, so only root may place processes in it"
    if task.uid is not None and task.uid == caller.uid:
        return None
    if task.gid is not None and (task.gid == caller.gid or task.gid in caller.groups):
        return None
    allowed = " or ".join(part for part in (f"uid {task.uid}" if task.uid is not None else "",
                                            f"group {task.gid}" if task.gid is not None else "") if part)
    return f"perm.task of {label} ({spec.source}) allows {allowed}, not {caller}"


def may_move(caller: Caller, target_uids: Tuple[int, int, int]) -> bool:
    """May ``caller`` move a process whose (real, effective, saved) uids are these?"""
    real, _effective, saved = target_uids
    return caller.uid == 0 or caller.uid in (real, saved)
