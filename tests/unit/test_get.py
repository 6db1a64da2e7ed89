"""cgman get: its command line, and output as cgget's (header, tab-indented lines, -n, -v)."""

from __future__ import annotations

import pytest

from cgmand.verbs import UsageError, get


def test_options_in_any_order():
    names, controllers, flags, groups = get.parse(["web", "-r", "cpu.weight", "-n", "db", "-r", "pids.max"])
    assert (names, controllers, flags, groups) == (["cpu.weight", "pids.max"], set(), {"no-header"}, ["web", "db"])
    assert get.parse(["-g", "cpu,blkio", "-a", "web"])[1:3] == ({"cpu", "io"}, {"all"})


@pytest.mark.parametrize("argv, message", [
    (["-r", "cpu.weight"], "no group given"),
    (["-r"], "-r needs a value"),
    (["-g", "cpux", "web"], "-g cpux: unknown controller"),
    (["-g", "cpu:web"], "get takes -g CONTROLLERS and the groups as arguments"),
    (["-r", "cpu.weight", "-a", "web"], "does not combine with -g or -a"),
    (["-x", "web"], "unknown option -x"),
])
def test_bad_command_lines(argv, message):
    with pytest.raises(UsageError, match=message):
        get.parse(argv)


FOUND = [{"group": "web", "values": {"cpu.stat": "a 1\nb 2", "cpu.weight": "200"}},
         {"group": "db", "values": {"cpu.weight": "50"}}]


def test_output_is_cggets():
    assert get.render(FOUND, False, False) == "web:\ncpu.stat: a 1\n\tb 2\ncpu.weight: 200\n\ndb:\ncpu.weight: 50\n\n"
    assert get.render(FOUND, True, False) == "cpu.stat: a 1\n\tb 2\ncpu.weight: 200\ncpu.weight: 50\n"
    assert get.render(FOUND, True, True) == "a 1\n\tb 2\n200\n50\n"
