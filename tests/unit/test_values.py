"""Value types: config parsing, kernel formatting, kernel read-back, writes() and direction()."""

from __future__ import annotations

import pytest

from cgmand import values as v
from cgmand.values import LOWER, MAX, NEITHER, NEUTRAL, RAISE, ValueProblem

K, M, G, T = 2**10, 2**20, 2**30, 2**40
V1_UNLIMITED = "9223372036854771712"  # PAGE_COUNTER_MAX * 4096, what v1 reads back for -1

SIZE_EXPECTED = 'a size: bytes, or a whole number with K, M, G, T (1024-based), or "max"'
CPULIST_EXPECTED = 'a CPU/node list such as "0-3,8" or a single number'
CPUMAX_EXPECTED = (
    'cpu bandwidth "QUOTA PERIOD" in microseconds, e.g. "50000 100000", or "max"; '
    "QUOTA at least 1000, PERIOD from 1000 to 1000000 (default 100000)"
)
IOMAX_EXPECTED = (
    'device limits such as "8:0 rbps=10M wiops=100" (keys rbps, wbps, riops, wiops; '
    'numbers, sizes or "max"), or a list of them'
)


def problem(vtype: v.ValueType, raw) -> str:
    """The message of the ValueProblem that parsing ``raw`` raises."""
    with pytest.raises(ValueProblem) as caught:
        vtype.parse(raw)
    return str(caught.value)


# --- show() and order() ------------------------------------------------------------------


@pytest.mark.parametrize("raw, shown", [
    (True, "true"),
    (False, "false"),
    ("2G", '"2G"'),
    ("a\nb", '"a\\nb"'),
    (42, "42"),
    (1.5, "1.5"),
    (["8:0 1", 2], '["8:0 1", 2]'),
    ({"a": 1}, "a table"),
])
def test_show_renders_values_as_toml_spells_them(raw, shown):
    """show() renders a config value the way the user wrote it in TOML."""
    assert v.show(raw) == shown


def test_value_problem_names_expected_and_found():
    """ValueProblem keeps expected/found and its message is 'expected X; found Y'."""
    err = ValueProblem("a thing", "x")
    assert (err.expected, err.found, str(err)) == ("a thing", "x", 'expected a thing; found "x"')


def test_order_puts_max_above_every_number():
    """order() sorts MAX above any integer."""
    assert v.order(MAX) == float("inf")
    assert v.order(2**62) < v.order(MAX)
    assert v.order(5) == 5.0


# --- Int ---------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, parsed", [(1, 1), (10000, 10000), ("250", 250), (" 42 ", 42)])
def test_int_accepts_integers_and_decimal_strings(raw, parsed):
    """Int takes TOML integers and decimal strings within its range."""
    assert v.Int(1, 10000, "a weight").parse(raw) == parsed


def test_int_accepts_negative_numbers_in_range():
    """Int with a negative range (cpu.weight.nice) takes negative ints and strings."""
    nice = v.Int(-20, 19, "a nice value")
    assert (nice.parse(-20), nice.parse("-1"), nice.parse(19)) == (-20, -1, 19)


@pytest.mark.parametrize("raw, found", [
    (0, "0"),
    (10001, "10001"),
    (True, "true"),
    (False, "false"),
    (1.0, "1.0"),
    ("abc", '"abc"'),
    ("1e3", '"1e3"'),
    ("4 2", '"4 2"'),
    ("", '""'),
    ([1], "[1]"),
    ({}, "a table"),
])
def test_int_rejects_out_of_range_booleans_floats_and_text(raw, found):
    """Int refuses values out of range, booleans, floats and non-numbers, naming the range."""
    assert problem(v.Int(1, 10000, "a weight"), raw) == f"expected a weight from 1 to 10000; found {found}"


def test_int_reads_kernel_text_with_newline():
    """Int reads the kernel's '100\\n'."""
    assert v.Int(1, 10000).read("100\n") == 100


def test_int_read_rejects_garbage():
    """Int.read refuses text that is not an integer."""
    with pytest.raises(ValueProblem) as caught:
        v.Int(1, 10).read("abc\n")
    assert str(caught.value) == 'expected an integer; found "abc"'


# --- IntOrMax ----------------------------------------------------------------------------


@pytest.mark.parametrize("raw, parsed", [
    ("max", MAX), (-1, MAX), ("-1", MAX), (0, 0), (4096, 4096), ("4096", 4096), (2**31, 2**31),
])
def test_int_or_max_accepts_numbers_max_and_minus_one(raw, parsed):
    """IntOrMax takes integers in range, "max", and -1 (cgconfig's "unlimited")."""
    assert v.IntOrMax(0, 2**31, what="a task count").parse(raw) == parsed


@pytest.mark.parametrize("raw, found", [
    (-2, "-2"), (2**31 + 1, "2147483649"), (True, "true"), ("MAX", '"MAX"'), ("infinity", '"infinity"'),
])
def test_int_or_max_rejects_with_range_and_max_in_message(raw, found):
    """IntOrMax's message names the range and "max"."""
    expected = 'a task count from 0 to 2147483648, or "max"'
    assert problem(v.IntOrMax(0, 2**31, what="a task count"), raw) == f"expected {expected}; found {found}"


@pytest.mark.parametrize("max_text, value, text", [
    ("max", MAX, "max"), ("max", 100, "100"), ("-1", MAX, "-1"), ("-1", 50000, "50000"),
])
def test_int_or_max_formats_max_in_the_kernel_spelling(max_text, value, text):
    """IntOrMax writes MAX as its max_text: "max" on v2, "-1" on v1."""
    assert v.IntOrMax(0, 2**63 - 1, max_text=max_text).format(value) == text


@pytest.mark.parametrize("text, value", [
    ("max\n", MAX), ("-1\n", MAX), (V1_UNLIMITED + "\n", MAX), (str(2**63 - 1), MAX), ("100\n", 100),
])
def test_int_or_max_reads_every_unlimited_spelling_as_max(text, value):
    """IntOrMax reads "max", "-1" and v1's huge page-counter maximum as MAX."""
    assert v.IntOrMax(0, 2**63 - 1, max_text="-1").read(text) == value


def test_int_or_max_renders_max_as_max_even_on_v1():
    """The human form of MAX is "max" whatever the kernel spelling."""
    assert v.IntOrMax(0, 10, max_text="-1").render(MAX) == "max"


@pytest.mark.parametrize("old, new, direction", [
    (100, 200, RAISE), (200, 100, LOWER), (100, MAX, RAISE), (MAX, 100, LOWER),
])
def test_int_or_max_direction(old, new, direction):
    """IntOrMax is hierarchical: a larger value (or max) raises, a smaller one lowers."""
    assert v.IntOrMax(0, 2**31).direction(old, new) == direction


# --- Size --------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, parsed", [
    (0, 0),
    (4096, 4096),
    ("4096", 4096),
    ("1K", K),
    ("1k", K),
    ("512M", 512 * M),
    ("2G", 2 * G),
    ("2g", 2 * G),
    ("1T", T),
    (" 3G ", 3 * G),
    ("max", MAX),
    (-1, MAX),
    ("-1", MAX),
])
def test_size_accepts_bytes_suffixes_and_max(raw, parsed):
    """Size takes bytes, 1024-based K/M/G/T suffixes (either case), "max" and -1."""
    assert v.Size().parse(raw) == parsed


@pytest.mark.parametrize("raw, found", [
    ("2X", '"2X"'),
    ("1.5G", '"1.5G"'),
    ("1 G", '"1 G"'),
    ("1KB", '"1KB"'),
    ("G", '"G"'),
    ("", '""'),
    (-2, "-2"),
    ("-2", '"-2"'),
    (True, "true"),
    (1.5, "1.5"),
    (["1G"], '["1G"]'),
])
def test_size_rejects_bad_sizes_with_the_size_message(raw, found):
    """Size refuses other text, negative numbers, booleans and floats with one message."""
    assert problem(v.Size(), raw) == f"expected {SIZE_EXPECTED}; found {found}"


@pytest.mark.parametrize("max_text, value, text", [
    ("max", MAX, "max"), ("-1", MAX, "-1"), ("max", 2 * G, "2147483648"),
])
def test_size_formats_plain_bytes(max_text, value, text):
    """Size writes plain bytes, and MAX as "max" (v2) or "-1" (v1)."""
    assert v.Size(max_text=max_text).format(value) == text


@pytest.mark.parametrize("text, value", [
    ("max\n", MAX), ("-1\n", MAX), (V1_UNLIMITED + "\n", MAX), ("536870912\n", 512 * M), ("0\n", 0),
])
def test_size_reads_v1_unlimited_as_max(text, value):
    """Size reads v1's 9223372036854771712 and "max" as MAX."""
    assert v.Size(max_text="-1").read(text) == value


@pytest.mark.parametrize("value, rendered", [
    (MAX, "max"), (2 * G, "2G"), (512 * M, "512M"), (K, "1K"), (1536, "1536"), (0, "0"), (3 * T, "3T"),
])
def test_size_renders_with_the_largest_exact_suffix(value, rendered):
    """Size's human form uses the largest suffix that divides the value exactly."""
    assert v.Size().render(value) == rendered


@pytest.mark.parametrize("value, granularity, kept", [
    (4097, 4096, 4096), (4096, 4096, 4096), (4095, 4096, 0), (MAX, 4096, MAX), (3 * M, 2 * M, 2 * M),
])
def test_round_size_rounds_down_to_whole_pages(value, granularity, kept):
    """round_size keeps whole pages (or huge pages), rounding down; MAX stays MAX."""
    assert v.round_size(value, granularity) == kept


# --- Bool01 ------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, parsed", [(True, 1), (False, 0), (1, 1), (0, 0), ("1", 1), ("0", 0)])
def test_bool01_accepts_booleans_and_zero_one(raw, parsed):
    """Bool01 takes true/false and 0/1 (as numbers or strings)."""
    assert v.Bool01().parse(raw) == parsed


@pytest.mark.parametrize("raw, found", [(2, "2"), (-1, "-1"), ("yes", '"yes"'), ("true", '"true"')])
def test_bool01_rejects_other_values(raw, found):
    """Bool01 refuses anything but true/false/0/1."""
    assert problem(v.Bool01(), raw) == f"expected true/false or 0/1; found {found}"


# --- Choice ------------------------------------------------------------------------------


def test_choice_accepts_listed_words_only():
    """Choice takes one of its words and refuses others, listing them."""
    choice = v.Choice("root", "member")
    assert choice.parse("member") == "member"
    assert problem(choice, "isolated") == 'expected one of "root", "member"; found "isolated"'


# --- CpuList -----------------------------------------------------------------------------


@pytest.mark.parametrize("raw, cpus", [
    ("0-3,8", {0, 1, 2, 3, 8}),
    ("0", {0}),
    (5, {5}),
    (0, {0}),
    ("0-3, 8", {0, 1, 2, 3, 8}),
    ("2-2", {2}),
    ("1,1,2", {1, 2}),
    ("0-1,4-5", {0, 1, 4, 5}),
])
def test_cpulist_parses_kernel_list_format(raw, cpus):
    """CpuList parses "0-3,8" style lists and single numbers into a set."""
    assert v.CpuList().parse(raw) == frozenset(cpus)


@pytest.mark.parametrize("raw, found", [
    ("", '""'), ("  ", '"  "'), ("a", '"a"'), ("0,,1", '"0,,1"'), ("0-", '"0-"'), ("-1", '"-1"'),
    (-1, "-1"), (True, "true"), ([0, 1], "[0, 1]"), (1.0, "1.0"),
])
def test_cpulist_rejects_bad_lists(raw, found):
    """CpuList refuses empty text, stray words, negative numbers and booleans."""
    assert problem(v.CpuList(), raw) == f"expected {CPULIST_EXPECTED}; found {found}"


def test_cpulist_rejects_descending_range_saying_why():
    """A high-low range is refused with a note that ranges go low-high."""
    assert problem(v.CpuList(), "3-1") == f'expected {CPULIST_EXPECTED} (ranges go low-high); found "3-1"'


@pytest.mark.parametrize("cpus, text", [
    ({0, 1, 2, 3, 8}, "0-3,8"), ({5}, "5"), ({0, 2, 4}, "0,2,4"), ({1, 2}, "1-2"), (set(), ""),
    ({7, 6, 5, 0}, "0,5-7"),
])
def test_cpulist_formats_compact_ranges(cpus, text):
    """CpuList writes sorted, compacted ranges like the kernel prints them."""
    assert v.CpuList().format(frozenset(cpus)) == text


@pytest.mark.parametrize("text, cpus", [("0-3,8\n", {0, 1, 2, 3, 8}), ("\n", set()), ("", set())])
def test_cpulist_reads_empty_kernel_file_as_empty_set(text, cpus):
    """An empty v1 cpuset file reads back as the empty set."""
    assert v.CpuList().read(text) == frozenset(cpus)


@pytest.mark.parametrize("old, new, direction", [
    ({0, 1}, {0, 1, 2}, RAISE), ({0, 1, 2}, {0, 1}, LOWER), ({0, 1}, {2, 3}, NEITHER), ({0, 1}, {1, 2}, NEITHER),
    (set(), {0}, RAISE),
])
def test_cpulist_direction_by_set_inclusion(old, new, direction):
    """A superset raises, a subset lowers, an unrelated set is neither."""
    assert v.CpuList().direction(frozenset(old), frozenset(new)) == direction


def test_cpulist_widen_is_the_union():
    """widen() gives a set that contains both old and new, the step between unrelated cpusets."""
    assert v.CpuList.widen(frozenset({0, 1}), frozenset({4})) == frozenset({0, 1, 4})


def test_cpulist_unset_is_empty_and_hierarchical():
    """A new v1 cpuset is empty, and cpusets are bounded by their parent."""
    assert v.CpuList.unset == frozenset() and v.CpuList.hierarchical is True


# --- CpuMax ------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, parsed", [
    ("max", (MAX, 100000)),
    ("-1", (MAX, 100000)),
    (-1, (MAX, 100000)),
    ("50000", (50000, 100000)),
    (50000, (50000, 100000)),
    ("50000 100000", (50000, 100000)),
    ("max 50000", (MAX, 50000)),
    ("200000 100000", (200000, 100000)),
    ("1000 1000", (1000, 1000)),
    ("1000 1000000", (1000, 1000000)),
])
def test_cpumax_accepts_max_quota_and_quota_period(raw, parsed):
    """cpu.max takes "max", a quota (default period 100000) or "QUOTA PERIOD"."""
    assert v.CpuMax().parse(raw) == parsed


@pytest.mark.parametrize("raw, found", [
    ("999", '"999"'),
    (999, "999"),
    ("50000 999", '"50000 999"'),
    ("50000 1000001", '"50000 1000001"'),
    ("50000 100000 1", '"50000 100000 1"'),
    ("max max", '"max max"'),
    ("half", '"half"'),
    ("", '""'),
    (True, "true"),
    (0.5, "0.5"),
])
def test_cpumax_rejects_bad_quota_or_period(raw, found):
    """cpu.max refuses quotas under 1 ms, periods outside 1 ms..1 s and other text."""
    assert problem(v.CpuMax(), raw) == f"expected {CPUMAX_EXPECTED}; found {found}"


@pytest.mark.parametrize("value, text", [((MAX, 100000), "max 100000"), ((50000, 100000), "50000 100000")])
def test_cpumax_formats_quota_and_period(value, text):
    """cpu.max is written as "QUOTA PERIOD" with "max" for no limit."""
    assert v.CpuMax().format(value) == text


def test_cpumax_read_rejects_a_lone_quota():
    """The kernel always prints both numbers; one alone is not a read-back."""
    with pytest.raises(ValueProblem):
        v.CpuMax().read("50000\n")


@pytest.mark.parametrize("old, new, direction", [
    ((50000, 100000), (100000, 100000), RAISE),
    ((50000, 100000), (25000, 100000), LOWER),
    ((50000, 100000), (50000, 200000), LOWER),
    ((MAX, 100000), (50000, 100000), LOWER),
    ((50000, 100000), (MAX, 100000), RAISE),
])
def test_cpumax_direction_follows_the_quota_period_ratio(old, new, direction):
    """cpu.max raises or lowers by its share of a CPU (quota / period)."""
    assert v.CpuMax().direction(old, new) == direction


def test_cpumax_unset_is_no_limit_default_period():
    """A new group has no quota and the default 100 ms period."""
    assert v.CpuMax.unset == (MAX, 100000)


# --- Weight / OomControl -----------------------------------------------------------------


@pytest.mark.parametrize("plain, value, text", [(False, 100, "default 100"), (True, 100, "100")])
def test_weight_formats_default_prefix_unless_plain(plain, value, text):
    """io.weight is written "default N"; the BFQ files take a plain number."""
    assert v.Weight(1, 10000, plain=plain).format(value) == text


@pytest.mark.parametrize("text, value", [
    ("default 100\n8:0 50\n", 100), ("default 250\n", 250), ("8:0 50\ndefault 75\n", 75), ("100\n", 100),
])
def test_weight_reads_default_line_and_ignores_device_lines(text, value):
    """io.weight reads back "default N" plus per-device lines; the default is the value."""
    assert v.Weight(1, 10000).read(text) == value


def test_weight_read_without_default_is_a_problem():
    """A weight read-back with only device lines is unreadable."""
    with pytest.raises(ValueProblem):
        v.Weight(1, 10000).read("8:0 50\n")


def test_weight_parse_message_names_the_weight_range():
    """Weight's config message says 'a weight from LO to HI'."""
    assert problem(v.Weight(1, 1000), 0) == "expected a weight from 1 to 1000; found 0"


@pytest.mark.parametrize("text, value", [
    ("oom_kill_disable 0\nunder_oom 0\n", 0),
    ("oom_kill_disable 1\nunder_oom 0\noom_kill 3\n", 1),
])
def test_oom_control_reads_oom_kill_disable_line(text, value):
    """memory.oom_control reads back as 'oom_kill_disable N' among other lines."""
    assert v.OomControl().read(text) == value


def test_oom_control_read_without_the_line_is_a_problem():
    """memory.oom_control text without oom_kill_disable is unreadable."""
    with pytest.raises(ValueProblem):
        v.OomControl().read("under_oom 0\n")


# --- IoMax -------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, parsed", [
    ("8:0 rbps=10M wiops=100", (("8:0", (10 * M, MAX, MAX, 100)),)),
    ("8:0 rbps=1048576 wbps=2M riops=10 wiops=max", (("8:0", (M, 2 * M, 10, MAX)),)),
    (["8:16 wbps=1G", "8:0 riops=5"], (("8:0", (MAX, MAX, 5, MAX)), ("8:16", (MAX, G, MAX, MAX)))),
    ("8:0 rbps=1M\n8:16 wiops=7\n", (("8:0", (M, MAX, MAX, MAX)), ("8:16", (MAX, MAX, MAX, 7)))),
    ("8:0 rbps=max wbps=max riops=max wiops=max", ()),
    ("", ()),
    ([], ()),
])
def test_iomax_parses_device_lines_sorted_and_drops_all_max(raw, parsed):
    """io.max takes one line or a list, sorts devices, and drops devices with no limit."""
    assert v.IoMax().parse(raw) == parsed


@pytest.mark.parametrize("raw, found", [
    ("sda rbps=1M", '"sda rbps=1M"'),
    ("8:0", '"8:0"'),
    ("8:0 rbps", '"8:0 rbps"'),
    ("8:0 speed=1", '"8:0 speed=1"'),
    ("8:0 rbps=fast", '"8:0 rbps=fast"'),
    ("8:0 riops=1K", '"8:0 riops=1K"'),
    (5, "5"),
    (["8:0 rbps=1", 5], '["8:0 rbps=1", 5]'),
])
def test_iomax_rejects_bad_lines_naming_the_line(raw, found):
    """io.max refuses bad devices, keys and numbers, quoting the offending line."""
    assert problem(v.IoMax(), raw) == f"expected {IOMAX_EXPECTED}; found {found}"


def test_iomax_rejects_a_device_given_twice():
    """Each device may appear once in io.max."""
    assert problem(v.IoMax(), ["8:0 rbps=1", "8:0 wbps=2"]) == (
        f'expected {IOMAX_EXPECTED} with each device once; found "8:0 wbps=2"')


def test_iomax_formats_one_line_per_device_with_all_four_keys():
    """io.max is written as full 'MAJ:MIN rbps= wbps= riops= wiops=' lines."""
    value = (("8:0", (M, MAX, MAX, 100)), ("8:16", (MAX, 5, MAX, MAX)))
    assert v.IoMax().format(value) == (
        "8:0 rbps=1048576 wbps=max riops=max wiops=100\n8:16 rbps=max wbps=5 riops=max wiops=max")


@pytest.mark.parametrize("value, rendered", [
    ((("8:0", (M, MAX, MAX, 100)),), "8:0 rbps=1048576 wbps=max riops=max wiops=100"),
    ((), "(none)"),
])
def test_iomax_render(value, rendered):
    """io.max's human form is '; '-joined lines, or (none)."""
    assert v.IoMax().render(value) == rendered


# --- DeviceLimits (v1 blkio.throttle.*) --------------------------------------------------


@pytest.mark.parametrize("text, value", [
    ("8:0 1048576\n", (("8:0", M),)),
    ("8:16 5\n8:0 7\n", (("8:0", 7), ("8:16", 5))),
    ("8:0 0\n", ()),
    ("", ()),
])
def test_device_limits_reads_lines_and_drops_zero(text, value):
    """v1 throttle files read as sorted (device, limit) pairs; 0 means no limit."""
    assert v.DeviceLimits().read(text) == value


@pytest.mark.parametrize("text", ["8:0\n", "sda 5\n", "8:0 5 6\n", "8:0 x\n"])
def test_device_limits_read_rejects_malformed_lines(text):
    """Malformed throttle lines are unreadable."""
    with pytest.raises(ValueProblem):
        v.DeviceLimits().read(text)


def test_device_limits_format_and_render():
    """Throttle values are written as 'MAJ:MIN N' lines."""
    value = (("8:0", 7), ("8:16", 5))
    assert v.DeviceLimits().format(value) == "8:0 7\n8:16 5"
    assert v.DeviceLimits().render(value) == "8:0 7; 8:16 5"
    assert v.DeviceLimits().render(()) == "(none)"


# --- round trips: format(parse(x)) reads back as parse(x) --------------------------------


ROUND_TRIPS = [
    (v.Int(1, 10000), 250),
    (v.Int(-20, 19), "-5"),
    (v.IntOrMax(0, 2**31), "max"),
    (v.IntOrMax(0, 2**31), 4096),
    (v.IntOrMax(1000, 2**63 - 1, max_text="-1"), -1),
    (v.IntOrMax(1000, 2**63 - 1, max_text="-1"), 50000),
    (v.Size(), "2G"),
    (v.Size(), "max"),
    (v.Size(max_text="-1"), "max"),
    (v.Size(max_text="-1"), "512M"),
    (v.Size(max_text="-1"), 0),
    (v.Bool01(), True),
    (v.Bool01(), 0),
    (v.Choice("a", "b"), "b"),
    (v.CpuList(), "0-3,8"),
    (v.CpuList(), "7,1,2,3"),
    (v.CpuList(), 0),
    (v.CpuMax(), "max"),
    (v.CpuMax(), "50000 100000"),
    (v.CpuMax(), "max 20000"),
    (v.Weight(1, 10000), 100),
    (v.Weight(1, 1000, plain=True), 500),
    (v.IoMax(), "8:0 rbps=10M wiops=100"),
    (v.IoMax(), ["8:16 wbps=1G", "8:0 riops=5 rbps=max"]),
    (v.IoMax(), ""),
    (v.DeviceLimits(), "8:0 1048576\n8:16 5"),
]


@pytest.mark.parametrize("vtype, raw", ROUND_TRIPS, ids=lambda x: type(x).__name__ if isinstance(x, v.ValueType) else repr(x))
def test_format_then_read_gives_the_parsed_value(vtype, raw):
    """What cgman writes for a value reads back as that same value."""
    value = vtype.parse(raw)
    assert vtype.read(vtype.format(value) + "\n") == value


@pytest.mark.parametrize("vtype, raw", ROUND_TRIPS, ids=lambda x: type(x).__name__ if isinstance(x, v.ValueType) else repr(x))
def test_writes_nothing_when_the_kernel_holds_the_formatted_value(vtype, raw):
    """writes() is empty right after the formatted value was written."""
    value = vtype.parse(raw)
    assert vtype.writes(value, vtype.format(value) + "\n") == []


# --- writes() ----------------------------------------------------------------------------


@pytest.mark.parametrize("vtype, desired, observed, writes", [
    (v.Int(1, 10000), 100, "100\n", []),
    (v.Int(1, 10000), 100, "50\n", ["100"]),
    (v.Int(1, 10000), 100, None, ["100"]),
    (v.Int(1, 10000), 100, "garbage\n", ["100"]),
    (v.Size(max_text="-1"), MAX, V1_UNLIMITED + "\n", []),
    (v.Size(max_text="-1"), MAX, "4096\n", ["-1"]),
    (v.Size(max_text="-1"), 4096, V1_UNLIMITED + "\n", ["4096"]),
    (v.Size(), MAX, "max\n", []),
    (v.Weight(1, 10000), 100, "default 100\n8:0 50\n", []),
    (v.Weight(1, 10000), 200, "default 100\n8:0 50\n", ["default 200"]),
    (v.Weight(1, 1000, plain=True), 50, "50\n", []),
    (v.OomControl(), 0, "oom_kill_disable 0\nunder_oom 0\n", []),
    (v.OomControl(), 1, "oom_kill_disable 0\nunder_oom 0\n", ["1"]),
    (v.CpuList(), frozenset({0, 1, 2, 3, 8}), "0-3,8\n", []),
    (v.CpuList(), frozenset({0}), "\n", ["0"]),
    (v.CpuMax(), (MAX, 100000), "max 100000\n", []),
    (v.CpuMax(), (50000, 100000), "max 100000\n", ["50000 100000"]),
])
def test_writes_for_single_value_files(vtype, desired, observed, writes):
    """Single-value files: nothing when in sync, else the formatted value (also when unreadable)."""
    assert vtype.writes(desired, observed) == writes


IOMAX_LINE = "8:0 rbps=1048576 wbps=max riops=max wiops=100"


@pytest.mark.parametrize("desired, observed, writes", [
    ((("8:0", (M, MAX, MAX, 100)),), "", [IOMAX_LINE]),
    ((("8:0", (M, MAX, MAX, 100)),), None, [IOMAX_LINE]),
    ((("8:0", (M, MAX, MAX, 100)),), IOMAX_LINE + "\n", []),
    ((("8:0", (M, MAX, MAX, 100)),), "8:0 rbps=1048576\n", [IOMAX_LINE]),
    ((), "8:0 rbps=1048576 wbps=max riops=max wiops=100\n", ["8:0 rbps=max wbps=max riops=max wiops=max"]),
    ((), "", []),
    ((), "8:0 rbps=max wbps=max riops=max wiops=max\n", []),
    ((("8:0", (M, MAX, MAX, 100)),), IOMAX_LINE + "\n8:16 rbps=max wbps=5 riops=max wiops=max\n",
     ["8:16 rbps=max wbps=max riops=max wiops=max"]),
    ((("8:0", (M, MAX, MAX, 100)), ("8:16", (MAX, 5, MAX, MAX))), IOMAX_LINE + "\n",
     ["8:16 rbps=max wbps=5 riops=max wiops=max"]),
    ((("8:0", (M, MAX, MAX, 100)),), "unreadable junk\n", [IOMAX_LINE]),
])
def test_iomax_writes_one_line_per_changed_device(desired, observed, writes):
    """io.max writes only changed devices; a removed device is written back to all-max."""
    assert v.IoMax().writes(desired, observed) == writes


@pytest.mark.parametrize("desired, observed, writes", [
    ((("8:0", M),), "", ["8:0 1048576"]),
    ((("8:0", M),), None, ["8:0 1048576"]),
    ((("8:0", M),), "8:0 1048576\n", []),
    ((("8:0", M),), "8:0 5\n", ["8:0 1048576"]),
    ((), "8:0 1048576\n", ["8:0 0"]),
    ((), "8:0 1048576\n8:16 5\n", ["8:0 0", "8:16 0"]),
    ((("8:16", 5),), "8:0 1048576\n8:16 5\n", ["8:0 0"]),
    ((), "", []),
    ((("8:0", M),), "junk\n", ["8:0 1048576"]),
])
def test_device_limits_writes_zero_to_remove_a_device(desired, observed, writes):
    """v1 throttle files write only changed devices, and 'MAJ:MIN 0' removes one."""
    assert v.DeviceLimits().writes(desired, observed) == writes


# --- direction() / hierarchical ----------------------------------------------------------


@pytest.mark.parametrize("vtype", [
    v.Int(1, 10), v.Bool01(), v.Choice("a"), v.Weight(1, 10), v.OomControl(), v.IoMax(), v.DeviceLimits(),
])
def test_non_hierarchical_types_are_neutral(vtype):
    """Types a parent does not bound have no direction."""
    assert vtype.hierarchical is False
    assert vtype.direction(1, 2) == NEUTRAL


@pytest.mark.parametrize("vtype, unset", [
    (v.IntOrMax(0, 10), MAX), (v.Size(), MAX), (v.CpuList(), frozenset()), (v.CpuMax(), (MAX, 100000)),
])
def test_hierarchical_types_and_their_unset_value(vtype, unset):
    """Hierarchical types say what a new cgroup holds before cgman writes."""
    assert vtype.hierarchical is True
    assert vtype.unset == unset


@pytest.mark.parametrize("old, new, direction", [(M, G, RAISE), (G, M, LOWER), (MAX, G, LOWER), (G, MAX, RAISE)])
def test_size_direction(old, new, direction):
    """Size raises towards max and lowers towards 0."""
    assert v.Size().direction(old, new) == direction


@pytest.mark.parametrize("vtype, raw", [
    (v.Size(), "16E"), (v.Size(), 2**64), (v.Size(), "8E"),
    (v.Size(), -1.0), (v.IntOrMax(0, 10), -1.0), (v.Bool01(), 1.0), (v.Bool01(), 0.0),
    (v.CpuList(), "0-65536"), (v.CpuList(), 70000),
])
def test_out_of_range_sizes_floats_and_huge_cpu_lists_are_refused(vtype, raw):
    """Sizes above 2^63-1, floats that equal -1/0/1, and CPU numbers >= 65536 are not accepted."""
    with pytest.raises(v.ValueProblem):
        vtype.parse(raw)


@pytest.mark.parametrize("line", ["8:0 rbps=0", "8:0 wiops=0", "8:0 riops=0"])
def test_iomax_refuses_zero_limits(line):
    """io.max limits are at least 1: v1 reads 0 as "no limit", so "max" must say that."""
    with pytest.raises(v.ValueProblem) as caught:
        v.IoMax().parse(line)
    assert '(at least 1; "max" for no limit)' in str(caught.value)


def test_device_limits_parse_refuses_non_text():
    """DeviceLimits.parse reports a ValueProblem, not a crash, for a non-string."""
    with pytest.raises(v.ValueProblem):
        v.DeviceLimits().parse(5)
