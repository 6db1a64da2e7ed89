"""The cgroup controllers: canonical names, their v1 subsystem and v2 controller names.

Apart from knobs.py (the knob catalogue) so that the host model, and with it
`cgman exec`, loads without the value types and their regexes.

Pure module: no I/O.
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Dict

# A controller (a namedtuple: importing dataclasses costs start-up time):
#   v1: Optional[str] -- v1 subsystem name, None when v1 has none
#   v2: Optional[str] -- v2 controller name; None when v2 needs none (core) or has none
#   v2_refusal: Optional[str] = None -- why v2 cannot honour it, when it cannot
Controller = namedtuple("Controller", "v1 v2 v2_refusal", defaults=(None,))


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
