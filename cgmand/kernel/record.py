"""The record of cgroups cgman created, and the lock that serialises writers.

cgman removes only cgroups it created. The record lives in
<run_root>/cgman/created.json: /run has the lifetime of the cgroups themselves
(both vanish at reboot), so the record can never outlive what it describes.
Losing it is safe: cgman then keeps groups it would have removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Dict, Iterable, Iterator, Set, Tuple

from cgmand.errors import ExitCode, HostError
from cgmand.kernel.runfiles import write_atomically

VERSION = 1


def _dir(run_root: str) -> str:
    return os.path.join(run_root, "cgman")


def load(run_root: str) -> Dict[str, Set[str]]:
    """hierarchy key -> created cgroup paths; empty if there is no record."""
    path = os.path.join(_dir(run_root), "created.json")
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise _unreadable(path, str(err)) from err
    if not isinstance(data, dict):
        raise _unreadable(path, f"expected a JSON object, found {type(data).__name__}")
    if data.get("version") != VERSION:
        return {}
    created = data.get("created", {})
    if not isinstance(created, dict) or not all(
            isinstance(paths, list) and all(_is_cgroup_path(p) for p in paths) for paths in created.values()):
        raise _unreadable(path, '"created" must map hierarchies to lists of absolute cgroup paths')
    return {key: set(paths) for key, paths in created.items()}


def _is_cgroup_path(path: object) -> bool:
    # A path that climbs out of the hierarchy would make rmdir act outside it.
    return isinstance(path, str) and path.startswith("/") and ".." not in path.split("/")


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


def save(run_root: str, created: Dict[str, Set[str]]) -> None:
    """Replace the record atomically (write, fsync, rename)."""
    body = {"version": VERSION, "created": {k: sorted(v) for k, v in sorted(created.items()) if v}}
    write_atomically(os.path.join(_dir(run_root), "created.json"),
                     json.dumps(body, separators=(",", ":")).encode(), 0o644)


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
