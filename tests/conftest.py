"""Tiers: tests/unit (fake trees, anyone) and tests/kernel (the real kernel, root)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


# Set by tests/vm/vm.py in its guests. There, the tests the guest exists for
# must run: a skip would let a VM tier pass without proving anything.
IN_GUEST = os.environ.get("CGMAN_VM_GUEST") == "1"


def _systemd_is_pid1() -> bool:
    try:
        with open("/proc/1/comm") as handle:
            return handle.read().strip() == "systemd"
    except OSError:
        return False


def pytest_collection_modifyitems(config, items):
    need_root = os.geteuid() != 0
    required = os.environ.get("CGMAN_REQUIRE_KERNEL") == "1"
    systemd = _systemd_is_pid1()
    for item in items:
        if f"{os.sep}kernel{os.sep}" not in str(item.fspath):
            continue
        item.add_marker(pytest.mark.kernel)
        if need_root and not required:
            item.add_marker(pytest.mark.skip(reason="kernel tier needs root (sudo make test)"))
        elif item.get_closest_marker("systemd") and not (systemd and IN_GUEST):
            # Only in the throw-away guest: these tests stop and start
            # cgman-groups.service, which on a real host would kill every
            # workload in cgman's groups.
            item.add_marker(pytest.mark.skip(reason="runs only in the systemd test guest: "
                                                    "make test-vm-systemd"))
        elif not item.get_closest_marker("systemd") and systemd and not required:
            # Under systemd, groups live below the delegated unit, not under the
            # tests' own manager.root: these tests run on hosts without systemd.
            item.add_marker(pytest.mark.skip(reason="systemd is PID 1: the host-kernel tier runs "
                                                    "without systemd (make test-vm boots a guest for it)"))


def pytest_sessionstart(session):
    if os.environ.get("CGMAN_REQUIRE_KERNEL") == "1" and os.geteuid() != 0:
        raise pytest.UsageError("CGMAN_REQUIRE_KERNEL=1 but not running as root: the kernel tier cannot run")
