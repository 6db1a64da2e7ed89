"""tests/vm/vm.py's pure parts: the initramfs archive, module load order, QEMU quoting, refusals.

(Booting guests is what `make test-vm` does; this tier checks the pieces that
must be right for a boot to work at all.)
"""

from __future__ import annotations

import os
import stat
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "vm"))
import vm  # noqa: E402


def read_newc(data: bytes):
    """(name, mode, body) of each member of a newc cpio archive, checking its layout."""
    out, at = [], 0
    while True:
        assert data[at:at + 6] == b"070701" and at % 4 == 0
        fields = [int(data[at + 6 + 8 * i:at + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name = data[at + 110:at + 110 + namesize - 1].decode()
        assert data[at + 110 + namesize - 1] == 0
        at += 110 + namesize
        at += -at % 4
        body = data[at:at + size]
        at += size
        at += -at % 4
        if name == "TRAILER!!!":
            assert at == len(data)
            return out
        out.append((name, mode, body))


def test_cpio_members_round_trip_with_newc_alignment():
    """Directories and files of odd sizes come back whole, in order, 4-byte aligned."""
    entries = [("bin", stat.S_IFDIR | 0o755, None), ("bin/busybox", stat.S_IFREG | 0o755, b"x" * 5),
               ("init", stat.S_IFREG | 0o755, b"#!/bin/sh\n"), ("empty", stat.S_IFREG | 0o644, b"")]
    assert read_newc(vm.cpio(entries)) == [(n, m, b"" if d is None else d) for n, m, d in entries]


def test_modules_load_after_what_they_depend_on():
    """9p needs 9pnet and netfs, 9pnet_virtio needs 9pnet: each comes after its dependencies, once."""
    depends = {"9p": ["9pnet", "netfs"], "9pnet_virtio": ["9pnet", "virtio_ring"], "9pnet": [],
               "netfs": ["fscache"], "fscache": [], "virtio_ring": [], "overlay": []}
    order = vm.load_order(depends, ["9pnet_virtio", "9p", "overlay"])
    assert order == ["9pnet", "virtio_ring", "9pnet_virtio", "fscache", "netfs", "9p", "overlay"]
    with pytest.raises(vm.Trouble, match="module nosuch is not in the kernel's modules"):
        vm.load_order(depends, ["nosuch"])


def test_a_modules_dependencies_come_from_its_modinfo():
    module = b"\x7fELF...\0license=GPL\0depends=9pnet,netfs\0intree=Y\0name=9p\0"
    assert vm.modinfo_depends(module) == ["9pnet", "netfs"]
    assert vm.modinfo_depends(b"\0depends=\0name=overlay\0") == []
    assert vm.modinfo_depends(b"\0name=virtio\0") == []


def test_qemu_option_values_double_their_commas():
    assert vm._qemu_value("/tmp/a,b/c") == "/tmp/a,,b/c"


def test_a_kernel_image_without_xz_is_refused():
    with pytest.raises(vm.Trouble, match="no xz stream"):
        vm._unpack_bzimage(b"MZ not a Debian kernel")


def test_missing_tools_without_root_are_named(monkeypatch):
    """Without QEMU and not root, the harness says what to install instead of failing later."""
    monkeypatch.setattr(vm.shutil, "which", lambda name: None)
    monkeypatch.setattr(vm.os, "geteuid", lambda: 1000)
    with pytest.raises(vm.Trouble, match="missing qemu-system-x86 busybox-static: install them"):
        vm.ensure_tools()


def test_the_kernel_cache_lives_outside_the_repository(monkeypatch, tmp_path):
    monkeypatch.delenv("CGMAN_VM_KERNEL", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert vm.kernel_cache() == tmp_path / "cgman" / "vm-kernel"
    assert not str(vm.kernel_cache()).startswith(str(vm.PROJECT))


FAKE_QEMU = r'''#!/usr/bin/env python3
# Stands in for qemu-system-x86_64: finds the output FIFO, the console log and the control
# share in its arguments, and behaves as $FAKE_QEMU says.
import os, sys, time
args = sys.argv[1:]
def value(prefix):
    arg = next(a for a in args if a.startswith(prefix) or ("," + prefix) in a)
    part = arg.replace(",,", "\0").split(prefix, 1)[1].split(",")[0]
    return part.replace("\0", ",")
out, console = value("id=out,path="), value("id=console,path=")
control = next(a for a in args if "mount_tag=vmctl" in a).replace(",,", "\0").split("path=")[1].split(",")[0]
mode = os.environ["FAKE_QEMU"]
with open(console, "w") as log:
    log.write("booting\n" + ("WARNING: CPU: 1 PID: 9 at mm/oops.c:1\n" if mode == "warn" else "") + "the end\n")
if mode == "hang":
    time.sleep(60)
if mode in ("ok", "warn"):
    with open(out, "w") as fifo:
        fifo.write("hello from the guest\n")
    open(os.path.join(control.replace("\0", ","), "rc"), "w").write("7\n" if mode == "ok" else "0\n")
sys.exit(0 if mode != "crash" else 1)
'''


@pytest.fixture(name="fake_guest")
def _fake_guest(tmp_path, monkeypatch):
    """A fake QEMU on PATH and a fake kernel cache, so run()'s plumbing is tested without a boot."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    qemu = bin_dir / "qemu-system-x86_64"
    qemu.write_text(FAKE_QEMU)
    qemu.chmod(0o755)
    busybox = bin_dir / "busybox"
    busybox.write_bytes(b"\x7fELF static")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    cache = tmp_path / "kernel"
    modules = cache / "lib/modules/6.1/kernel/fs"
    modules.mkdir(parents=True)
    for name in vm.MODULES:
        (modules / f"{name}.ko").write_bytes(b"\0depends=\0name=" + name.encode() + b"\0")
    (cache / "boot").mkdir()
    (cache / "boot/vmlinux-6.1").write_bytes(b"\x7fELF")
    (cache / "kernel.json").write_text('{"release": "6.1", "vmlinux": "boot/vmlinux-6.1", '
                                       '"modules": "lib/modules/6.1"}')
    monkeypatch.setenv("CGMAN_VM_KERNEL", str(cache))
    monkeypatch.setattr(vm, "ensure_tools", lambda: None)
    return monkeypatch


def test_the_commands_output_streams_back_and_its_status_is_returned(fake_guest, capfd, tmp_path):
    fake_guest.setenv("FAKE_QEMU", "ok")
    assert vm.run(["true"], share=tmp_path, timeout=30) == 7
    out, err = capfd.readouterr()
    assert out == "hello from the guest\n"
    assert "guest console kept in" in err  # a failing status keeps the console for a post-mortem


def test_a_guest_that_never_reports_a_status_is_125_with_its_console(fake_guest, capfd, tmp_path):
    fake_guest.setenv("FAKE_QEMU", "crash")
    assert vm.run(["true"], share=tmp_path, timeout=30) == 125
    err = capfd.readouterr().err
    assert "the guest reported no exit status (qemu exit 1)" in err and "the end" in err


def test_a_guest_that_hangs_is_stopped_at_the_timeout_with_124(fake_guest, capfd, tmp_path):
    fake_guest.setenv("FAKE_QEMU", "hang")
    assert vm.run(["true"], share=tmp_path, timeout=1) == 124
    assert "did not finish within 1 s" in capfd.readouterr().err


def test_kernel_warnings_in_the_guest_are_shown(fake_guest, capfd, tmp_path):
    fake_guest.setenv("FAKE_QEMU", "warn")
    assert vm.run(["true"], share=tmp_path, timeout=30) == 0
    assert "the guest kernel complained:\nWARNING: CPU: 1 PID: 9 at mm/oops.c:1" in capfd.readouterr().err


def test_a_guest_whose_command_says_nothing_is_called_stuck(monkeypatch):
    """_boot ends a QEMU whose guest command has said nothing within START_TIMEOUT (a stuck
    boot, booted again by run()), and waits for one that has spoken."""
    import threading

    monkeypatch.setattr(vm, "START_TIMEOUT", 0.5)
    silent = threading.Event()
    assert vm._boot(["sleep", "30"], 60, silent) == (None, True)
    spoken = threading.Event()
    spoken.set()
    assert vm._boot(["sh", "-c", "sleep 1; exit 3"], 60, spoken) == (3, False)
    assert vm._boot(["sleep", "30"], 0.5, spoken) == (None, False)  # out of time, not stuck
