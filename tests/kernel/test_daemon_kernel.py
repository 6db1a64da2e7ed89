"""cgmand against the real kernel (this host, and the pure v2 guest): it keeps the tree equal to
the files as they are edited, repairs hand-made changes, and leaves everything on SIGTERM."""

from __future__ import annotations

import os
import signal
import time

import pytest

from conftest import home, running_cgmand, wait_until

WEB = '[group."web"]\ncpu.weight = 200\npids.max = 100\n[group."batch"]\ncpu.weight = 50\n'


def weight(kenv, group: str) -> str:
    where = home("cpu")
    return kenv.read(where, group, "cpu.weight" if where == "unified" else "cpu.shares")


def expected(weight_value: int) -> str:
    return str(weight_value) if home("cpu") == "unified" else str(weight_value * 1024 // 100)


@pytest.fixture(name="cgmand")
def _cgmand(kenv, tmp_path):
    """cgmand on the test's config, with a fast drift check in a second file (conftest)."""
    def config(body: str) -> None:
        kenv.config(body)
        (kenv.conf / "20-daemon.toml").write_text("[manager]\ndrift_interval = 0.5\n")

    config(WEB)
    with running_cgmand(kenv, tmp_path) as proc:
        config.proc = proc
        yield config


def test_an_edit_reaches_the_kernel(kenv, cgmand):
    assert weight(kenv, "web") == expected(200)
    cgmand(WEB.replace("cpu.weight = 200", "cpu.weight = 300"))
    assert wait_until(lambda: weight(kenv, "web") == expected(300))


def test_an_edit_saved_by_rename_reaches_the_kernel(kenv, cgmand):
    """Editors write a temporary file and rename it over the old one."""
    temporary = kenv.conf / ".10-test.toml.new"
    temporary.write_text(f'[manager]\nroot = "{kenv.prefix}"\n\n' + WEB.replace("cpu.weight = 50", "cpu.weight = 75"))
    os.rename(temporary, kenv.conf / "10-test.toml")
    assert wait_until(lambda: weight(kenv, "batch") == expected(75))


def test_a_bad_edit_keeps_the_old_values_and_the_daemon(kenv, cgmand):
    cgmand(WEB.replace("cpu.weight = 200", 'cpu.weight = "lots"').replace("cpu.weight = 50", "cpu.weight = 60"))
    time.sleep(1.5)  # a reload and a few drift checks
    assert cgmand.proc.poll() is None
    assert weight(kenv, "web") == expected(200) and weight(kenv, "batch") == expected(50)


def test_a_hand_made_change_is_repaired(kenv, cgmand):
    where = home("cpu")
    kenv.path(where, "web", "cpu.weight" if where == "unified" else "cpu.shares").write_text(
        "10" if where == "unified" else "100")
    assert wait_until(lambda: weight(kenv, "web") == expected(200))


def test_a_hand_deleted_group_is_recreated(kenv, cgmand):
    for controller in ("cpu", "pids"):
        path = kenv.path(home(controller), "batch")
        if path.exists():
            path.rmdir()
    assert wait_until(lambda: kenv.path(home("cpu"), "batch").is_dir() and weight(kenv, "batch") == expected(50))


def test_sigterm_leaves_groups_and_processes(kenv, cgmand):
    proc = kenv.start_in([home("cpu")], "web")
    cgmand.proc.send_signal(signal.SIGTERM)
    assert cgmand.proc.wait(timeout=30) == 0
    assert proc.poll() is None and str(proc.pid) in kenv.read(home("cpu"), "web", "cgroup.procs").split()
    assert weight(kenv, "web") == expected(200)
