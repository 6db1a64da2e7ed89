"""The last verified in-sync state, so an unchanged system is confirmed cheaply.

When a full plan finds nothing to do, every fact it read (each managed file's
exact text, the cgroup.controllers files host detection read, which cgroups
exist and which recorded ones do not) is saved with a key: the cgroup lines
of mountinfo, whether systemd is PID 1, the configuration's cache key,
cgman's record, and cgman's own code. (systemctl is not asked again: a
change in the unit's delegation shows in its cgroup's files.) The next
plan or apply first re-reads just those files: if the key and every text are
unchanged, the kernel is still exactly as verified and nothing needs doing.
Any difference at all, even one the full plan would call equal, means the
full plan. This turns an unchanged re-apply into little more than the reads
themselves (no parsing, layout or planning), and gives the daemon a cheap
drift check. Stored in <run_root>/cgman/snapshot as marshal data; only a file
this user owns and nobody else can write is trusted.
"""

from __future__ import annotations

import marshal
import os

from cgmand import configcache
from cgmand.kernel.pid1 import systemd_is_pid1
from cgmand.kernel.runfiles import read_trusted, stamp, write_atomically

FORMAT = 1
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

    from cgmand.roots import Roots


def _path(roots: Roots) -> str:
    return os.path.join(roots.run_root, "cgman", "snapshot")


def _code_stamps() -> tuple:
    """cgman's own sources: a new version may decide differently."""
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = []
    for directory in (top, os.path.join(top, "hierarchy"), os.path.join(top, "kernel")):
        for name in sorted(os.listdir(directory)):
            if name.endswith(".py"):
                st = os.stat(os.path.join(directory, name))
                out.append((name, st.st_size, st.st_mtime_ns))
    return tuple(out)


def key(roots: Roots) -> Optional[tuple]:
    """Everything besides the kernel files that the verdict depends on."""
    config = configcache.key(roots.config_dir)
    if config is None:
        return None
    try:
        with open(os.path.join(roots.proc_root, "self", "mountinfo"), encoding="utf-8",
                  errors="replace") as handle:
            mounts = tuple(line for line in handle if " - cgroup" in line)
    except OSError:
        return None
    systemd = systemd_is_pid1(roots.proc_root)
    record = stamp(os.path.join(roots.run_root, "cgman", "created.json"))
    return (FORMAT, config, mounts, roots.cgroup_root, systemd, record, _code_stamps())  # record: _RECORD


_RECORD = 5  # the record's place in key()
CONFIG = 1  # the configuration files' (configcache.key) place in key()


def save(roots: Roots, facts: List[tuple], outputs: Dict[str, Any], started: Optional[tuple],
         wrote_record: bool = False) -> bool:
    """Keep the facts of an in-sync system; False if they cannot be kept.

    ``started`` is key() taken before the configuration was loaded: if
    anything changed while the plan ran (a config file edited, say), the facts
    may answer an older question and are not kept. ``wrote_record``: the
    caller changed the record itself (apply, under the lock), so only that
    part of the key may differ.
    """
    if any(fact[0] == "x" for fact in facts):
        return False
    wanted = key(roots)
    if wanted is None or started is None:
        return False
    if wrote_record:
        started = started[:_RECORD] + wanted[_RECORD:_RECORD + 1] + started[_RECORD + 1:]
    if wanted != started or not configcache.settled(wanted[1]):  # a config file changed just now
        return False
    try:
        write_atomically(_path(roots), marshal.dumps((wanted, tuple(facts), outputs)))
    except (OSError, ValueError):
        return False
    return True


def verify(roots: Roots) -> Optional[Dict[str, Any]]:
    """The saved outputs if the system is still exactly as last verified, else None."""
    stored = _load(_path(roots))
    if stored is None or stored[0] != key(roots):
        return None
    facts = stored[1]
    # Existence facts come in bulk (every group's cgroup2 mirror): one listing
    # of each parent answers them instead of a stat each.
    listings: Dict[str, Any] = {}
    for fact in facts:
        if fact[0] == "f":
            if not _same_text(fact[1], fact[2]):
                return None
        elif _present(fact[1], listings) != (fact[0] == "d"):
            return None
    return stored[2]


def forget(roots: Roots) -> None:
    """Drop the snapshot (after a change: the next run plans in full)."""
    try:
        os.unlink(_path(roots))
    except OSError:
        pass


def _same_text(path: str, text: Optional[str]) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return text is None
    try:
        return os.read(fd, 65536).decode("utf-8", "replace") == text
    except OSError:
        return False
    finally:
        os.close(fd)


def _present(path: str, listings: Dict[str, Any]) -> bool:
    parent, name = os.path.split(path)
    if parent not in listings:
        try:
            with os.scandir(parent) as entries:
                listings[parent] = {e.name for e in entries if e.is_dir(follow_symlinks=False)}
        except OSError:
            listings[parent] = frozenset()
    return name in listings[parent]


def _load(path: str) -> Optional[list]:
    data = read_trusted(path)
    try:
        stored = None if data is None else marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        return None
    return list(stored) if isinstance(stored, tuple) and len(stored) == 3 else None
