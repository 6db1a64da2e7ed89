"""The kernel's proc connector messages, parsed and built (pure; the socket is
kernel/procconnector.py).

One event per datagram (include/uapi/linux/cn_proc.h, drivers/connector/cn_proc.c),
native byte order:

    0   nlmsghdr: len u32, type u16, flags u16, seq u32, pid u32 (0: the kernel)
    16  cn_msg: idx u32 (CN_IDX_PROC = 1), val u32 (CN_VAL_PROC = 1), seq u32, ack u32,
        len u16, flags u16
    36  proc_event: what u32, cpu u32, timestamp_ns u64 (CLOCK_MONOTONIC)
    52  event_data: by event (below)

In the kernel's naming `*_pid` is a thread id and `*_tgid` the process id.
"""

from __future__ import annotations

import struct

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Optional, Tuple

# cn_proc.h
NONE, FORK, EXEC, UID, GID, SID, PTRACE, COMM = 0, 0x1, 0x2, 0x4, 0x40, 0x80, 0x100, 0x200
NONZERO_EXIT, COREDUMP, EXIT = 0x20000000, 0x40000000, 0x80000000
NAMES = {NONE: "none", FORK: "fork", EXEC: "exec", UID: "uid", GID: "gid", SID: "sid", PTRACE: "ptrace",
         COMM: "comm", COREDUMP: "coredump", EXIT: "exit"}
CN_IDX_PROC = CN_VAL_PROC = 1
MCAST_LISTEN, MCAST_IGNORE = 1, 2
NLMSG_DONE = 3

_HEADER = struct.Struct("=IHHII")  # nlmsghdr
_CN_MSG = struct.Struct("=IIIIHH")  # cn_msg
_EVENT = struct.Struct("=IIQ")  # what, cpu, timestamp_ns
HEADER_SIZE = _HEADER.size + _CN_MSG.size  # 36
EVENT_OFFSET = HEADER_SIZE + _EVENT.size  # 52
_PREFIX = struct.Struct("=" + _HEADER.format[1:] + _CN_MSG.format[1:] + _EVENT.format[1:])  # all three
# What each event carries at EVENT_OFFSET (u32 each): the numbers parse() returns.
_LAYOUT = {
    FORK: struct.Struct("=IIII"),  # parent_pid, parent_tgid, child_pid, child_tgid
    EXEC: struct.Struct("=II"),  # pid, tgid
    UID: struct.Struct("=IIII"),  # pid, tgid, real uid, effective uid
    GID: struct.Struct("=IIII"),  # pid, tgid, real gid, effective gid
    SID: struct.Struct("=II"),
    PTRACE: struct.Struct("=IIII"),
    COMM: struct.Struct("=II16s"),
    COREDUMP: struct.Struct("=IIII"),
    EXIT: struct.Struct("=IIIIII"),  # pid, tgid, exit_code, exit_signal, parent_pid, parent_tgid
    NONE: struct.Struct("=I"),  # ack: err
}


class Event:
    """One proc event: ``what`` (EXEC, ...), the thread and process it is about, the
    kernel's CLOCK_MONOTONIC time, and the event's own numbers (``data``)."""

    __slots__ = ("what", "pid", "tgid", "timestamp_ns", "data")

    def __init__(self, what: int, pid: int, tgid: int, timestamp_ns: int, data: tuple):
        self.what, self.pid, self.tgid, self.timestamp_ns, self.data = what, pid, tgid, timestamp_ns, data

    @property
    def thread(self) -> bool:
        """About a thread other than the process's leader (thread events are noise for
        placement: a process moves whole)."""
        return self.pid != self.tgid

    def __repr__(self) -> str:
        return f"Event({NAMES.get(self.what, hex(self.what))}, pid={self.pid}, tgid={self.tgid}, data={self.data})"


class Malformed(ValueError):
    """A datagram that is not a proc connector event (too short, another family's)."""


def parse(datagram: bytes) -> Event:
    """The event in one datagram from the connector socket. Raises Malformed.
    The three headers come out of one unpack: this runs for every event the kernel sends."""
    if len(datagram) < EVENT_OFFSET:
        raise Malformed(f"{len(datagram)} bytes: shorter than a proc event header ({EVENT_OFFSET})")
    (length, kind, _flags, _seq, sender, idx, val, _cseq, _ack, size, _cflags, what, _cpu,
     timestamp) = _PREFIX.unpack_from(datagram, 0)
    if kind != NLMSG_DONE or length > len(datagram):
        raise Malformed(f"netlink message type {kind}, length {length} of {len(datagram)}: not a connector event")
    if sender != 0:
        raise Malformed(f"from port {sender}, not the kernel")
    if idx != CN_IDX_PROC or val != CN_VAL_PROC:
        raise Malformed(f"connector {idx}/{val}, not the proc connector")
    layout = _LAYOUT.get(what)
    if layout is None:
        return Event(what, 0, 0, timestamp, ())
    if HEADER_SIZE + size > len(datagram) or EVENT_OFFSET + layout.size > len(datagram):
        raise Malformed(f"{NAMES.get(what, hex(what))} event truncated: {len(datagram)} bytes")
    data = layout.unpack_from(datagram, EVENT_OFFSET)
    if what == FORK:  # about the child
        return Event(what, data[2], data[3], timestamp, data)
    if what == NONE:
        return Event(what, 0, 0, timestamp, data)
    if what == COMM:
        data = (data[0], data[1], data[2].split(b"\0", 1)[0].decode("utf-8", "replace"))
    return Event(what, data[0], data[1], timestamp, data)


def subscribe(listen: bool = True, mask: Optional[int] = None, seq: int = 0) -> bytes:
    """The request to start (or stop) the events. With ``mask`` (Linux 6.6+: struct
    proc_input) the kernel sends only those events; an older kernel ignores a request
    of that size, so the legacy one is sent first (its ack says whether it worked)."""
    op = MCAST_LISTEN if listen else MCAST_IGNORE
    payload = struct.pack("=II", op, mask) if mask is not None else struct.pack("=I", op)
    cn = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, seq, 0, len(payload), 0)
    total = _HEADER.size + len(cn) + len(payload)
    return _HEADER.pack(total, NLMSG_DONE, 0, seq, 0) + cn + payload


def ack_error(event: Event) -> Optional[int]:
    """For the ack of a subscription (what = NONE): its errno (0 = subscribed)."""
    return event.data[0] if event.what == NONE and event.data else None


def build(what: int, *numbers: "int | bytes", timestamp_ns: int = 0, sender: int = 0) -> bytes:
    """A datagram as the kernel would send it (tests, and the connector's own checks)."""
    layout = _LAYOUT[what]
    body = _EVENT.pack(what, 0, timestamp_ns) + layout.pack(*numbers)
    cn = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(body), 0)
    total = _HEADER.size + len(cn) + len(body)
    return _HEADER.pack(total, NLMSG_DONE, 0, 0, sender) + cn + body


def split_comm(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def kinds(mask: int) -> Tuple[str, ...]:
    return tuple(name for bit, name in NAMES.items() if bit and mask & bit)
