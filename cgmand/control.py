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

import os
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    import socket
    from typing import Any, Optional

CONTROL = ("control.sock", 0o600, ("reload", "status", "sticky"))
PLACE = ("place.sock", 0o666, ("place",))
REPLY_TIMEOUT = 600.0  # a reload of thousands of groups takes about a second
MAX_REQUEST = 1 << 16  # a request is a few hundred bytes; anyone may write to place.sock


def path(run_root: str, name: str = CONTROL[0]) -> str:
    return os.path.join(run_root, "cgman", name)


class Request:
    """What the loop gets for a socket request: the request, who sent it (SO_PEERCRED:
    pid, uid, gid; SO_PEERGROUPS; the peer's start time, read when it connected), and
    ``reply``, called once with the answer."""

    __slots__ = ("body", "peer", "groups", "start", "_answer", "_done")

    def __init__(self, body: dict, peer: tuple, groups: tuple = (), start: Optional[int] = None):
        import threading

        self.body, self.peer, self.groups, self.start = body, peer, groups, start
        self._answer: dict = {}
        self._done = threading.Event()

    def __call__(self, outcome: dict) -> None:
        self._answer = outcome
        self._done.set()

    def wait(self, timeout: float) -> Optional[dict]:
        return self._answer if self._done.wait(timeout) else None


# place.sock is anyone's: what one client may hold of the daemon is bounded.
MAX_CLIENTS = 32  # connections served at once (each a thread); more are told to retry
READ_DEADLINE = 5.0  # seconds for a whole request line, however it trickles in
SO_PEERGROUPS = 59  # Linux 4.13+ (asm-generic/socket.h); Python's socket module lacks it


class ControlServer:
    """Accepts connections on a thread; each request goes on the daemon's queue as
    (command, Request)."""

    def __init__(self, run_root: str, events: Any, kind: tuple = CONTROL):
        import socket
        import threading

        name, mode, self.commands = kind
        self.events = events
        self.address = path(run_root, name)
        self.closed = False
        self.slots = threading.BoundedSemaphore(MAX_CLIENTS)
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
        import threading
        import time

        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                if self.closed:
                    return
                time.sleep(0.1)  # out of descriptors (EMFILE), say: the socket must outlive it
                continue
            if not self.slots.acquire(blocking=False):
                _send(conn, {"ok": False, "error": "cgmand is busy with other clients; try again"})
                conn.close()
                continue
            try:
                threading.Thread(target=self._answer, args=(conn,), daemon=True).start()
            except RuntimeError:  # no thread to be had
                conn.close()
                self.slots.release()

    def _answer(self, conn: socket.socket) -> None:
        try:
            with conn:
                self._handle(conn)
        finally:
            self.slots.release()

    def _handle(self, conn: socket.socket) -> None:
        import json
        import socket
        import struct

        try:
            peer = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                       struct.calcsize("3i")))
            groups = _peer_groups(conn)
            start = _start_time(peer[0])
            request = json.loads(_read_line(conn) or b"{}")
        except Exception:  # noqa: BLE001 - a gone or garbled client (bad JSON, too deep, too slow)
            return
        command = request.get("command") if isinstance(request, dict) else None
        if command not in self.commands:
            _send(conn, {"ok": False, "error": f"unknown command {command!r}; expected one of "
                                               f"{', '.join(self.commands)}"})
            return
        pending = Request(request, peer, groups, start)
        self.events.put((command, pending))
        answer = pending.wait(REPLY_TIMEOUT)
        if answer is None:
            _send(conn, {"ok": False, "error": "the daemon did not answer in time"})
        else:
            _send(conn, dict({"ok": True}, **answer))

    def close(self) -> None:
        import socket

        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        except OSError:
            pass
        try:
            self.sock.close()
            os.unlink(self.address)
        except OSError:
            pass


def _read_line(conn: socket.socket) -> bytes:
    """One request line, within READ_DEADLINE in all and MAX_REQUEST bytes."""
    import time

    deadline = time.monotonic() + READ_DEADLINE
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or len(data) > MAX_REQUEST:
            raise TimeoutError("request too slow or too long")
        conn.settimeout(left)
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0]


def _peer_groups(conn: socket.socket) -> tuple:
    """The peer's supplementary groups as they were when it connected (SO_PEERGROUPS):
    not /proc/PID/status, which by the time the request is read may be another process's."""
    import socket
    import struct

    for count in (256, 65536):  # NGROUPS_MAX is 65536
        try:
            raw = conn.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, 4 * count)
        except OSError as err:
            if err.errno == 34:  # ERANGE: more groups than that
                continue
            raise
        return struct.unpack(f"{len(raw) // 4}I", raw)
    return ()


def _start_time(pid: int) -> Optional[int]:
    """The peer's start time now, to tell it from a later process with its pid."""
    from cgmand.errors import ProcessGone
    from cgmand.kernel import procinfo

    try:
        return procinfo.identity(pid)[1]
    except ProcessGone:
        return None


def _send(conn: socket.socket, message: dict) -> None:
    try:
        conn.sendall(_dumps(message).encode() + b"\n")
    except OSError:
        pass  # the client went away


# JSON through the C halves of the json module: `import json` loads re and enum, and
# `import socket` enum too (~15 ms of a `cgman exec` that asks cgmand to place it).
def _dumps(message: Any) -> str:
    import _json

    encoder = _json.make_encoder(None, None, _json.encode_basestring_ascii, None, ":", ",", False, False, True)
    return "".join(encoder(message, 0))


class _Scanning:
    """What _json.make_scanner reads of a json.JSONDecoder: its plain defaults."""

    strict = True
    object_hook = object_pairs_hook = None
    parse_float, parse_int, parse_constant = float, int, float
    memo: dict = {}


def _loads(text: str) -> Any:
    import _json

    text = text.strip()
    try:
        value, end = _json.make_scanner(_Scanning)(text, 0)
    except StopIteration:  # how the C scanner says "no JSON value here"
        raise ValueError(f"not JSON: {text[:80]!r}") from None
    if end != len(text):
        raise ValueError(f"not one JSON value: {text[:80]!r}")
    return value


def ask(run_root: str, command: str, timeout: float = REPLY_TIMEOUT, name: str = CONTROL[0],
        **fields: Any) -> Optional[dict]:
    """Send a request to the running daemon; None if none is listening. Raises OSError
    (PermissionError for control.sock as a user) and ValueError (a garbled answer)."""
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path(run_root, name))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    try:
        sock.sendall(_dumps(dict(fields, command=command)).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    return _loads(data.decode("utf-8")) if data.strip() else None
