"""Where a process may be taken from by a rule: the origin policy (pure).

Moving a process out of a systemd service takes it away from its unit's stop,
kill, accounting and limits; out of a user manager (user@UID.service) or a
container, from whoever manages that tree. So by default the rules engine
takes processes only from

* a login session (systemd: ``/user.slice/user-UID.slice/session-N.scope``),
* cgman's own tree,
* anywhere at all when systemd is not PID 1, except containers (a pid
  namespace other than PID 1's): nothing else claims those processes.

A rule lists what else it may take from in ``origins``: "services",
"user-managers", "containers", "delegated" (any other cgroup under systemd:
a delegated unit, a machine, a slice's own processes), or "anywhere". Never
moved, whatever a rule says: PID 1, kernel threads, and cgmand itself (the
engine checks those before asking here).
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Sequence

SESSION = re.compile(r"^/user\.slice/user-\d+\.slice/session-[^/]+\.scope(/.*)?$")
USER_MANAGER = re.compile(r"^/user\.slice/user-\d+\.slice/user@\d+\.service(/.*)?$")
SERVICE = re.compile(r"^/(.*/)?[^/]+\.service(/.*)?$")


def origin(cgroup: str, base: str, systemd: bool, container: bool) -> str:
    """What kind of place the process is in: "cgman", "session", "containers",
    "user-managers", "services", "delegated", or "free" (no systemd)."""
    base = base.rstrip("/") or "/"
    if base != "/" and (cgroup == base or cgroup.startswith(base + "/")):
        return "cgman"
    if container:
        return "containers"
    if not systemd:
        return "free"
    if SESSION.match(cgroup):
        return "session"
    if USER_MANAGER.match(cgroup):
        return "user-managers"
    if SERVICE.match(cgroup):
        return "services"
    return "delegated"


DEFAULT = ("cgman", "session", "free")


def allowed(kind: str, extra: Sequence[str]) -> bool:
    """May a rule whose ``origins`` are ``extra`` take a process from a place of ``kind``?"""
    return kind in DEFAULT or "anywhere" in extra or kind in extra
