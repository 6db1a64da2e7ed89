"""cgman delete's command line: specs with or without -g, as cgdelete takes them."""

from __future__ import annotations

import pytest

from cgmand.verbs import UsageError, delete


def test_specs_with_or_without_g():
    assert delete.parse(["-g", "cpu:a", "memory:b", "-r"]) == (["cpu:a", "memory:b"], True)
    assert delete.parse(["-r", "-g", "cpu:a", "memory:b"]) == (["cpu:a", "memory:b"], True)
    assert delete.parse(["cpu:a"]) == (["cpu:a"], False)


def test_nothing_to_delete_is_a_usage_error():
    with pytest.raises(UsageError, match="no group given"):
        delete.parse(["-r"])
