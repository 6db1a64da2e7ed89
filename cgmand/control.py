"""The daemon's control socket: `cgman reload` and `cgman status` talk to a running cgmand.

<run_root>/cgman/control.sock, a Unix stream socket that only root may use
(mode 0600 in a 0755 directory). One JSON object per line each way:
{"command": "reload"} waits for the reload and answers with its outcome;
{"command": "status"} answers with the daemon's state. Later verbs (exec,
classify) extend the same protocol.
"""

from __future__ import annotations

import json
import os
import socket
import threading
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Any, Callable, Optional

COMMANDS = ("reload", "status")
REPLY_TIMEOUT = 600.0  # a reload of thousands of groups takes about a second


def path(run_root: str) -> str:
    return os.path.join(run_root, "cgman", "control.sock")


class ControlServer:
    """Accepts connections on a thread; each request becomes an event on the daemon's queue,
    answered through a callback when the loop has handled it."""

    def __init__(self, run_root: str, events: Any, state: Callable[[], dict]):
        self.events = events
        self.address = path(run_root)
        os.makedirs(os.path.dirname(self.address), mode=0o755, exist_ok=True)
        if os.path.exists(self.address):
            os.unlink(self.address)  # left by a daemon that did not stop cleanly
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # created 0600: root-only before anyone can connect
        try:
            self.sock.bind(self.address)
        finally:
            os.umask(old)
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, name="control", daemon=True)
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
            try:
                request = json.loads(conn.makefile("r", encoding="utf-8").readline() or "{}")
            except (OSError, ValueError):
                return
            command = request.get("command") if isinstance(request, dict) else None
            if command not in COMMANDS:
                _send(conn, {"ok": False, "error": f"unknown command {command!r}; expected one of "
                                                   f"{', '.join(COMMANDS)}"})
                return
            done = threading.Event()
            answer: dict = {}

            def reply(outcome: dict) -> None:
                answer.update(outcome)
                done.set()

            self.events.put((command, reply))
            if done.wait(REPLY_TIMEOUT):
                _send(conn, dict(answer, ok=True))
            else:
                _send(conn, {"ok": False, "error": "the daemon did not answer in time"})

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


def ask(run_root: str, command: str, timeout: float = REPLY_TIMEOUT) -> Optional[dict]:
    """Send a command to the running daemon; None if none is listening."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path(run_root))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    with sock:
        sock.sendall(json.dumps({"command": command}).encode() + b"\n")
        line = sock.makefile("r", encoding="utf-8").readline()
    return json.loads(line) if line else None
