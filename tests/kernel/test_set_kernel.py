"""`cgman set` against the real kernel: knobs validated and converted as in a TOML file, on groups
that exist, with refusals for what set does not do."""

from __future__ import annotations

import pytest

from conftest import home, mount_of

V2_CPU = home("cpu") == "unified"


def test_knobs_are_converted_as_a_config_file_would_be(kenv):
    kenv.applied('[group."web"]\ncpu.weight = 100\npids.max = 10\n')
    kenv.path(home("cpu"), "hand").mkdir()  # made by hand: set works on any existing group
    done = kenv.run("set", "-r", "cpu.shares=512", "-r", "cpu.max=50000 100000", "hand")
    assert done.returncode == 0, done.stderr
    if V2_CPU:
        assert kenv.read("unified", "hand", "cpu.weight") == "50"
        assert kenv.read("unified", "hand", "cpu.max") == "50000 100000"
    else:
        assert kenv.read("cpu", "hand", "cpu.shares") == "512"
        assert kenv.read("cpu", "hand", "cpu.cfs_quota_us") == "50000"
    assert kenv.run("set", "-r", "cpu.weight=300", "hand").returncode == 0
    assert kenv.read(home("cpu"), "hand", "cpu.weight" if V2_CPU else "cpu.shares") == ("300" if V2_CPU else "3072")


def test_a_declared_group_is_set_with_a_warning(kenv):
    kenv.applied('[group."web"]\npids.max = 10\n')
    done = kenv.run("set", "-r", "pids.max=20", "web")
    assert done.returncode == 0 and kenv.read(home("pids"), "web", "pids.max") == "20"
    assert "web is declared in" in done.stderr and "puts its configured values back" in done.stderr


def test_refusals(kenv):
    kenv.applied('[group."web"]\npids.max = 10\n')
    done = kenv.run("set", "-r", "pids.max=lots", "web")
    assert done.returncode == 2 and 'group."web".pids.max' in done.stderr
    done = kenv.run("set", "-r", "pids.max=5", "nope")
    assert done.returncode == 1 and f"no group {kenv.prefix}/nope in the" in done.stderr
    assert not kenv.path(home("pids"), "nope").exists()  # set creates nothing


@pytest.mark.skipif(mount_of("cpu") is not None, reason="cgroup v2: a controller the parent does not enable")
def test_v2_a_controller_not_enabled_is_refused_not_enabled(kenv):
    kenv.applied('[group."web"]\npids.max = 10\n')
    done = kenv.run("set", "-r", "memory.max=1G", "web")
    assert done.returncode == 1 and "does not enable the controller" in done.stderr, done.stderr
    assert "memory" not in kenv.read("unified", "", "cgroup.subtree_control").split()
