"""The record of what cgman made, and the lock that serialises writers.

cgman removes only cgroups it created, and puts back to their defaults only
files it set. The record lives in <run_root>/cgman/created.json: /run has
the lifetime of the cgroups themselves (both vanish at reboot), so the record
can never outlive what it describes. Losing it is safe: cgman then keeps
groups it would have removed, and values whose keys left the configuration.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections import namedtuple
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Dict, Iterable, Iterator, Set, Tuple

from cgmand.errors import ExitCode, HostError
from cgmand.kernel.runfiles import stamp, write_atomically

VERSION = 1


def _dir(run_root: str) -> str:
    return os.path.join(run_root, "cgman")


#   created: Dict[str, Set[str]] -- hierarchy key -> cgroup paths cgman created
#   managed: Dict[str, Dict[str, FrozenSet[str]]] -- hierarchy key -> cgroup path -> files cgman set
Record = namedtuple("Record", "created managed")


# path -> (stamp, record) of what this process last read or wrote there. cgmand
# loads the record on every edit, and validating 3000 entries costs ~10 ms of
# an edit's 100 ms budget; the file is replaced by rename on every save, so a
# new inode and times tell any writer's change apart.
_known: Dict[str, Tuple[Tuple[int, ...], Record]] = {}


def load(run_root: str) -> Record:
    """What cgman created and set; empty if there is no record. Yours to change."""
    path = os.path.join(_dir(run_root), "created.json")
    seen = stamp(path)
    known = _known.get(path)
    if seen is not None and known is not None and known[0] == seen:
        return _copy(known[1])
    loaded = _read(path)
    if seen is not None:  # if it was replaced since stat(), the next load sees a new stamp
        _known[path] = (seen, _copy(loaded))
    return loaded


def _copy(record: Record) -> Record:
    return Record({key: set(paths) for key, paths in record.created.items()},
                  {key: dict(cgroups) for key, cgroups in record.managed.items()})


def _read(path: str) -> Record:
    import json  # not at the top: apply's fast path takes the lock but never reads the record

    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return Record({}, {})
    except (OSError, ValueError) as err:
        raise _unreadable(path, str(err)) from err
    if not isinstance(data, dict):
        raise _unreadable(path, f"expected a JSON object, found {type(data).__name__}")
    if data.get("version") != VERSION:
        return Record({}, {})
    created = data.get("created", {})
    if not isinstance(created, dict) or not all(
            isinstance(paths, list) and all(_is_cgroup_path(p) for p in paths) for paths in created.values()):
        raise _unreadable(path, '"created" must map hierarchies to lists of absolute cgroup paths')
    managed = data.get("managed", {})
    if not isinstance(managed, dict) or not all(
            isinstance(cgroups, dict) and all(
                _is_cgroup_path(p) and isinstance(files, list) and all(_is_file_name(f) for f in files)
                for p, files in cgroups.items())
            for cgroups in managed.values()):
        raise _unreadable(path, '"managed" must map hierarchies to cgroup paths to lists of file names')
    return Record({key: set(paths) for key, paths in created.items()},
                  {key: {p: frozenset(files) for p, files in cgroups.items()} for key, cgroups in managed.items()})


def _is_cgroup_path(path: object) -> bool:
    # A path that climbs out of the hierarchy would make rmdir act outside it.
    return isinstance(path, str) and path.startswith("/") and ".." not in path.split("/")


def _is_file_name(name: object) -> bool:
    return isinstance(name, str) and bool(name) and "/" not in name and name not in (".", "..")


def _unreadable(path: str, why: str) -> HostError:
    return HostError(f"cannot read cgman's record {path}: {why}", reference="record-unreadable",
                     hint="remove the file: cgman will then keep (not remove) groups it made")


def forget_vanished(created: Dict[str, Set[str]], gone: Iterable[Tuple[str, str]]) -> bool:
    """Drop (hierarchy, path) entries whose cgroup no longer exists; True if any was dropped.

    Someone else may create the same path later: it is theirs, and an old
    entry must not make cgman remove it.
    """
    changed = False
    for key, path in gone:
        paths = created.get(key)
        if paths is not None and path in paths:
            paths.discard(path)
            changed = True
    return changed


def save(run_root: str, record: Record) -> None:
    """Replace the record atomically (write, fsync, rename)."""
    import json

    body = {"version": VERSION,
            "created": {k: sorted(v) for k, v in sorted(record.created.items()) if v},
            "managed": {k: {p: sorted(files) for p, files in sorted(cgroups.items())}
                        for k, cgroups in sorted(record.managed.items()) if cgroups}}
    path = os.path.join(_dir(run_root), "created.json")
    write_atomically(path, json.dumps(body, separators=(",", ":")).encode(), 0o644)
    _known.pop(path, None)
    saved = stamp(path)  # under the apply lock: no other writer in between
    if saved is not None:  # as load() would return it: without empty entries
        _known[path] = (saved, _copy(Record({k: v for k, v in record.created.items() if v},
                                            {k: c for k, c in record.managed.items() if c})))


@contextlib.contextmanager
def locked(run_root: str) -> Iterator[None]:
    """Hold cgman's apply lock: one writer at a time (CLI or daemon)."""
    directory = _dir(run_root)
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        fd = os.open(os.path.join(directory, "apply.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as err:
        problem = HostError(f"cannot create the lock in {directory}: {err.strerror}",
                            reference="lock-failed", hint="run as root, or pass --run-root")
        if isinstance(err, PermissionError):
            problem.exit_code = ExitCode.NOPERM
        raise problem from err
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
