"""cgman set: its command line, and values read as the same key in a TOML file would be."""

from __future__ import annotations

import pytest

from cgmand.roots import Roots
from cgmand.verbs import UsageError, setting


def test_pairs_groups_and_force_in_any_order():
    assert setting.parse(["web", "-r", "cpu.weight=200", "--force", "-r", "cpu.max=50000 100000", "db"]) == \
        setting.Command([("cpu.weight", "200"), ("cpu.max", "50000 100000")], ["web", "db"], True)
    assert setting.parse(["-r", "io.max=8:0 rbps=1M", "web"]).pairs == [("io.max", "8:0 rbps=1M")]  # = in VALUE
    assert setting.parse(["-rpids.max=5", "-R", "web"]) == setting.Command([("pids.max", "5")], ["web"],
                                                                           recursive=True)
    assert setting.parse(["--copy-from", "db", "web"]) == setting.Command([], ["web"], source="db")
    assert setting.parse(["--copy-from=db", "web", "x"]).groups == ["web", "x"]


@pytest.mark.parametrize("argv, message", [
    (["web"], "no -r KNOB=VALUE given"),
    (["-r", "cpu.weight=200"], "no group given"),
    (["-r", "cpu.weight", "web"], "expected KNOB=VALUE"),
    (["-r", "cpu.weight=", "web"], "expected KNOB=VALUE"),
    (["-r"], "-r needs KNOB=VALUE"),
    (["--copy-from", "db", "-r", "pids.max=1", "web"], "-r and --copy-from exclude each other"),
    (["--copy-from", "db", "--copy-from", "x", "web"], "--copy-from is given twice"),
    (["--copy-from"], "--copy-from needs a group"),
    (["-x", "web"], "unknown option -x"),
])
def test_bad_command_lines(argv, message):
    with pytest.raises(UsageError, match=message):
        setting.parse(argv)


def test_values_are_typed_as_toml_would_type_them(tmp_path):
    (tmp_path / "conf").mkdir()
    roots = Roots(config_dir=str(tmp_path / "conf"), run_root=str(tmp_path))
    desired = setting.desired_of([("cpu.weight", "200"), ("memory.max", "1G"), ("cpu.max", "max")], ["web"], roots)
    assert dict(desired.groups["web"].settings)["cpu.weight"] == 200
    with pytest.raises(UsageError, match=r'command line: group."web".cpu.weight: expected a weight from 1 to 10000; '
                                         r'found "lots"'):
        setting.desired_of([("cpu.weight", "lots")], ["web"], roots)
    with pytest.raises(UsageError, match='unknown knob "cpu.wieght"'):
        setting.desired_of([("cpu.wieght", "1")], ["web"], roots)
