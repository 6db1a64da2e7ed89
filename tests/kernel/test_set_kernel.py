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


def test_copy_from_copies_every_knob_the_source_has(kenv):
    """cgset --copy-from: cpu, memory and pids values of one group onto others, as cgset does."""
    kenv.applied('[group."model"]\ncpu.weight = 300\nmemory.max = "64M"\npids.max = 42\n'
                 '[group."a"]\ncpu.weight = 100\nmemory.max = "1G"\npids.max = 10\n')
    kenv.path(home("cpu"), "hand").mkdir()
    for controller in ("memory", "pids"):
        if home(controller) != home("cpu"):
            kenv.path(home(controller), "hand").mkdir()
    done = kenv.run("set", "--copy-from", "model", "a", "hand")
    assert done.returncode == 0, done.stderr
    for group in ("a", "hand"):
        assert kenv.read(home("pids"), group, "pids.max") == "42"
        memory = "memory.max" if home("memory") == "unified" else "memory.limit_in_bytes"
        assert kenv.read(home("memory"), group, memory) == str(64 << 20)
        cpu = "cpu.weight" if V2_CPU else "cpu.shares"
        assert kenv.read(home("cpu"), group, cpu) == kenv.read(home("cpu"), "model", cpu)
    if home("memory") != home("cpu"):  # v1: a group in the cpu hierarchy alone gets the cpu knobs alone
        kenv.path(home("cpu"), "cpu-only").mkdir()
        partial = kenv.run("set", "--copy-from", "model", "cpu-only")
        assert partial.returncode == 0 and "cpu-only has no " in partial.stderr, partial.stderr
        assert "memory.limit_in_bytes" in partial.stderr.split("has no ")[1]
    refused = kenv.run("set", "--copy-from", "missing", "a")
    assert refused.returncode == 1 and f"no group {kenv.prefix}/missing" in refused.stderr, refused.stderr


def test_recursive_sets_the_groups_below_too(kenv):
    kenv.applied('[group."top"]\npids.max = 10\n[group."top/mid"]\npids.max = 10\n'
                 '[group."top/mid/leaf"]\npids.max = 10\n[group."other"]\npids.max = 10\n')
    kenv.path(home("pids"), "top/mid/hand").mkdir()  # made by hand below: -R takes it too
    done = kenv.run("set", "-R", "-rpids.max=7", "top/mid")  # -rKNOB=VALUE joined, as getopt takes it
    assert done.returncode == 0, done.stderr
    assert [kenv.read(home("pids"), g, "pids.max") for g in ("top", "top/mid", "top/mid/leaf", "top/mid/hand",
                                                             "other")] == ["10", "7", "7", "7", "10"]


@pytest.mark.skipif(home("cpu") == home("pids"), reason="cgroup v1: a group in some hierarchies only")
def test_recursive_leaves_out_what_a_group_below_has_no_file_for(kenv):
    kenv.applied('[group."top"]\npids.max = 10\ncpu.weight = 100\n')
    kenv.path(home("pids"), "top/pids-only").mkdir()  # by hand, in the pids hierarchy alone
    done = kenv.run("set", "-R", "-r", "pids.max=7", "-r", "cpu.weight=50", "top")
    assert done.returncode == 0, done.stderr
    assert "top/pids-only has no file for cpu.weight: not set there" in done.stderr
    assert kenv.read(home("pids"), "top/pids-only", "pids.max") == "7"
    assert kenv.read(home("cpu"), "top", "cpu.shares") == str(50 * 1024 // 100)
