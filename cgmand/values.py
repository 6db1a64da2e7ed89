"""Typed values that round-trip between config text, Python values and kernel text.

Each ``ValueType`` knows three grammars:

* ``parse(raw)``: what a TOML file may say (ints, strings, booleans), validated,
  giving a plain Python value (``int``, ``MAX``, ``frozenset`` ...);
* ``format(value)``: the text written to the kernel file;
* ``read(text)``: the kernel's read-back text, giving the same kind of value.

``writes(desired, observed_text)`` says which writes make the kernel file hold
the desired value; an empty list means it already does. Values are compared the
way the kernel reads them back: the knob translators (knobs.py) round sizes to
the page before they get here, so equality is enough.

Pure module: no I/O.
"""

from __future__ import annotations

import re
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Tuple

MAX = "max"  # "no limit"; compares above every number

RAISE, LOWER, NEITHER, NEUTRAL = "raise", "lower", "neither", "neutral"

# v1 reports "unlimited" page counters as PAGE_COUNTER_MAX * PAGE_SIZE
# (9223372036854771712 with 4 KiB pages); anything this large is unlimited.
V1_UNLIMITED_FLOOR = 2**63 - 2**20

_SUFFIXES = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40, "P": 2**50, "E": 2**60}
_SIZE_RE = re.compile(r"^(\d+)([KMGTPE]?)$", re.IGNORECASE)


class ValueProblem(ValueError):
    """A value does not fit its type: says what was expected (the caller adds where)."""

    def __init__(self, expected: str, found: Any):
        self.expected = expected
        self.found = found
        super().__init__(f"expected {expected}; found {show(found)}")


def show(raw: Any) -> str:
    """Render a config value as the user wrote it, for error messages."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, str):
        return '"' + raw.replace("\n", "\\n") + '"'
    if isinstance(raw, (list, tuple)):
        return "[" + ", ".join(show(x) for x in raw) + "]"
    if isinstance(raw, dict):
        return "a table"
    return str(raw)


# Compiled once: re.fullmatch(pattern, ...) pays a cache lookup on every call,
# and values are read thousands of times per run.
_INTEGER = re.compile(r"-?\d+")
_RANGE = re.compile(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?")


def _as_int(raw: Any, expected: str) -> int:
    """Accept TOML integers and decimal strings, never booleans or floats."""
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise ValueProblem(expected, raw)
    if isinstance(raw, str):
        text = raw.strip()
        if not _INTEGER.fullmatch(text):
            raise ValueProblem(expected, raw)
        return int(text)
    return raw


def _is_max(raw: Any) -> bool:
    """ "max", or -1 as cgconfig files and v1 kernels write it (never a float or a bool)."""
    return raw == MAX or raw == "-1" or (type(raw) is int and raw == -1)


def _read_int(text: str) -> int:
    text = text.strip()
    if not _INTEGER.fullmatch(text):
        raise ValueProblem("an integer", text)
    return int(text)


def order(value: Any) -> float:
    """Numeric order with MAX above everything."""
    return float("inf") if value == MAX else float(value)


class ValueType:
    """Base class; subclasses override parse/format/read and, when hierarchical, direction."""

    expected = "a value"
    hierarchical = False  # does a parent's value bound its children's (v1)?
    unset: Any = None  # what a new cgroup holds before cgman writes (hierarchical types)

    def parse(self, raw: Any) -> Any:
        raise NotImplementedError

    def format(self, value: Any) -> str:
        return str(value)

    def read(self, text: str) -> Any:
        return self.parse(text.strip())

    def render(self, value: Any) -> str:
        """Human form for plans and status."""
        return self.format(value)

    def writes(self, desired: Any, observed_text: Optional[str]) -> List[str]:
        if observed_text is not None:
            try:
                if self.read(observed_text) == desired:
                    return []
            except ValueProblem:
                pass  # unreadable kernel text: rewrite it
        return [self.format(desired)]

    def direction(self, old: Any, new: Any) -> str:
        """RAISE/LOWER/NEITHER for hierarchical types; NEUTRAL otherwise."""
        return NEUTRAL


class Int(ValueType):
    def __init__(self, lo: int, hi: int, what: str = "an integer"):
        self.lo, self.hi = lo, hi
        self.expected = f"{what} from {lo} to {hi}" if lo < hi else f"{what} {lo}"

    def parse(self, raw: Any) -> int:
        value = _as_int(raw, self.expected)
        if not self.lo <= value <= self.hi:
            raise ValueProblem(self.expected, raw)
        return value

    def read(self, text: str) -> int:
        return _read_int(text)


class IntOrMax(ValueType):
    """An integer or "max" (pids.max); ``max_text`` is how the kernel spells max."""

    hierarchical = True
    unset = MAX

    def __init__(self, lo: int, hi: int, max_text: str = MAX, what: str = "an integer"):
        self.lo, self.hi, self.max_text = lo, hi, max_text
        self.expected = f'{what} from {lo} to {hi}, or "max"'

    def parse(self, raw: Any) -> Any:
        if _is_max(raw):
            return MAX
        value = _as_int(raw, self.expected)
        if not self.lo <= value <= self.hi:
            raise ValueProblem(self.expected, raw)
        return value

    def format(self, value: Any) -> str:
        return self.max_text if value == MAX else str(value)

    def read(self, text: str) -> Any:
        text = text.strip()
        if text in (MAX, self.max_text):
            return MAX
        value = _read_int(text)
        return MAX if value >= V1_UNLIMITED_FLOOR else value

    def render(self, value: Any) -> str:
        return MAX if value == MAX else str(value)

    def direction(self, old: Any, new: Any) -> str:
        return direction_between(order(old), order(new))


def direction_between(old: float, new: float) -> str:
    """RAISE when new >= old (numbers; MAX as inf), else LOWER."""
    return RAISE if new >= old else LOWER


class Size(IntOrMax):
    """Bytes, with K/M/G/T/P/E suffixes (1024-based, like the kernel's memparse), or max."""

    expected = 'a size: bytes, or a whole number with K, M, G, T (1024-based), or "max"'

    def __init__(self, max_text: str = MAX):
        super().__init__(0, 2**63 - 1, max_text)
        self.expected = Size.expected

    def parse(self, raw: Any) -> Any:
        if _is_max(raw):
            return MAX
        value = None
        if isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        elif isinstance(raw, str):
            match = _SIZE_RE.match(raw.strip())
            if match:
                value = int(match.group(1)) * _SUFFIXES[match.group(2).upper()]
        if value is None or not self.lo <= value <= self.hi:
            raise ValueProblem(self.expected, raw)
        return value

    def render(self, value: Any) -> str:
        if value == MAX:
            return MAX
        for suffix in "EPTGMK":
            unit = _SUFFIXES[suffix]
            if value and value % unit == 0:
                return f"{value // unit}{suffix}"
        return str(value)


def round_size(value: Any, granularity: int) -> Any:
    """What the kernel keeps of a size: whole pages (or huge pages), rounded down."""
    if value == MAX:
        return MAX
    return value // granularity * granularity


class Bool01(ValueType):
    expected = "true/false or 0/1"

    def parse(self, raw: Any) -> int:
        if isinstance(raw, bool):
            return int(raw)
        if (type(raw) is int and raw in (0, 1)) or raw in ("0", "1"):
            return int(raw)
        raise ValueProblem(self.expected, raw)

    def read(self, text: str) -> int:
        return _read_int(text)


class Choice(ValueType):
    def __init__(self, *choices: str):
        self.choices = choices
        self.expected = "one of " + ", ".join(f'"{c}"' for c in choices)

    def parse(self, raw: Any) -> str:
        if raw not in self.choices:
            raise ValueProblem(self.expected, raw)
        return raw


class CpuList(ValueType):
    """A CPU or memory-node list in the kernel's list format: "0-3,8"."""

    expected = 'a CPU/node list such as "0-3,8" or a single number'
    hierarchical = True
    unset: FrozenSet[int] = frozenset()  # v1: a new cpuset is empty
    LIMIT = 65536  # far above any kernel's NR_CPUS; keeps a typo from filling memory

    def parse(self, raw: Any) -> FrozenSet[int]:
        if isinstance(raw, bool):
            raise ValueProblem(self.expected, raw)
        if isinstance(raw, int) and 0 <= raw < self.LIMIT:
            return frozenset([raw])
        if not isinstance(raw, str) or not raw.strip():
            raise ValueProblem(self.expected, raw)
        items = set()
        for part in raw.strip().split(","):
            match = _RANGE.fullmatch(part)
            if not match:
                raise ValueProblem(self.expected, raw)
            first = int(match.group(1))
            last = int(match.group(2)) if match.group(2) is not None else first
            if last < first:
                raise ValueProblem(self.expected + " (ranges go low-high)", raw)
            if last >= self.LIMIT:
                raise ValueProblem(self.expected + f" (numbers below {self.LIMIT})", raw)
            items.update(range(first, last + 1))
        return frozenset(items)

    def format(self, value: Iterable[int]) -> str:
        ranges: List[str] = []
        for n in sorted(value):
            if ranges and n == _range_end(ranges[-1]) + 1:
                start = ranges[-1].split("-")[0]
                ranges[-1] = f"{start}-{n}"
            else:
                ranges.append(str(n))
        return ",".join(ranges)

    def read(self, text: str) -> FrozenSet[int]:
        text = text.strip()
        return frozenset() if not text else self.parse(text)

    def direction(self, old: Any, new: Any) -> str:
        if new >= old:
            return RAISE
        if new <= old:
            return LOWER
        return NEITHER

    @staticmethod
    def widen(old: FrozenSet[int], new: FrozenSet[int]) -> FrozenSet[int]:
        """A value that contains both: the step between two unrelated cpusets."""
        return old | new


def _range_end(item: str) -> int:
    return int(item.split("-")[-1])


class CpuMax(ValueType):
    """CFS bandwidth "QUOTA PERIOD" in microseconds; QUOTA may be "max"."""

    expected = (
        'cpu bandwidth "QUOTA PERIOD" in microseconds, e.g. "50000 100000", or "max"; '
        "QUOTA at least 1000, PERIOD from 1000 to 1000000 (default 100000)"
    )
    hierarchical = True
    DEFAULT_PERIOD = 100000
    unset = (MAX, DEFAULT_PERIOD)

    def parse(self, raw: Any) -> Tuple[Any, int]:
        if isinstance(raw, bool):
            raise ValueProblem(self.expected, raw)
        if isinstance(raw, int):
            parts = [str(raw)]
        elif isinstance(raw, str) and raw.split():
            parts = raw.split()
        else:
            raise ValueProblem(self.expected, raw)
        if len(parts) > 2:
            raise ValueProblem(self.expected, raw)
        quota_text = parts[0]
        period = self.DEFAULT_PERIOD
        if len(parts) == 2:
            if not parts[1].isdigit():
                raise ValueProblem(self.expected, raw)
            period = int(parts[1])
        if quota_text in (MAX, "-1"):
            quota: Any = MAX
        elif quota_text.isdigit():
            quota = int(quota_text)
        else:
            raise ValueProblem(self.expected, raw)
        if not 1000 <= period <= 1000000 or (quota != MAX and quota < 1000):
            raise ValueProblem(self.expected, raw)
        return (quota, period)

    def format(self, value: Tuple[Any, int]) -> str:
        return f"{value[0]} {value[1]}"

    def read(self, text: str) -> Tuple[Any, int]:
        parts = text.split()
        if len(parts) != 2 or not parts[1].isdigit():
            raise ValueProblem("QUOTA PERIOD", text)
        quota = MAX if parts[0] == MAX else _read_int(parts[0])
        return (quota, int(parts[1]))

    def direction(self, old: Any, new: Any) -> str:
        return direction_between(order(old[0]) / old[1], order(new[0]) / new[1])


class Weight(Int):
    """io.weight / io.bfq.weight: the kernel reads back "default N" plus per-device lines.

    io.weight is written as "default N" (Documentation/admin-guide/cgroup-v2.rst);
    the BFQ files take a plain number on every kernel that has them.
    """

    def __init__(self, lo: int, hi: int, plain: bool = False):
        super().__init__(lo, hi, "a weight")
        self.plain = plain

    def format(self, value: int) -> str:
        return str(value) if self.plain else f"default {value}"

    def read(self, text: str) -> int:
        for line in text.splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == "default":
                return _read_int(words[1])
            if len(words) == 1:
                return _read_int(words[0])
        raise ValueProblem("default WEIGHT", text)


class OomControl(Bool01):
    """v1 memory.oom_control: written as 0/1, read back as "oom_kill_disable N" lines."""

    def read(self, text: str) -> int:
        for line in text.splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == "oom_kill_disable":
                return _read_int(words[1])
        raise ValueProblem("oom_kill_disable N", text)


IO_MAX_KEYS = ("rbps", "wbps", "riops", "wiops")
_DEVICE_RE = re.compile(r"^\d+:\d+$")


class IoMax(ValueType):
    """Per-device IO limits: "MAJ:MIN rbps=N wbps=N riops=N wiops=N" lines (v2 io.max).

    The value is a sorted tuple of (device, (rbps, wbps, riops, wiops)); a device
    whose limits are all max is the same as an absent one and is dropped. Each
    device is one write(2): the kernel parses one device per write.
    """

    expected = (
        'device limits such as "8:0 rbps=10M wiops=100" (keys rbps, wbps, riops, wiops; '
        'numbers, sizes or "max"), or a list of them'
    )
    _bps = Size()
    _iops = IntOrMax(0, 2**63 - 1)

    def parse(self, raw: Any) -> Tuple:
        lines = raw if isinstance(raw, list) else [raw]
        if not all(isinstance(line, str) for line in lines):
            raise ValueProblem(self.expected, raw)
        devices: Dict[str, Tuple] = {}
        for line in (part for item in lines for part in item.splitlines() if part.strip()):
            words = line.split()
            if not _DEVICE_RE.match(words[0]) or len(words) < 2:
                raise ValueProblem(self.expected, line)
            if words[0] in devices:
                raise ValueProblem(self.expected + " with each device once", line)
            devices[words[0]] = self._limits(words[1:], line)
        return self._normal(devices)

    def _limits(self, words: List[str], line: str) -> Tuple:
        limits = dict.fromkeys(IO_MAX_KEYS, MAX)
        for word in words:
            key, sep, text = word.partition("=")
            if not sep or key not in limits:
                raise ValueProblem(self.expected, line)
            kind = self._bps if key.endswith("bps") else self._iops
            try:
                limits[key] = kind.parse(text)
            except ValueProblem:
                raise ValueProblem(self.expected, line) from None
            if limits[key] == 0:  # v1 reads 0 as "no limit"; say "max" to be unambiguous
                raise ValueProblem(self.expected + ' (at least 1; "max" for no limit)', line)
        return tuple(limits[k] for k in IO_MAX_KEYS)

    @staticmethod
    def _normal(devices: Dict[str, Tuple]) -> Tuple:
        return tuple(sorted((d, lim) for d, lim in devices.items() if any(v != MAX for v in lim)))

    def format_device(self, device: str, limits: Tuple) -> str:
        return device + " " + " ".join(f"{k}={v}" for k, v in zip(IO_MAX_KEYS, limits))

    def format(self, value: Tuple) -> str:
        return "\n".join(self.format_device(d, lim) for d, lim in value)

    def render(self, value: Tuple) -> str:
        return "; ".join(self.format_device(d, lim) for d, lim in value) or "(none)"

    def read(self, text: str) -> Tuple:
        return self.parse(text) if text.strip() else ()

    def writes(self, desired: Tuple, observed_text: Optional[str]) -> List[str]:
        try:
            observed = dict(self.read(observed_text or ""))
        except ValueProblem:
            observed = {}
        wanted = dict(desired)
        out = []
        for device in sorted(set(wanted) | set(observed)):
            limits = wanted.get(device, (MAX,) * 4)
            if observed.get(device, (MAX,) * 4) != limits:
                out.append(self.format_device(device, limits))
        return out


class DeviceLimits(ValueType):
    """v1 blkio.throttle.*_device: "MAJ:MIN N" lines; writing "MAJ:MIN 0" removes a limit."""

    expected = '"MAJ:MIN N" lines'

    def parse(self, raw: Any) -> Tuple:
        if not isinstance(raw, str):
            raise ValueProblem(self.expected, raw)
        return self.read(raw)

    def read(self, text: str) -> Tuple:
        devices = {}
        for line in text.splitlines():
            words = line.split()
            if not words:
                continue
            if len(words) != 2 or not _DEVICE_RE.match(words[0]):
                raise ValueProblem(self.expected, text)
            devices[words[0]] = _read_int(words[1])
        return tuple(sorted((d, v) for d, v in devices.items() if v))

    def format(self, value: Tuple) -> str:
        return "\n".join(f"{d} {v}" for d, v in value)

    def render(self, value: Tuple) -> str:
        return "; ".join(f"{d} {v}" for d, v in value) or "(none)"

    def writes(self, desired: Tuple, observed_text: Optional[str]) -> List[str]:
        try:
            observed = dict(self.read(observed_text or ""))
        except ValueProblem:
            observed = {}
        wanted = dict(desired)
        return [
            f"{device} {wanted.get(device, 0)}"
            for device in sorted(set(wanted) | set(observed))
            if wanted.get(device, 0) != observed.get(device, 0)
        ]
