"""`cgman status`: each managed group's settings as the kernel has them, with usage."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Dict, List, Optional, Sequence, Set

from cgmand.errors import KernelError
from cgmand.hierarchy.layout import GROUP, Layout
from cgmand.kernel.cgroupfs import CgroupFS
from cgmand.model import join
from cgmand.values import ValueProblem


# Plain classes with __slots__, not dataclasses: importing dataclasses costs
# ~14 ms of every command's start-up (docs/decisions.md).


class SettingStatus:
    __slots__ = ("key", "file", "hierarchy", "desired", "actual", "in_sync")

    def __init__(self, key: str, file: str, hierarchy: str, desired: str, actual: Optional[str], in_sync: bool):
        self.key = key  # config key
        self.file = file  # kernel file
        self.hierarchy = hierarchy
        self.desired = desired
        self.actual = actual  # None: missing
        self.in_sync = in_sync

    def as_dict(self) -> dict:
        return {"key": self.key, "file": self.file, "hierarchy": self.hierarchy, "desired": self.desired,
                "actual": self.actual, "in_sync": self.in_sync}


class GroupStatus:
    __slots__ = ("name", "path", "present", "missing", "processes", "memory_bytes", "cpu_usec", "tasks",
                 "settings", "in_config")

    def __init__(self, name: str, path: str, present: Optional[List[str]] = None,
                 missing: Optional[List[str]] = None, processes: int = 0, memory_bytes: Optional[int] = None,
                 cpu_usec: Optional[int] = None, tasks: Optional[int] = None,
                 settings: Optional[List[SettingStatus]] = None, in_config: bool = True):
        self.name = name
        self.path = path
        self.present = [] if present is None else present  # hierarchies it exists in
        self.missing = [] if missing is None else missing
        self.processes = processes
        self.memory_bytes = memory_bytes
        self.cpu_usec = cpu_usec
        self.tasks = tasks
        self.settings = [] if settings is None else settings
        self.in_config = in_config

    @property
    def in_sync(self) -> bool:
        return self.in_config and not self.missing and all(s.in_sync for s in self.settings)

    def as_dict(self) -> dict:
        """Every field, in order, then in_sync (lists copied: the result shares nothing)."""
        return {"name": self.name, "path": self.path, "present": list(self.present),
                "missing": list(self.missing), "processes": self.processes, "memory_bytes": self.memory_bytes,
                "cpu_usec": self.cpu_usec, "tasks": self.tasks,
                "settings": [s.as_dict() for s in self.settings], "in_config": self.in_config,
                "in_sync": self.in_sync}


def collect(layout: Layout, fss: Dict[str, CgroupFS], record: Dict[str, Set[str]],
            order: Sequence[str] = ()) -> List[GroupStatus]:
    """Each configured group (in ``order``, the config's), then groups kept after leaving it."""
    groups: Dict[str, GroupStatus] = {}
    pids: Dict[str, Set[int]] = {}
    for target in layout.targets:
        fs = fss[target.hierarchy.key]
        for node in target.nodes.values():
            if node.kind != GROUP:
                continue
            status = groups.setdefault(node.group, GroupStatus(node.group, node.path))
            if not fs.exists(node.path):
                status.missing.append(fs.hierarchy.key)
                continue
            status.present.append(fs.hierarchy.key)
            pids.setdefault(node.group, set()).update(_quiet(lambda: fs.pids(node.path)) or [])
            for setting in node.settings:
                if not setting.inherit:
                    status.settings.append(_setting(fs, node.path, setting))
            _usage(status, fs, node.path)
    for name, found in pids.items():
        groups[name].processes = len(found)
    ordered = sorted(groups.values(), key=lambda g: order.index(g.name) if g.name in order else len(order))
    return ordered + _leftovers(layout, fss, record)


def _setting(fs: CgroupFS, path: str, setting) -> SettingStatus:
    text = _quiet(lambda: fs.read_if_present(path, setting.file))
    actual = None
    if text is not None:
        try:
            actual = setting.vtype.render(setting.vtype.read(text))
        except ValueProblem:
            actual = text.strip()
    in_sync = text is not None and not setting.vtype.writes(setting.value, text)
    return SettingStatus(setting.source, setting.file, fs.hierarchy.key, setting.vtype.render(setting.value),
                         actual, in_sync)


def _usage(status: GroupStatus, fs: CgroupFS, path: str) -> None:
    hierarchy = fs.hierarchy
    if "memory" in hierarchy.controllers:
        text = _quiet(lambda: fs.read(path, hierarchy.flavour.memory_usage))
        status.memory_bytes = int(text) if text and text.strip().isdigit() else status.memory_bytes
    if "pids" in hierarchy.controllers:
        text = _quiet(lambda: fs.read(path, "pids.current"))
        status.tasks = int(text) if text and text.strip().isdigit() else status.tasks
    if hierarchy.version == 2:  # cpu.stat's usage_usec is core on v2: always there
        text = _quiet(lambda: fs.read(path, "cpu.stat")) or ""
        for line in text.splitlines():
            if line.startswith("usage_usec "):
                status.cpu_usec = int(line.split()[1])
    elif "cpuacct" in hierarchy.controllers:
        text = _quiet(lambda: fs.read(path, "cpuacct.usage"))
        status.cpu_usec = int(text) // 1000 if text and text.strip().isdigit() else status.cpu_usec


def _leftovers(layout: Layout, fss: Dict[str, CgroupFS], record: Dict[str, Set[str]]) -> List[GroupStatus]:
    """Groups cgman created that left the config but still exist (kept: not empty)."""
    base = layout.host.base
    wanted = {path for t in layout.targets for path in t.nodes}
    out: Dict[str, GroupStatus] = {}
    for key, paths in record.items():
        fs = fss.get(key)
        for path in sorted(paths - wanted):
            if fs is None or not (path.startswith(base.rstrip("/") + "/")) or not fs.exists(path):
                continue
            name = path[len(base.rstrip("/")) + 1:]
            status = out.setdefault(name, GroupStatus(name, join(base, name), in_config=False))
            status.present.append(key)
            status.processes = max(status.processes, len(_quiet(lambda: fs.pids(path)) or []))
    return list(out.values())


def _quiet(read):
    try:
        return read()
    except KernelError:
        return None
