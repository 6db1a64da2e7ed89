"""systemd detection follows the proc root, never cgman's --run-root."""

from __future__ import annotations

from cgmand.kernel.pid1 import systemd_is_pid1
from fakes import build


def test_systemd_named_pid1_is_systemd(tmp_path):
    build(tmp_path / "proc/1", {"comm": "systemd\n"})
    assert systemd_is_pid1(str(tmp_path / "proc")) is True


def test_another_init_is_not_systemd(tmp_path):
    build(tmp_path / "proc/1", {"comm": "init\n"})
    assert systemd_is_pid1(str(tmp_path / "proc")) is False


def test_a_fake_proc_without_pid1_is_not_systemd(tmp_path):
    """Even on a systemd machine: the fake system the roots describe has no PID 1."""
    build(tmp_path / "proc/self", {"mountinfo": ""})
    assert systemd_is_pid1(str(tmp_path / "proc")) is False
