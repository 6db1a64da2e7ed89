"""What `cgman exec` needs of the host, kept between runs in <run_root>/cgman/exec.view.

exec starts in scripts and loops, where the host model (hierarchy.Host: the
mounts, the cgroup2 controllers, cgman's base from the configuration and,
under systemd, from systemctl) costs more than the rest of the command. The
view is that model's part exec uses, as plain data (marshal), keyed by
everything it was built from: the cgroup lines of mountinfo, the cgroup2
root's cgroup.controllers, whether systemd is PID 1, and the configuration
files' names and stamps. Any difference, or a base that no longer exists,
means building the model again. Like cgman's other run files, it is read only
if this user owns it and nobody else can write it (kernel/runfiles.py).
"""

from __future__ import annotations

import marshal
import os
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Any, FrozenSet, Optional, Sequence, Tuple

    from cgmand.hierarchy import Host
    from cgmand.roots import Roots

from cgmand import controllers
from cgmand.kernel.runfiles import read_trusted, stamp, write_atomically

FORMAT = 1


class Place:
    """A hierarchy, as far as exec needs it (the attributes of hierarchy.Hierarchy)."""

    __slots__ = ("version", "mount_point", "root", "controllers", "name", "key")

    def __init__(self, version: int, mount_point: str, root: str, names: FrozenSet[str], name: Optional[str]):
        self.version = version
        self.mount_point = mount_point
        self.root = root
        self.controllers = names
        self.name = name
        self.key = controllers.hierarchy_key(version, names, name)

    def path(self, cgroup: str) -> str:
        return self.mount_point if cgroup == "/" else self.mount_point + cgroup


class View:
    """The host model's part exec uses: hierarchies, cgman's base, systemd or not."""

    __slots__ = ("hierarchies", "base", "systemd")

    def __init__(self, hierarchies: Sequence[Place], base: str, systemd: bool):
        self.hierarchies = tuple(hierarchies)
        self.base = base
        self.systemd = systemd or None  # as Host.systemd: None when systemd is not PID 1

    @property
    def unified(self) -> Optional[Place]:
        return next((h for h in self.hierarchies if h.version == 2), None)

    def home(self, controller: str) -> Optional[Place]:
        return controllers.home(self.hierarchies, controller)

    def mirrors(self) -> Sequence[Place]:
        return controllers.mirrors(self.hierarchies, bool(self.systemd))


def key(roots: Roots) -> Optional[Tuple[Any, ...]]:
    """What the view depends on; None if part of it cannot be read."""
    from cgmand.kernel.pid1 import systemd_is_pid1

    if roots.cgroup_root is not None:  # mounts moved elsewhere (fake trees): no view
        return None
    config = _files(roots.config_dir)
    try:
        with open(os.path.join(roots.proc_root, "self", "mountinfo"), encoding="utf-8",
                  errors="replace") as handle:
            # From the device on: mount ids change with every remount, the rest only
            # when something that matters does.
            mounts = tuple(line.split(" ", 2)[2] for line in handle if " - cgroup" in line)
    except (OSError, IndexError):
        return None
    v2 = ""
    for line in mounts:  # the cgroup2 root's controllers (enabling one on v2 takes it from v1)
        if " - cgroup2 " in line:
            try:
                with open(_unescape(line.split(" ", 3)[2]) + "/cgroup.controllers", encoding="utf-8") as handle:
                    v2 = handle.read()
            except (OSError, IndexError):
                return None
    if config is None:
        return None
    return (FORMAT, mounts, v2, systemd_is_pid1(roots.proc_root), config)


def _files(directory: str) -> Optional[Tuple[Any, ...]]:
    """The configuration files, by name and stamp: cgman's base comes from them. (Not
    configcache.key: the user database and cgman's code do not change the base, and
    each stat is start-up time; FORMAT covers this module's own changes.)"""
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".toml") and not n.startswith("."))
    except OSError:
        return None
    return (directory, tuple((n, stamp(os.path.join(directory, n))) for n in names))


def _settled(config: Tuple[Any, ...]) -> bool:
    """No configuration file changed in the last seconds: a file changed twice within one
    timestamp tick, keeping its size, would look unchanged (git's "racily clean" rule, as
    configcache.settled)."""
    import time

    from cgmand.configcache import SETTLE_NS

    recent = time.time_ns() - SETTLE_NS
    return all(stamp_ is None or stamp_[3] < recent for _name, stamp_ in config[1])


def _unescape(text: str) -> str:
    return text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def load(roots: Roots, wanted: Optional[Tuple[Any, ...]]) -> Optional[View]:
    """The kept view, if it was built from exactly ``wanted``."""
    if wanted is None:
        return None
    # Root's view serves everyone: a user's exec (placed by cgmand) cannot write its own
    # in /run/cgman, and would otherwise build the host model each time (~20 ms).
    data = read_trusted(_path(roots), root_too=True)
    try:
        stored, places, base, systemd = marshal.loads(data) if data else (None, (), "", False)
        view = View([Place(*p) for p in places], base, systemd)
    except (EOFError, ValueError, TypeError):
        return None
    if stored != wanted:
        return None
    if systemd and not all(os.path.isdir(h.path(base)) for h in view.mirrors()):
        return None  # the delegated unit moved (or stopped): ask systemd again
    return view


def save(roots: Roots, wanted: Optional[Tuple[Any, ...]], host: Host) -> View:
    """Keep the view of ``host`` (built from ``wanted``) for the next exec; return it."""
    places = tuple((h.version, h.mount_point, h.root, frozenset(h.controllers), h.name) for h in host.hierarchies)
    if wanted is not None and _settled(wanted[-1]):
        try:
            write_atomically(_path(roots), marshal.dumps((wanted, places, host.base, host.systemd is not None)),
                             mode=0o644)  # the mounts and the base: nothing /etc/cgman does not show
        except (OSError, ValueError):
            pass  # a view that cannot be kept (not root, read-only /run) only costs time
    return View([Place(*p) for p in places], host.base, host.systemd is not None)


def _path(roots: Roots) -> str:
    return os.path.join(roots.run_root, "cgman", "exec.view")
