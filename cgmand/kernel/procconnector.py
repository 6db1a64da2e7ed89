"""The proc connector socket: the kernel's process events (cgmand/procevents.py
parses them).

AF_NETLINK / NETLINK_CONNECTOR, bound to the CN_IDX_PROC multicast group.
Subscribing needs CAP_NET_ADMIN before Linux 6.6; the legacy 4-byte LISTEN is
sent first and its ack checked (an error or no answer at all, as in a non-initial
user or pid namespace, is a clear failure), then, on 6.6+, the masked LISTEN
that keeps unwanted events in the kernel (an older kernel ignores it). Events
come only from the kernel (sender port 0); anything else is dropped and
counted. On overflow recv fails once with ENOBUFS (netlink(7)): the caller
resynchronises; NETLINK_NO_ENOBUFS, which would hide it, is never set.
"""

from __future__ import annotations

import errno
import os
import socket
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Optional

from cgmand import procevents
from cgmand.errors import HostError

NETLINK_CONNECTOR = 11
SO_RCVBUFFORCE = 33  # socket(7): needs CAP_NET_ADMIN, ignores net.core.rmem_max
SUBSCRIBE_TIMEOUT = 2.0
_NOOP = struct.pack("=IHHII", 16, 1, 0, 0, 0)  # a bare netlink header, NLMSG_NOOP: the wake-up


class Overrun(Exception):
    """The kernel dropped events: the socket's queue was full (ENOBUFS)."""


WAKE = "wake"
"""What receive() returns for a wake-up (wake() from another thread)."""
TIMEOUT = "timeout"
"""What receive() returns when set_timeout()'s time passed with the queue empty."""
SO_MEMINFO = 55  # include/uapi/linux/sock_diag.h: u32[SK_MEMINFO_VARS]; [0] RMEM_ALLOC, [8] DROPS (4.7+)


class Connector:
    def __init__(self, mask: int, rcvbuf: int = 8 << 20):
        self.mask = mask
        self.foreign = 0  # datagrams not from the kernel, or not proc events: dropped
        self._waker: Optional[socket.socket] = None
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_CONNECTOR)
        try:
            self.rcvbuf = self.grow(rcvbuf)
            self.sock.bind((0, procevents.CN_IDX_PROC))
            self._subscribe()
        except BaseException:
            self.sock.close()
            raise
        self._waker = self._make_waker()

    def grow(self, size: int) -> int:
        """Ask for a receive buffer of ``size`` bytes; the size the kernel granted."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
        except PermissionError:  # no CAP_NET_ADMIN: as much as net.core.rmem_max allows
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        return self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)

    def _subscribe(self) -> None:
        self.sock.sendto(procevents.subscribe(), (0, 0))
        self.sock.settimeout(SUBSCRIBE_TIMEOUT)
        try:
            while True:  # events may come before the ack: the ack is what= NONE
                event = self.receive()
                if event is not None and event.what == procevents.NONE:
                    break
        except socket.timeout:
            raise HostError("the kernel did not answer the proc connector subscription (cgmand in a non-initial "
                            "user or pid namespace, or a network namespace of its own: PrivateNetwork=)",
                            reference="proc-connector") from None
        finally:
            self.sock.settimeout(None)
        err = procevents.ack_error(event)
        if err:
            raise HostError(f"the proc connector refused the subscription: {os.strerror(err)} (needs "
                            "CAP_NET_ADMIN before Linux 6.6)", reference="proc-connector")
        self.sock.sendto(procevents.subscribe(mask=self.mask), (0, 0))  # 6.6+: filtered in the kernel

    def _make_waker(self) -> Optional[socket.socket]:
        """A second socket of the family, whose datagrams to this one wake receive():
        netlink lets a process with CAP_NET_ADMIN send to another socket's port
        (netlink_sendmsg, NL_CFG_F_NONROOT_SEND). Its sender port tells it from the
        kernel's events. None where that is refused: set_timeout() then bounds the wait."""
        waker = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_CONNECTOR)
        try:
            waker.bind((0, 0))
            self._waker_port = waker.getsockname()[0]
            self._port = self.sock.getsockname()[0]
            waker.sendto(_NOOP, socket.MSG_DONTWAIT, (self._port, 0))  # one wake-up now, to know it works
        except OSError:
            waker.close()
            return None
        return waker

    @property
    def can_wake(self) -> bool:
        return self._waker is not None

    def wake(self) -> None:
        """From another thread: make a receive() in progress return WAKE."""
        if self._waker is not None:
            try:
                # Never blocks: a netlink send to a full queue would wait for room (netlink_attachskb),
                # and a full queue means receive() returns at once anyway, and looks at requests.
                self._waker.sendto(_NOOP, socket.MSG_DONTWAIT, (self._port, 0))
            except OSError:
                pass

    def set_timeout(self, seconds: Optional[float]) -> None:
        """Let receive() return WAKE after ``seconds`` without a datagram (None: wait for
        one). SO_RCVTIMEO, in the kernel: a Python-level timeout would poll(2) first, a
        syscall more per event."""
        whole = int(seconds or 0)
        micro = 0 if seconds is None else max(1, int((seconds - whole) * 1e6))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", whole, micro))

    def receive(self) -> "Optional[procevents.Event] | str":
        """The next event (blocking: one recvfrom(2), the cheapest way to wait); None for a
        datagram that is not one (counted); WAKE for a wake-up; TIMEOUT when set_timeout()'s
        time passed. Raises Overrun when the kernel dropped events."""
        try:
            data, (sender, _groups) = self.sock.recvfrom(256)
        except BlockingIOError:
            return TIMEOUT  # SO_RCVTIMEO passed: the queue is empty
        except OSError as err:
            if err.errno == errno.ENOBUFS:
                raise Overrun() from None
            raise
        if sender != 0:
            if self._waker is not None and sender == self._waker_port:
                return WAKE
            self.foreign += 1
            return None
        try:
            return procevents.parse(data)
        except procevents.Malformed:
            self.foreign += 1
            return None

    def dropped(self) -> Optional[int]:
        """The socket's drop count: cheap enough to read around a scan. None where the
        kernel lacks SO_MEMINFO."""
        return self._meminfo(8)

    def queued(self) -> Optional[int]:
        """Bytes waiting in the socket's queue: 0 after a read that emptied it, which is
        when netlink stops dropping (congestion cleared)."""
        return self._meminfo(0)

    def _meminfo(self, index: int) -> Optional[int]:
        try:
            raw = self.sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 9 * 4)
        except OSError:
            return None
        return struct.unpack_from("=9I", raw)[index] if len(raw) >= 36 else None

    def drops(self) -> Optional[int]:
        """Events the kernel dropped for this socket so far (the Drops column of
        /proc/net/netlink), None if it cannot be read."""
        inode = os.fstat(self.sock.fileno()).st_ino
        try:
            with open("/proc/net/netlink", encoding="ascii") as handle:
                header = handle.readline().split()
                for line in handle:
                    fields = line.split()
                    if len(fields) == len(header) and fields[header.index("Inode")] == str(inode):
                        return int(fields[header.index("Drops")])
        except (OSError, ValueError):
            pass
        return None

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        try:
            self.sock.sendto(procevents.subscribe(listen=False), (0, 0))
        except OSError:
            pass
        self.sock.close()
        if self._waker is not None:
            self._waker.close()
