"""kernel/cgroupfs.py against a fake tree: paths, reads, writes, errors."""

from __future__ import annotations

import errno
import os

import pytest

from cgmand.errors import CgroupBusy, CgroupGone, KernelError, ProcessGone
from cgmand.hierarchy import Hierarchy
from cgmand.kernel.cgroupfs import CgroupFS, ProcsFile, fail
from fakes import build


@pytest.fixture(name="fs")
def _fs(tmp_path):
    build(tmp_path / "cpu", {"cpu.shares": "1024\n", "cgroup.procs": "",
                             "web": {"cpu.shares": "2048\n", "cgroup.procs": "12\n34\n", "tasks": "12\n",
                                     "inner": {"cgroup.procs": ""}}})
    return CgroupFS(Hierarchy(1, str(tmp_path / "cpu"), "/", frozenset({"cpu"})))


def test_paths_are_built_below_the_mount(fs, tmp_path):
    """A cgroup path maps onto the mount point; "/" is the mount itself."""
    assert fs.path("/") == str(tmp_path / "cpu")
    assert fs.path("/web", "cpu.shares") == str(tmp_path / "cpu" / "web" / "cpu.shares")


def test_read_and_write_replace_the_whole_value(fs):
    """A write replaces the file's content (a longer fake file is cut) and a read returns it verbatim."""
    fs.write("/web", "cpu.shares", "99")
    assert fs.read("/web", "cpu.shares") == "99"


def test_an_empty_value_is_written_as_a_newline(fs):
    """write(2) of zero bytes never reaches the kernel's handler: the empty value goes out as "\\n"."""
    fs.write("/web", "cpu.shares", "")
    assert fs.read("/web", "cpu.shares") == "\n"


def test_missing_file_and_missing_cgroup_are_told_apart(fs):
    """read_if_present: None for a missing file, CgroupGone for a missing cgroup."""
    assert fs.read_if_present("/web", "memory.max") is None
    with pytest.raises(CgroupGone):
        fs.read_if_present("/nope", "cpu.shares")


def test_write_to_missing_file_explains_the_likely_cause(fs):
    """ENOENT on a knob says the kernel lacks it or its controller is not enabled."""
    with pytest.raises(KernelError) as caught:
        fs.write("/web", "cpu.weight", "5")
    assert "this kernel lacks the knob, or its controller is not enabled" in caught.value.message
    assert caught.value.errno == errno.ENOENT and caught.value.value == "5"


def test_mkdir_reports_whether_it_created(fs):
    """mkdir returns True when it made the cgroup and False when it already existed."""
    assert fs.mkdir("/batch") is True
    assert fs.mkdir("/batch") is False
    with pytest.raises(CgroupGone):
        fs.mkdir("/no/such/parent")


def test_rmdir_of_a_missing_cgroup_is_fine(fs):
    """Removing what is already gone is not an error."""
    fs.mkdir("/batch")
    fs.rmdir("/batch")
    fs.rmdir("/batch")
    assert not fs.exists("/batch")


def test_children_pids_and_entries(fs):
    """Child cgroups, member pids and per-entry ownership are read from the tree."""
    assert fs.children("/") == ["/web"]
    assert fs.children("/web") == ["/web/inner"]
    assert fs.pids("/web") == [12, 34]
    entries = fs.entries("/web")
    assert set(entries) == {".", "cpu.shares", "cgroup.procs", "tasks"}
    assert entries["."][0] == os.geteuid()


def test_set_owner_changes_mode(fs, tmp_path):
    """set_owner chowns and chmods one entry."""
    fs.set_owner("/web", "cpu.shares", os.geteuid(), os.getegid(), 0o640)
    assert fs.entries("/web")["cpu.shares"] == (os.geteuid(), os.getegid(), 0o640)


@pytest.mark.parametrize("code, op, kind, words", [
    (errno.EINVAL, "write", KernelError, "the kernel rejected the value (EINVAL)"),
    (errno.EBUSY, "rmdir", CgroupBusy, "busy (EBUSY)"),
    (errno.ESRCH, "write", ProcessGone, "No such process (ESRCH)"),
    (errno.EACCES, "write", KernelError, "permission denied (cgman must run as root) (EACCES)"),
])
def test_errno_becomes_a_named_error(tmp_path, code, op, kind, words):
    """Each errno maps to its KernelError subclass with a message naming op, value and path."""
    err = fail(op, str(tmp_path / "f"), OSError(code, os.strerror(code)), "7")
    assert type(err) is kind
    assert err.message == f'{op} "7" {tmp_path / "f"}: {words}'


def test_procs_file_on_a_fake_tree_is_written_anew_each_time(tmp_path):
    """Not the kernel (tests, --cgroup-root): each move opens the file, so the fake shows the
    last pid written, and a removed fake group is noticed."""
    hierarchy = Hierarchy(2, str(tmp_path), "/", frozenset())
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "cgroup.procs").write_text("")
    procs = ProcsFile(CgroupFS(hierarchy), "/g", kernel=False)
    procs.write(1234)
    procs.write(56)
    assert (tmp_path / "g" / "cgroup.procs").read_text() == "56"  # the last move, as the kernel shows one
    assert procs.fd == -1
    os.rename(tmp_path / "g", tmp_path / "gone")
    with pytest.raises(CgroupGone):
        procs.write(78)
