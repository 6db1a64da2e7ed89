"""Proc connector datagrams (cgmand/procevents.py, pure): parse() of what the kernel
sends, build() of the same, and the subscription request."""

from __future__ import annotations

import struct

import pytest

from cgmand import procevents as pe
from cgmand.procevents import Malformed

NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
CN_MSG = struct.Struct("=IIIIHH")  # idx, val, seq, ack, len, flags
PROC_EVENT = struct.Struct("=IIQ")  # what, cpu, timestamp_ns


def datagram(what: int, data: bytes, *, kind: int = 3, sender: int = 0, idx: int = 1, val: int = 1,
             cn_len: "int | None" = None, nl_len: "int | None" = None, timestamp: int = 0) -> bytes:
    """A datagram assembled by hand (independently of build())."""
    body = PROC_EVENT.pack(what, 2, timestamp) + data
    cn = CN_MSG.pack(idx, val, 9, 0, len(body) if cn_len is None else cn_len, 0)
    total = NLMSGHDR.size + CN_MSG.size + len(body)
    return NLMSGHDR.pack(total if nl_len is None else nl_len, kind, 0, 9, sender) + cn + body


def u32s(*numbers: int) -> bytes:
    return struct.pack(f"={len(numbers)}I", *numbers)


# --- the layout constants --------------------------------------------------------------------

def test_offsets():
    assert pe.HEADER_SIZE == 36
    assert pe.EVENT_OFFSET == 52


# --- round trips -----------------------------------------------------------------------------

def test_fork_is_about_the_child():
    event = pe.parse(pe.build(pe.FORK, 100, 100, 205, 205, timestamp_ns=123456789))
    assert (event.what, event.pid, event.tgid) == (pe.FORK, 205, 205)
    assert event.data == (100, 100, 205, 205)
    assert event.timestamp_ns == 123456789
    assert event.thread is False


def test_fork_of_a_thread():
    event = pe.parse(pe.build(pe.FORK, 100, 100, 206, 100))  # a new thread of process 100
    assert (event.pid, event.tgid) == (206, 100)
    assert event.thread is True


def test_exec():
    event = pe.parse(pe.build(pe.EXEC, 4321, 4321, timestamp_ns=2**40 + 5))
    assert (event.what, event.pid, event.tgid, event.data) == (pe.EXEC, 4321, 4321, (4321, 4321))
    assert event.timestamp_ns == 2**40 + 5
    assert event.thread is False


def test_uid():
    event = pe.parse(pe.build(pe.UID, 50, 50, 1000, 0))
    assert (event.what, event.pid, event.tgid) == (pe.UID, 50, 50)
    assert event.data == (50, 50, 1000, 0)  # real uid, then effective


def test_gid():
    event = pe.parse(pe.build(pe.GID, 51, 50, 100, 27))
    assert (event.what, event.pid, event.tgid, event.data) == (pe.GID, 51, 50, (51, 50, 100, 27))
    assert event.thread is True


def test_comm_name_is_decoded_and_nul_stripped():
    event = pe.parse(pe.build(pe.COMM, 77, 77, b"kworker/0:1"))  # struct pads to 16 with NULs
    assert (event.what, event.pid, event.tgid) == (pe.COMM, 77, 77)
    assert event.data == (77, 77, "kworker/0:1")


def test_comm_stops_at_the_first_nul():
    event = pe.parse(datagram(pe.COMM, u32s(8, 8) + b"abc\0garbage\0\0\0\0\0"))
    assert event.data == (8, 8, "abc")


def test_comm_of_15_characters():
    event = pe.parse(pe.build(pe.COMM, 8, 8, b"abcdefghijklmno"))
    assert event.data[2] == "abcdefghijklmno"


def test_exit():
    event = pe.parse(pe.build(pe.EXIT, 300, 299, 256, 17, 1, 1))
    assert (event.what, event.pid, event.tgid) == (pe.EXIT, 300, 299)
    assert event.data == (300, 299, 256, 17, 1, 1)  # pid, tgid, exit_code, exit_signal, parent pid, tgid
    assert event.thread is True


@pytest.mark.parametrize("what, numbers", [
    (pe.SID, (10, 10)),
    (pe.PTRACE, (10, 10, 20, 20)),
    (pe.COREDUMP, (10, 11, 1, 1)),
])
def test_other_known_events(what, numbers):
    event = pe.parse(pe.build(what, *numbers))
    assert (event.what, event.pid, event.tgid, event.data) == (what, numbers[0], numbers[1], numbers)


def test_ack_and_its_errno():
    ok = pe.parse(pe.build(pe.NONE, 0))
    assert (ok.what, ok.pid, ok.tgid, ok.data) == (pe.NONE, 0, 0, (0,))
    assert pe.ack_error(ok) == 0
    refused = pe.parse(pe.build(pe.NONE, 22))  # EINVAL
    assert pe.ack_error(refused) == 22


def test_ack_error_of_an_event_is_none():
    assert pe.ack_error(pe.parse(pe.build(pe.EXEC, 1, 1))) is None
    assert pe.ack_error(pe.Event(pe.NONE, 0, 0, 0, ())) is None


def test_thread_property():
    assert pe.Event(pe.EXEC, 5, 5, 0, ()).thread is False
    assert pe.Event(pe.EXEC, 6, 5, 0, ()).thread is True


def test_parse_of_a_hand_made_exec_matches_build():
    handmade = datagram(pe.EXEC, u32s(11, 12), timestamp=77)
    event = pe.parse(handmade)
    assert (event.what, event.pid, event.tgid, event.timestamp_ns, event.data) == (pe.EXEC, 11, 12, 77, (11, 12))


def test_build_header_fields():
    raw = pe.build(pe.EXEC, 11, 12, timestamp_ns=5, sender=0)
    assert len(raw) == 36 + 16 + 8
    length, kind, flags, _seq, sender = NLMSGHDR.unpack_from(raw, 0)
    assert (length, kind, flags, sender) == (len(raw), 3, 0, 0)
    idx, val, _seq, ack, size, cflags = CN_MSG.unpack_from(raw, 16)
    assert (idx, val, ack, size, cflags) == (1, 1, 0, 16 + 8, 0)
    assert PROC_EVENT.unpack_from(raw, 36) == (pe.EXEC, 0, 5)
    assert struct.unpack_from("=II", raw, 52) == (11, 12)


def test_kernel_sized_event_parses():
    """The kernel sends the whole proc_event union (a fixed size), more than the event's own fields."""
    padded = datagram(pe.EXEC, u32s(11, 12) + bytes(32))
    event = pe.parse(padded)
    assert (event.pid, event.tgid, event.data) == (11, 12, (11, 12))


def test_unknown_what_parses_with_no_data():
    event = pe.parse(datagram(0x8, u32s(1, 2, 3, 4), timestamp=9))
    assert (event.what, event.pid, event.tgid, event.timestamp_ns, event.data) == (0x8, 0, 0, 9, ())
    assert "0x8" in repr(event)


def test_repr_names_the_event():
    assert repr(pe.parse(pe.build(pe.EXEC, 3, 4))) == "Event(exec, pid=3, tgid=4, data=(3, 4))"


# --- malformed -----------------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1, 16, 35, 51])
def test_too_short(size):
    raw = pe.build(pe.EXEC, 1, 1)[:size]
    with pytest.raises(Malformed, match=f"^{size} bytes: shorter than a proc event header"):
        pe.parse(raw)


def test_malformed_is_a_value_error():
    assert issubclass(Malformed, ValueError)


@pytest.mark.parametrize("kind", [1, 2, 16])  # NOOP, ERROR, a family's own type
def test_wrong_netlink_type(kind):
    with pytest.raises(Malformed, match=f"netlink message type {kind}"):
        pe.parse(datagram(pe.EXEC, u32s(1, 1), kind=kind))


def test_netlink_length_beyond_the_datagram():
    raw = datagram(pe.EXEC, u32s(1, 1))
    with pytest.raises(Malformed, match=f"length {len(raw) + 1} of {len(raw)}"):
        pe.parse(datagram(pe.EXEC, u32s(1, 1), nl_len=len(raw) + 1))


def test_foreign_sender():
    with pytest.raises(Malformed, match="from port 1234, not the kernel"):
        pe.parse(pe.build(pe.EXEC, 1, 1, sender=1234))
    with pytest.raises(Malformed, match="from port 1234"):
        pe.parse(datagram(pe.EXEC, u32s(1, 1), sender=1234))


@pytest.mark.parametrize("idx, val", [(2, 1), (1, 2), (0, 0), (0xA, 0x1)])
def test_wrong_connector(idx, val):
    with pytest.raises(Malformed, match=f"connector {idx}/{val}, not the proc connector"):
        pe.parse(datagram(pe.EXEC, u32s(1, 1), idx=idx, val=val))


@pytest.mark.parametrize("what, numbers, cut", [
    (pe.FORK, (1, 1, 2, 2), 4),
    (pe.EXIT, (1, 1, 0, 17, 1, 1), 1),
    (pe.COMM, (1, 1, b"bash"), 10),
    (pe.EXEC, (1, 1), 8),
])
def test_truncated_event(what, numbers, cut):
    raw = pe.build(what, *numbers)[:-cut]
    with pytest.raises(Malformed):
        pe.parse(raw)


@pytest.mark.parametrize("what, data", [
    (pe.FORK, u32s(1, 1, 2)),
    (pe.EXIT, u32s(1, 1, 0, 17, 1)),
    (pe.COMM, u32s(1, 1) + b"bash"),
    (pe.NONE, b""),
])
def test_truncated_event_with_consistent_headers(what, data):
    """Every length field agrees with the bytes present, but the event's fields are missing."""
    with pytest.raises(Malformed, match="event truncated"):
        pe.parse(datagram(what, data))


def test_connector_length_beyond_the_datagram():
    with pytest.raises(Malformed, match="exec event truncated"):
        pe.parse(datagram(pe.EXEC, u32s(1, 1), cn_len=16 + 8 + 1))


# --- subscribe -----------------------------------------------------------------------------

def test_subscribe_legacy():
    raw = pe.subscribe()
    assert len(raw) == 40
    length, kind, flags, seq, pid = NLMSGHDR.unpack_from(raw, 0)
    assert (length, kind, flags, seq, pid) == (40, 3, 0, 0, 0)
    idx, val, cseq, ack, size, cflags = CN_MSG.unpack_from(raw, 16)
    assert (idx, val, cseq, ack, size, cflags) == (1, 1, 0, 0, 4, 0)
    assert struct.unpack_from("=I", raw, 36) == (1,)  # PROC_CN_MCAST_LISTEN


def test_subscribe_with_a_mask():
    mask = pe.EXEC | pe.FORK | pe.EXIT
    raw = pe.subscribe(mask=mask, seq=7)
    assert len(raw) == 44
    length, kind, _flags, seq, pid = NLMSGHDR.unpack_from(raw, 0)
    assert (length, kind, seq, pid) == (44, 3, 7, 0)
    idx, val, cseq, _ack, size, _cflags = CN_MSG.unpack_from(raw, 16)
    assert (idx, val, cseq, size) == (1, 1, 7, 8)
    assert struct.unpack_from("=II", raw, 36) == (1, 0x80000003)  # struct proc_input: mcast_op, event_type


def test_subscribe_ignore():
    raw = pe.subscribe(listen=False)
    assert len(raw) == 40
    assert struct.unpack_from("=I", raw, 36) == (2,)  # PROC_CN_MCAST_IGNORE
    masked = pe.subscribe(listen=False, mask=pe.EXEC)
    assert struct.unpack_from("=II", masked, 36) == (2, pe.EXEC)


def test_subscribe_mask_zero_is_still_the_masked_form():
    raw = pe.subscribe(mask=0)
    assert len(raw) == 44
    assert struct.unpack_from("=II", raw, 36) == (1, 0)


def test_subscribe_is_not_a_proc_event():
    """Our own request is too short to be mistaken for an event."""
    with pytest.raises(Malformed, match="shorter than a proc event header"):
        pe.parse(pe.subscribe())


# --- helpers -------------------------------------------------------------------------------

def test_kinds_and_split_comm():
    assert pe.kinds(pe.EXEC | pe.EXIT) == ("exec", "exit")
    assert pe.kinds(0) == ()
    assert pe.split_comm(b"sshd\0\0\0x") == "sshd"
    assert pe.split_comm(b"\xff\0") == "\ufffd"
