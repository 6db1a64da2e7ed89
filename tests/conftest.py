"""Tiers: tests/unit (fake trees, anyone) and tests/kernel (the real kernel, root)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


def pytest_collection_modifyitems(config, items):
    need_root = os.geteuid() != 0
    required = os.environ.get("CGMAN_REQUIRE_KERNEL") == "1"
    for item in items:
        if f"{os.sep}kernel{os.sep}" not in str(item.fspath):
            continue
        item.add_marker(pytest.mark.kernel)
        if need_root and not required:
            item.add_marker(pytest.mark.skip(reason="kernel tier needs root (sudo make test)"))


def pytest_sessionstart(session):
    if os.environ.get("CGMAN_REQUIRE_KERNEL") == "1" and os.geteuid() != 0:
        raise pytest.UsageError("CGMAN_REQUIRE_KERNEL=1 but not running as root: the kernel tier cannot run")
