"""What exec and classify ask of cgmand: placing an unprivileged caller's processes
(place.sock) and recording sticky marks (control.sock), with what to do when no
cgmand runs. Protocol: cgmand/control.py."""

from __future__ import annotations

import os
import sys
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import List, Optional, Sequence, Tuple

    from cgmand.roots import Roots

from cgmand.kernel.attach import AttachError

NO_DAEMON_HINT = ("an unprivileged user is placed by cgmand, into a group whose perm.task names the user "
                  "or one of their groups; cgmand is not running")


def running(roots: Roots) -> bool:
    from cgmand import control

    return os.path.exists(control.path(roots.run_root, control.PLACE[0]))


def place(roots: Roots, groups: Sequence[str], pids: Optional[List[int]], sticky: Optional[bool]) -> Optional[dict]:
    """Ask cgmand to place ``pids`` (None: this process) into the groups; its answer
    ({"placed": [...], "problems": [...]}), or None when no cgmand listens. Raises
    AttachError when it refuses the request."""
    from cgmand import control

    try:
        answer = control.ask(roots.run_root, "place", name=control.PLACE[0], groups=list(groups),
                             pids=pids, sticky=sticky)
    except OSError as err:
        raise AttachError(f"cannot reach cgmand at {control.path(roots.run_root, control.PLACE[0])}: "
                          f"{err.strerror or err}", reference="permission-denied") from None
    if answer is None:
        return None
    if not answer.get("ok"):
        raise AttachError(answer.get("error", "cgmand refused"), reference=answer.get("reference") or
                          "permission-denied")
    return answer


def record_sticky(roots: Roots, identities: Sequence[Tuple[int, int]], group: str, sticky: bool) -> None:
    """Root's --sticky and --cancel-sticky: tell cgmand, or change its file when none runs
    (it reads the file when it starts)."""
    import time

    from cgmand import control, placement

    rows = [list(identity) for identity in identities]
    try:
        answer = control.ask(roots.run_root, "sticky", timeout=30, pids=rows, group=group, sticky=sticky)
        if answer is None:
            placement.mark(roots, identities, group, sticky, time.time())
        elif not answer.get("ok"):
            raise OSError(answer.get("error", "cgmand refused"))
    except (OSError, ValueError) as err:  # ValueError: an answer that is not JSON
        warn(f"the sticky mark was not recorded: {err}")


def warn(message: str) -> None:
    print(f"cgman: warning: {message}", file=sys.stderr)
