"""Gather the facts the host model is built from: mountinfo, cgroup.controllers, systemd."""

from __future__ import annotations

import os
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import FrozenSet, List, Optional

from cgmand.errors import HostError, KernelError
from cgmand.hierarchy import Host, Systemd, build, parse_mountinfo, rebase, to_hierarchy
from cgmand.kernel.cgroupfs import CgroupFS
from cgmand.kernel.pid1 import systemd_is_pid1
from cgmand.model import ManagerSpec
from cgmand.roots import Roots


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError as err:
        raise HostError(f"cannot read {path}: {err.strerror}", reference="host-unreadable") from err


def ask_systemd(unit: str) -> Systemd:
    """ControlGroup and Delegate of the payload unit, from systemctl (public API)."""
    import shutil  # imported here: only systemd hosts pay for it
    import subprocess

    systemctl = shutil.which("systemctl")
    if systemctl is None:
        raise HostError("systemd is PID 1 but systemctl is not on PATH", reference="systemctl-missing")
    try:
        done = subprocess.run([systemctl, "show", "--property=ControlGroup", "--property=Delegate", unit],
                              capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise HostError(f"cannot ask systemd about {unit}: {err}", reference="systemctl-failed") from err
    props = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    if done.returncode != 0 and not props:
        raise HostError(f"systemctl show {unit} failed: {done.stderr.strip()}", reference="systemctl-failed")
    return Systemd(unit, props.get("ControlGroup", ""), props.get("Delegate", "no") == "yes")


def detect(manager: ManagerSpec, roots: Roots, journal: Optional[List[tuple]] = None,
           offered: bool = True) -> Host:
    """The host model for this system (or the fake tree the roots point at).

    ``journal`` gets the kernel files read, as reconcile.observe() facts, so a
    snapshot also notices controllers that come or go. ``offered``: list the
    knobs each v1 hierarchy offers (what check and apply need; exec does not)."""
    journal = journal if journal is not None else []
    mountinfo = _read_text(os.path.join(roots.proc_root, "self", "mountinfo"))
    hierarchies = []
    for mount in rebase(parse_mountinfo(mountinfo), roots.cgroup_root):
        controllers = ""
        if mount.fstype == "cgroup2":
            path = os.path.join(mount.mount_point, "cgroup.controllers")
            controllers = _read_text(path)
            journal.append(("f", path, controllers))
        hierarchy = to_hierarchy(mount, controllers)
        if hierarchy is not None:
            hierarchies.append(hierarchy)
    systemd = ask_systemd(manager.systemd_unit) if systemd_is_pid1(roots.proc_root) else None
    delegated: Optional[FrozenSet[str]] = None
    unified = next((h for h in hierarchies if h.version == 2), None)
    if systemd is not None and systemd.control_group and unified is not None:
        fs = CgroupFS(unified)
        try:
            text = fs.read(systemd.control_group, "cgroup.controllers")
            journal.append(("f", fs.path(systemd.control_group, "cgroup.controllers"), text))
            delegated = frozenset(text.split())
        except KernelError as err:
            raise HostError(f"{systemd.unit}'s cgroup {systemd.control_group} is not readable: "
                            f"{err.message}", reference="delegated-unit-missing") from err
    return build(hierarchies, manager.root, page_size=os.sysconf("SC_PAGE_SIZE"), systemd=systemd,
                 delegated=delegated, root_set=manager.root_set,
                 offered={h.key: files for h in hierarchies if offered and h.version == 1
                          for files in [_child_files(h.mount_point)] if files is not None})


def _child_files(mount_point: str) -> Optional[FrozenSet[str]]:
    """The interface files of a v1 hierarchy's cgroups, from its first child cgroup.

    Not from the root: it lacks the files marked CFTYPE_NOT_ON_ROOT
    (pids.max, blkio.bfq.weight). Every child of a v1 hierarchy has the same
    files, so any one answers which knobs this kernel offers (blkio.weight went
    with CFQ in Linux 5.0; memsw needs swap accounting). None when the
    hierarchy has no child cgroup yet: unknown, and a missing file is then
    reported when apply writes it.
    """
    try:
        with os.scandir(mount_point) as entries:
            child = next((e.path for e in entries if e.is_dir(follow_symlinks=False)), None)
        if child is None:
            return None
        with os.scandir(child) as entries:
            return frozenset(e.name for e in entries if not e.is_dir(follow_symlinks=False))
    except OSError:
        return None
