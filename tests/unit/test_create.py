"""cgman create's command line and how its ownership options become a perm table."""

from __future__ import annotations

import pytest

from cgmand.verbs import UsageError, create


def test_options_and_specs():
    assert create.parse(["-a", "root:0", "-g", "cpu:a", "-s", "0660", "-gmemory:b"]) == (
        ["cpu:a", "memory:b"], {"admin": "root:0", "tperm": "0660"})
    assert create.parse(["-a0:0", "-d755", "-gcpu:a"]) == (["cpu:a"], {"admin": "0:0", "dperm": "755"})  # joined


def test_ownership_as_a_perm_table():
    assert create._perm_toml({"admin": "root:", "task": ":7", "dperm": "0775", "tperm": "0660"}) == \
        'admin = { uid = "root", dperm = "0775" }, task = { gid = 7, fperm = "0660" }'
    assert create._perm_toml({}) == ""


@pytest.mark.parametrize("argv, message", [
    (["-a"], "-a needs a value"),
    (["-a", "0:0"], "no group given"),
    (["-g", "cpu:a", "b"], "unexpected argument b"),
])
def test_bad_command_lines(argv, message):
    with pytest.raises(UsageError, match=message):
        create.parse(argv)
