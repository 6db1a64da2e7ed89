"""Put processes into cgroups, and read where they are: `cgman exec` and `cgman classify`.

A process moves whole: its id written to cgroup.procs, one write(2) per
hierarchy (research/systemd-v2.md §3.5). One exception: on cgroup v1 a
single-threaded process moving itself writes 0 ("the writer") to tasks,
which moves the calling thread, all there is, without taking
cgroup_threadgroup_rwsem for writing: a pid write to either file waits for an
RCU grace period first (~8 ms on an idle machine; kernel/cgroup/cgroup.c,
cgroup_procs_write_start(); measured in BASELINE.md). Every move is checked
in /proc/PID/cgroup afterwards: writing a zombie's pid succeeds and moves
nothing.
"""

from __future__ import annotations

import errno
import os
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Dict, List, Optional, Sequence

    from cgmand.targets import Target

from cgmand.errors import CgmanError, CgroupGone, KernelError, ProcessGone
from cgmand.kernel.cgroupfs import CgroupFS


class AttachError(CgmanError):
    """A process cannot join a group; ``reference`` says why (docs/errors.md)."""

    reference = "attach-failed"


def join_self(targets: Sequence[Target], proc_root: str = "/proc") -> List[Target]:
    """Move the calling process into every target (see the module docstring); return
    those joined (an optional one the group lacks is skipped; if that leaves nothing
    of a -g, the group is missing)."""
    alone = _threads(proc_root, "self") == 1
    return _move(targets, lambda target: "tasks" if alone and target.hierarchy.version == 1 else "cgroup.procs",
                 "0")


def move(pid: int, targets: Sequence[Target]) -> List[Target]:
    """Move process ``pid`` (all its threads) into every target; return those joined.
    ProcessGone if it exited."""
    return _move(targets, lambda target: "cgroup.procs", str(pid))


def _move(targets: Sequence[Target], file_of, text: str) -> List[Target]:
    joined = check(targets)  # nothing is written unless every group is there
    for target in joined:
        _write(CgroupFS(target.hierarchy), target, file_of(target), text)
    return joined


def check(targets: Sequence[Target]) -> List[Target]:
    """The targets to join, refusing now what the moves would fail on: a required group
    missing, a v2 controller not enabled for it. An optional target ("*", a mirror
    without systemd) the group lacks is left out, but a -g must leave something."""
    present = []
    for target in targets:
        fs = CgroupFS(target.hierarchy)
        if not fs.exists(target.path):
            if not target.optional:
                raise _missing(target)
            continue  # a group made by hand in some hierarchies only
        check_controllers(fs, target)
        present.append(target)
    for target in targets:
        if not target.mirror and not any(t.spec == target.spec and not t.mirror for t in present):
            raise _missing(target)
    return present


def frozen(targets: Sequence[Target]) -> Optional[Target]:
    """The first target whose group is frozen, itself or through an ancestor: cgroup v2's
    cgroup.events "frozen 1" (Linux 5.2+), v1's freezer.state (both the effective state:
    cgroup-v2.rst "cgroup.freeze", cgroup-v1/freezer-subsystem.rst). A process that
    joins it stops at once: exec would hang before running its command."""
    for target in targets:
        fs = CgroupFS(target.hierarchy)
        try:
            if target.hierarchy.version == 2:
                if "frozen 1" in fs.read(target.path, "cgroup.events").splitlines():
                    return target
            elif "freezer" in target.hierarchy.controllers:
                if fs.read(target.path, "freezer.state").strip() != "THAWED":
                    return target
        except KernelError:
            continue  # missing, or an older kernel without the file: check() decides
    return None


def populated(targets: Sequence[Target]) -> bool:
    """Is any process in these groups or below them? cgroup v2 says it in cgroup.events
    ("populated 1"); on v1 a group's own cgroup.procs (the groups cgman makes from
    templates, which this is for, have no child groups)."""
    for target in targets:
        fs = CgroupFS(target.hierarchy)
        try:
            if target.hierarchy.version == 2:
                if "populated 1" in fs.read(target.path, "cgroup.events").splitlines():
                    return True
            elif fs.read(target.path, "cgroup.procs").strip():
                return True
        except KernelError:
            continue  # not in that hierarchy
    return False


def check_controllers(fs: CgroupFS, target: Target) -> None:
    """cgroup v2: a process in a group whose parent did not enable a controller for it is
    not under that controller (the write would succeed); refuse instead."""
    if not target.v2_controllers:
        return
    try:
        enabled = set(fs.read(target.path, "cgroup.controllers").split())
    except CgroupGone:
        raise _missing(target) from None
    lacking = sorted(target.v2_controllers - enabled)
    if lacking:
        raise AttachError(f"the {' and '.join(lacking)} controller is not enabled for {target.path} "
                          f"(-g {target.spec}): its parent's cgroup.subtree_control lacks it",
                          reference="controller-not-enabled",
                          hint="declare the group with that controller in /etc/cgman, or name only "
                               "the controllers it has")


def _write(fs: CgroupFS, target: Target, file: str, text: str) -> None:
    try:
        fs.write(target.path, file, text)
    except CgroupGone:
        raise _missing(target) from None
    except ProcessGone:
        raise
    except KernelError as err:
        raise _refused(target, err) from None


def _missing(target: Target) -> AttachError:
    where = "any hierarchy" if target.optional and not target.mirror else f"the {target.hierarchy.key} hierarchy"
    return AttachError(f"no group {target.path} in {where} (-g {target.spec})",
                       reference="group-missing",
                       hint="declare it in /etc/cgman (cgman apply), or create it with cgman create")


def _refused(target: Target, err: KernelError) -> AttachError:
    where = f"{target.path} ({target.hierarchy.key}, -g {target.spec})"
    if err.errno == errno.EBUSY and target.hierarchy.version == 2:
        return AttachError(f"{where} has child groups with controllers enabled: on cgroup v2 processes "
                           "live only in leaf groups (the no-internal-process rule)",
                           reference="group-inner", hint="name one of its child groups")
    if err.errno in (errno.EACCES, errno.EPERM):
        return AttachError(f"permission denied: cannot move a process into {where}",
                           reference="permission-denied", hint="run as root")
    if err.errno == errno.EINVAL and target.hierarchy.version == 1 and "cpu" in target.hierarchy.controllers:
        return AttachError(f"the kernel refused to move a process into {where} (EINVAL): a realtime "
                           "process needs cpu.rt_runtime_us > 0 there", reference="attach-refused")
    return AttachError(f"cannot move a process into {where}: {err.message}", reference="attach-refused")


def _threads(proc_root: str, pid: str) -> int:
    try:
        return len(os.listdir(f"{proc_root}/{pid}/task"))
    except OSError:
        return 0  # unknown: move the whole process


def cgroups_of(pid: "int | str", proc_root: str = "/proc") -> Dict[str, str]:
    """Hierarchy key ("unified", "cpu,cpuacct", "name=systemd") -> cgroup path, from
    /proc/PID/cgroup. ProcessGone if the process is gone."""
    path = f"{proc_root}/{pid}/cgroup"
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError as err:
        raise ProcessGone("read", path, err.errno or 0, f"process {pid} is gone") from None
    out = {}
    for line in text.splitlines():
        _id, _, rest = line.partition(":")
        names, _, cgroup = rest.partition(":")
        out[hierarchy_key(names)] = cgroup
    return out


def hierarchy_key(names: str) -> str:
    """The hierarchy key (Hierarchy.key) of a /proc/PID/cgroup line's controller list."""
    key = _KEYS.get(names)
    if key is None:  # a handful of distinct lines, read thousands of times by the rules engine
        key = _KEYS[names] = _hierarchy_key(names)
    return key


_KEYS: Dict[str, str] = {}


def _hierarchy_key(names: str) -> str:
    if not names:
        return "unified"
    parts = names.split(",")
    named = [p for p in parts if p.startswith("name=")]
    return named[0] if named else ",".join(sorted(parts))


def misplaced(pid: "int | str", targets: Sequence[Target], proc_root: str = "/proc") -> List[Target]:
    """The targets the process is not in (as /proc/PID/cgroup shows it)."""
    where = cgroups_of(pid, proc_root)
    out = []
    for target in targets:
        root = target.hierarchy.root.rstrip("/")
        expected = (root + target.path) if target.path != "/" else (root or "/")
        if where.get(target.hierarchy.key) != expected:
            out.append(target)
    return out
