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
    from typing import Dict, Iterator, Set

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
        raise HostError(f"cannot read cgman's record {path}: {err}", reference="record-unreadable",
                        hint="remove the file: cgman will then keep (not remove) groups it made") from err
    if data.get("version") != VERSION:
        return {}
    return {key: set(paths) for key, paths in data.get("created", {}).items()}


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
