"""The host model: which cgroup hierarchies are mounted, where, with which controllers.

Built by pure functions from the text of /proc/self/mountinfo, the cgroup2
root's cgroup.controllers and what systemd says (the I/O that gathers them is
in kernel/hostinfo.py). Never assumes /sys/fs/cgroup: old cgconfig setups
mount /cgroup/<ctrl> (research/systemd-v2.md §5).
"""

from __future__ import annotations

import os
from collections import namedtuple
from types import MappingProxyType
from functools import cached_property
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Dict, FrozenSet, List, Optional, Tuple

from cgmand.errors import HostError
from cgmand.hierarchy.flavour import Flavour, flavour_of
from cgmand.controllers import CONTROLLERS, hierarchy_key, home, mirrors

V1_NAMES = {ctl.v1: name for name, ctl in CONTROLLERS.items() if ctl.v1}
# v1 hierarchies systemd creates unit cgroups in (CGROUP_DELEGATION.md); the
# others (cpuset, freezer, net_cls, ...) are "up for grabs" and cgman creates
# the delegated unit's path there itself.
SYSTEMD_V1_MANAGED = frozenset({"cpu", "cpuacct", "io", "memory", "devices", "pids"})


# The records are namedtuples, not dataclasses: importing dataclasses costs
# ~14 ms of every command's start-up (docs/decisions.md).

# One cgroup line of mountinfo:
#   dev: str -- major:minor, identifies the hierarchy
#   root: str -- path inside the hierarchy that is mounted
#   mount_point: str
#   fstype: str -- "cgroup" or "cgroup2"
#   super_options: Tuple[str, ...]
Mount = namedtuple("Mount", "dev root mount_point fstype super_options")

#   version: int
#   mount_point: str
#   root: str
#   controllers: FrozenSet[str] -- canonical names (blkio is "io")
#   name: Optional[str] = None -- v1 named hierarchy, e.g. "systemd"
_HierarchyFields = namedtuple("Hierarchy", "version mount_point root controllers name", defaults=(None,))


class Hierarchy(_HierarchyFields):
    # A namedtuple (start-up cost, see above) with methods. No ``__slots__ = ()``:
    # instances keep a __dict__ so that ``key`` can be a cached_property. It is not
    # a field, so equality, hashing, repr and _replace see only the five above.

    @cached_property
    def key(self) -> str:
        """Stable identity for state and messages: "unified", "cpu,cpuacct", "name=systemd"."""
        return hierarchy_key(self.version, self.controllers, self.name)

    @property
    def flavour(self) -> Flavour:
        return flavour_of(self.version)

    def path(self, cgroup: str) -> str:
        """Filesystem path of a cgroup path (relative to this mount)."""
        return self.mount_point if cgroup == "/" else self.mount_point + cgroup


# What systemd told us about the delegated unit (None fields: unknown):
#   unit: str
#   control_group: str -- "" when the unit is not running
#   delegate: bool
Systemd = namedtuple("Systemd", "unit control_group delegate")

#   hierarchies: Tuple[Hierarchy, ...]
#   base: str -- cgroup path below which cgman's groups live
#   page_size: int = 4096
#   systemd: Optional[Systemd] = None
#   delegated_controllers: Optional[FrozenSet[str]] = None -- v2 under systemd: base's cgroup.controllers
#   warnings: Tuple[str, ...] = ()
#   offered: Mapping[str, FrozenSet[str]] = {} -- v1 hierarchy key -> the interface files a child
#     cgroup has there (absent: unknown); knobs the running kernel lacks are refused at check time
_HostFields = namedtuple("Host", "hierarchies base page_size systemd delegated_controllers warnings offered",
                         defaults=(4096, None, None, (), MappingProxyType({})))


class Host(_HostFields):
    __slots__ = ()  # a namedtuple (start-up cost, see above) with methods

    @property
    def unified(self) -> Optional[Hierarchy]:
        return next((h for h in self.hierarchies if h.version == 2), None)

    @property
    def layout(self) -> str:
        v1 = [h for h in self.hierarchies if h.version == 1 and h.controllers]
        if self.unified is None:
            return "legacy"
        if not v1:
            return "unified"
        return "mixed" if self.unified.controllers else "hybrid"

    def home(self, controller: str) -> Optional[Hierarchy]:
        """The hierarchy that serves a canonical controller, or None (controllers.home)."""
        return home(self.hierarchies, controller)

    def mirrors(self) -> Tuple[Hierarchy, ...]:
        """Hierarchies every group exists in, whatever its controllers (controllers.mirrors)."""
        return tuple(mirrors(self.hierarchies, self.systemd is not None))

    def describe(self) -> Dict[str, object]:
        return {
            "layout": self.layout,
            "base": self.base,
            "systemd": None if self.systemd is None else {
                "unit": self.systemd.unit, "control_group": self.systemd.control_group},
            "hierarchies": [
                {"key": h.key, "version": h.version, "mount_point": h.mount_point,
                 "controllers": sorted(h.controllers)}
                for h in self.hierarchies
            ],
        }


def _unescape(text: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \040 \011 \012 \134.
    out, i = [], 0
    while i < len(text):
        code = text[i + 1:i + 4]
        if text[i] == "\\" and len(code) == 3 and all(c in "01234567" for c in code):
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> List[Mount]:
    """The cgroup and cgroup2 mounts, one per hierarchy (bind mounts deduplicated)."""
    mounts: Dict[str, Mount] = {}
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 6 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        mount = Mount(fields[2], _unescape(fields[3]), _unescape(fields[4]), tail[0],
                      tuple(tail[2].split(",")))
        known = mounts.get(mount.dev)
        # Keep the mount of the hierarchy's own root when a subtree is bind-mounted too.
        if known is None or (known.root != "/" and mount.root == "/"):
            mounts[mount.dev] = mount
    return list(mounts.values())


def to_hierarchy(mount: Mount, v2_controllers: str = "") -> Optional[Hierarchy]:
    if mount.fstype == "cgroup2":
        names = frozenset(v2_controllers.split())
        return Hierarchy(2, mount.mount_point, mount.root, names)
    controllers = frozenset(V1_NAMES[o] for o in mount.super_options if o in V1_NAMES)
    name = next((o[5:] for o in mount.super_options if o.startswith("name=")), None)
    if not controllers and not name:
        return None
    return Hierarchy(1, mount.mount_point, mount.root, controllers, name)


def rebase(mounts: List[Mount], cgroup_root: Optional[str]) -> List[Mount]:
    """Move the mount points under ``cgroup_root`` (for fake trees and odd layouts).

    The cgroup mount points share a parent (normally /sys/fs/cgroup; a single
    cgroup2 mount is its own); --cgroup-root replaces that directory.
    """
    if not cgroup_root or not mounts:
        return mounts
    points = [m.mount_point for m in mounts]
    common = points[0] if len(points) == 1 else os.path.commonpath(points)
    return [m._replace(mount_point=os.path.normpath(cgroup_root + "/" + os.path.relpath(m.mount_point, common)))
            for m in mounts]


def build(hierarchies: List[Hierarchy], base: str, *, page_size: int = 4096,
          systemd: Optional[Systemd] = None, delegated: Optional[FrozenSet[str]] = None,
          root_set: bool = False, offered: Optional[Dict[str, FrozenSet[str]]] = None) -> Host:
    """Assemble the host model; refuse hosts cgman cannot manage."""
    if not hierarchies:
        raise HostError("no cgroup hierarchy is mounted (no cgroup or cgroup2 line in mountinfo)",
                        reference="no-cgroupfs", hint="mount cgroup2 on /sys/fs/cgroup")
    warnings = []
    if systemd is not None:
        if not systemd.control_group:
            raise HostError(
                f"systemd is PID 1 but {systemd.unit} is not running; cgman writes only below the "
                "cgroup systemd delegated to it", reference="delegated-unit-missing",
                hint=f"install cgman's units from systemd/ and run: systemctl start {systemd.unit}")
        if not systemd.delegate:
            raise HostError(f"{systemd.unit} runs in {systemd.control_group} but has no Delegate=yes; "
                            "cgman will not write into a cgroup systemd manages",
                            reference="delegated-unit-not-delegated",
                            hint="use the unit file shipped in systemd/, which sets Delegate=yes")
        if root_set:
            warnings.append(f"manager.root is ignored under systemd: groups live below {systemd.control_group}")
        base = _visible(systemd.control_group, hierarchies)
    return Host(tuple(hierarchies), base, page_size, systemd, delegated, tuple(warnings),
                MappingProxyType(dict(offered or {})))


def _visible(cgroup: str, hierarchies: List[Hierarchy]) -> str:
    """systemd names cgroups from the hierarchy's root; a mount may show only a subtree of it.

    The path below the mount is the cgroup path minus the mounted root; a cgroup
    outside that subtree cannot be reached (research/systemd-v2.md §5).
    """
    tracking = next((h for h in hierarchies if h.version == 2), None) or \
        next((h for h in hierarchies if h.name == "systemd"), None)
    root = tracking.root.rstrip("/") if tracking is not None else ""
    if not root:
        return cgroup
    if cgroup == root or cgroup.startswith(root + "/"):
        return cgroup[len(root):] or "/"
    raise HostError(f"the delegated cgroup {cgroup} is outside the cgroup subtree mounted here ({root})",
                    reference="delegated-unit-missing")

