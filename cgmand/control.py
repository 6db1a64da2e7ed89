"""The daemon's sockets: `cgman reload`, `status`, and the verbs that need cgmand.

Two Unix stream sockets under <run_root>/cgman, one JSON object per line each way:

* control.sock, root only (mode 0600): {"command": "reload"} waits for the
  reload and answers with its outcome; {"command": "status"} answers with the
  daemon's state; {"command": "sticky", "pids": [[PID, START], ...],
  "group": NAME, "sticky": true|false} marks processes sticky (or cancels it).
* place.sock, anyone (mode 0666): {"command": "place", "groups": [-g ...],
  "pids": [PID, ...] (default: the caller), "sticky": true|false|null}: cgmand
  places the processes for an unprivileged caller, authenticated by
  SO_PEERCRED, where policy allows it (cgmand/policy.py). The answer comes once
  they are placed, so the client checks /proc/self/cgroup and execs.

Each request becomes an event on the daemon's queue, answered when the loop
has handled it: requests never run alongside a reconcile.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Any, Optional

CONTROL = ("control.sock", 0o600, ("reload", "status", "sticky"))
PLACE = ("place.sock", 0o666, ("place",))
REPLY_TIMEOUT = 600.0  # a reload of thousands of groups takes about a second
MAX_REQUEST = 1 << 16  # a request is a few hundred bytes; anyone may write to place.sock


def path(run_root: str, name: str = CONTROL[0]) -> str:
    return os.path.join(run_root, "cgman", name)


class Request:
    """What the loop gets for a socket request: the request, who sent it (SO_PEERCRED:
    pid, uid, gid), and ``reply``, called once with the answer."""

    __slots__ = ("body", "peer", "_answer", "_done")

    def __init__(self, body: dict, peer: tuple):
        self.body, self.peer = body, peer
        self._answer: dict = {}
        self._done = threading.Event()

    def __call__(self, outcome: dict) -> None:
        self._answer = outcome
        self._done.set()

    def wait(self, timeout: float) -> Optional[dict]:
        return self._answer if self._done.wait(timeout) else None


class ControlServer:
    """Accepts connections on a thread; each request goes on the daemon's queue as
    (command, Request)."""

    def __init__(self, run_root: str, events: Any, kind: tuple = CONTROL):
        name, mode, self.commands = kind
        self.events = events
        self.address = path(run_root, name)
        os.makedirs(os.path.dirname(self.address), mode=0o755, exist_ok=True)
        if os.path.lexists(self.address):
            os.unlink(self.address)  # left by a daemon that did not stop cleanly
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o777 & ~mode)  # created with its mode before anyone can connect
        try:
            self.sock.bind(self.address)
        finally:
            os.umask(old)
        self.sock.listen(16)
        self.thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10.0)  # a client that connects and says nothing is let go
            try:
                peer = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                           struct.calcsize("3i")))
                line = conn.makefile("rb").readline(MAX_REQUEST)
                request = json.loads(line or b"{}")
            except (OSError, ValueError):
                return
            command = request.get("command") if isinstance(request, dict) else None
            if command not in self.commands:
                _send(conn, {"ok": False, "error": f"unknown command {command!r}; expected one of "
                                                   f"{', '.join(self.commands)}"})
                return
            pending = Request(request, peer)
            self.events.put((command, pending))
            answer = pending.wait(REPLY_TIMEOUT)
            if answer is None:
                _send(conn, {"ok": False, "error": "the daemon did not answer in time"})
            else:
                _send(conn, dict({"ok": True}, **answer))

    def close(self) -> None:
        try:
            self.sock.close()
            os.unlink(self.address)
        except OSError:
            pass


def _send(conn: socket.socket, message: dict) -> None:
    try:
        conn.sendall(json.dumps(message).encode() + b"\n")
    except OSError:
        pass  # the client went away


def ask(run_root: str, command: str, timeout: float = REPLY_TIMEOUT, name: str = CONTROL[0],
        **fields: Any) -> Optional[dict]:
    """Send a request to the running daemon; None if none is listening."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path(run_root, name))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    with sock:
        sock.sendall(json.dumps(dict(fields, command=command)).encode() + b"\n")
        line = sock.makefile("r", encoding="utf-8").readline()
    return json.loads(line) if line else None
