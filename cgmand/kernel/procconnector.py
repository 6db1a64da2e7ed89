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

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Optional

from cgmand import procevents
from cgmand.errors import HostError

NETLINK_CONNECTOR = 11
SO_RCVBUFFORCE = 33  # socket(7): needs CAP_NET_ADMIN, ignores net.core.rmem_max
SUBSCRIBE_TIMEOUT = 2.0


class Overrun(Exception):
    """The kernel dropped events: the socket's queue was full (ENOBUFS)."""


class Connector:
    def __init__(self, mask: int, rcvbuf: int = 8 << 20):
        self.mask = mask
        self.foreign = 0  # datagrams not from the kernel, or not proc events: dropped
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_CONNECTOR)
        try:
            self.rcvbuf = self.grow(rcvbuf)
            self.sock.bind((0, procevents.CN_IDX_PROC))
            self._subscribe()
        except BaseException:
            self.sock.close()
            raise

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

    def receive(self) -> Optional[procevents.Event]:
        """The next event (blocking); None for a datagram that is not one (counted).
        Raises Overrun when the kernel dropped events."""
        try:
            data, (sender, _groups) = self.sock.recvfrom(256)
        except OSError as err:
            if err.errno == errno.ENOBUFS:
                raise Overrun() from None
            raise
        if sender != 0:
            self.foreign += 1
            return None
        try:
            return procevents.parse(data)
        except procevents.Malformed:
            self.foreign += 1
            return None

    def drain(self, limit: int = 4096) -> "tuple":
        """What the socket holds now, without blocking: (events, overrun). An event is
        None for a datagram that is not one (counted in ``foreign``); ``overrun``: the
        kernel dropped events since the last read (ENOBUFS)."""
        out: list = []
        while len(out) < limit:
            try:
                data, (sender, _groups) = self.sock.recvfrom(256, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            except OSError as err:
                if err.errno == errno.ENOBUFS:
                    return out, True
                raise
            if sender != 0:
                self.foreign += 1
                out.append(None)
                continue
            try:
                out.append(procevents.parse(data))
            except procevents.Malformed:
                self.foreign += 1
                out.append(None)
        return out, False

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
