"""The cgroup controllers: canonical names, their v1 subsystem and v2 controller names.

Apart from knobs.py (the knob catalogue) so that the host model, and with it
`cgman exec`, loads without the value types and their regexes; with the rules
that say which hierarchy serves a controller.

Pure module: no I/O.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Dict, Iterable, Optional, Sequence, TypeVar

    H = TypeVar("H")  # a hierarchy: hierarchy.Hierarchy, or kernel/execview.Place

class Controller:
    """A plain class, not a namedtuple: `cgman exec` loads this module, and importing
    collections costs it ~3 ms."""

    __slots__ = ("v1", "v2", "v2_refusal")

    def __init__(self, v1: Optional[str], v2: Optional[str], v2_refusal: Optional[str] = None):
        self.v1 = v1  # v1 subsystem name, None when v1 has none
        self.v2 = v2  # v2 controller name; None when v2 needs none (core) or has none
        self.v2_refusal = v2_refusal  # why v2 cannot honour it, when it cannot

    def __repr__(self) -> str:
        return f"Controller({self.v1!r}, {self.v2!r}, {self.v2_refusal!r})"


CONTROLLERS: Dict[str, Controller] = {
    "cpu": Controller("cpu", "cpu"),
    "cpuacct": Controller("cpuacct", None),  # v2 accounts CPU in core cpu.stat
    "cpuset": Controller("cpuset", "cpuset"),
    "memory": Controller("memory", "memory"),
    "io": Controller("blkio", "io"),
    "pids": Controller("pids", "pids"),
    "hugetlb": Controller("hugetlb", "hugetlb"),
    "rdma": Controller("rdma", "rdma"),
    "misc": Controller("misc", "misc"),
    "perf_event": Controller("perf_event", None),  # implicit on v2: never in cgroup.controllers
    "freezer": Controller("freezer", None),  # v2 freezes through core cgroup.freeze
    "devices": Controller("devices", None, "cgroup v2 controls devices with eBPF only"),
    "net_cls": Controller("net_cls", None, "cgroup v2 has no net_cls; match cgroup paths in nftables"),
    "net_prio": Controller("net_prio", None, "cgroup v2 has no net_prio"),
}
# Spellings accepted as controller names in the config: v1 names map to canonical ones.
CONTROLLER_ALIASES = {"blkio": "io"}
CONTROLLER_ALIASES.update({name: name for name in CONTROLLERS})

# What a hierarchy is for, shared by the host model (hierarchy.Host) and the
# view cgman exec keeps (kernel/execview.py): anything with version,
# controllers (canonical names) and name.


def hierarchy_key(version: int, controllers: Iterable[str], name: Optional[str]) -> str:
    """Stable identity for state and messages: "unified", "cpu,cpuacct", "name=systemd"."""
    if version == 2:
        return "unified"
    if name:
        return f"name={name}"
    return ",".join(sorted(CONTROLLERS[c].v1 or c for c in controllers))


def home(hierarchies: Sequence[H], controller: str) -> Optional[H]:
    """The hierarchy that serves a canonical controller, or None if none does: its v1
    hierarchy, else the cgroup2 one if it offers it (or v2 needs no controller for it)."""
    for hierarchy in hierarchies:
        if hierarchy.version == 1 and controller in hierarchy.controllers:
            return hierarchy
    unified = next((h for h in hierarchies if h.version == 2), None)
    ctl = CONTROLLERS[controller]
    if unified is not None and (ctl.v2 in unified.controllers or (ctl.v2 is None and not ctl.v2_refusal)):
        return unified
    return None


def mirrors(hierarchies: Sequence[H], systemd: bool) -> Sequence[H]:
    """Hierarchies every group exists in, whatever its controllers: the cgroup2 mount
    always (on hybrid hosts it gives cgroup.events, kill, freeze and PSI, as systemd
    does); and systemd's name=systemd tracking hierarchy when systemd is PID 1, or
    systemd moves processes back (research/systemd-v2.md §1.8)."""
    out = [h for h in hierarchies if h.version == 2]
    if systemd:
        out += [h for h in hierarchies if h.name == "systemd"]
    return tuple(out)
