#!/usr/bin/env python3
"""cgman's test guests: a pure cgroup v2 kernel, optionally with systemd as PID 1.

    vm.py kernel                   fetch Debian's kernel into the cache (once per machine)
    vm.py run [--systemd] [--unit FILE]... [--env VAR]... [--timeout S] -- COMMAND...

QEMU boots Debian's stock linux-image-*-amd64, unpacked with dpkg -x and never
installed, with cgroup_no_v1=all. The guest's root is the host's, shared
read-only over 9p under a tmpfs overlay, so the guest runs the host's own
Python and the project's venv; the project directory is shared read-write
at its own path. COMMAND runs as root in the project directory; its output
streams back through a virtio-serial port and its exit status is vm.py's
(124: timed out; 125: the guest never reported one, and the tail of its
console goes to stderr).

Exec mode: a busybox PID 1 mounts cgroup2 and runs COMMAND in the root
cgroup. --systemd: the host's systemd boots as PID 1 into cgman-vm.target
(basic.target, the --unit files, then COMMAND as cgman-vm.service, which
has Delegate=yes) and powers off when COMMAND ends.

Stdlib only, so it runs on any python3. The recipe it follows, with its
timings and pitfalls, is ../shared/vm/README.md; docs/testing.md says how
the project uses it.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import lzma
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
PACKAGES = ("qemu-system-x86", "busybox-static")
# What /init needs before the host root is mounted: virtio transport and disk,
# the output port, 9p and the overlay. Their dependencies are added from modules.dep.
MODULES = ("virtio_pci", "virtio_blk", "virtio_console", "9pnet_virtio", "9p", "overlay")
# Driver directories a QEMU guest uses; the rest of drivers/ (GPUs, NICs, sound,
# USB...) is dropped from the cache: ~170 MB instead of ~470 MB.
KEEP_DRIVERS = {"virtio", "block", "char", "md"}
# loglevel=5: kernel warnings reach the console log (a file), which vm.py scans.
KERNEL_ARGS = "console=ttyS0 panic=-1 quiet loglevel=5 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1"
ALARMS = ("WARNING:", "BUG:", "Oops", "general protection fault", "Kernel panic")
PASS_ENV = ("PATH", "HOME", "LANG", "TERM")


class Trouble(Exception):
    """Something the harness cannot do; the message says what is missing."""


def say(message: str) -> None:
    print(f"cgman-vm: {message}", file=sys.stderr, flush=True)


# --- host tools ------------------------------------------------------------------------


def _static(path: str) -> bool:
    done = subprocess.run(["ldd", path], capture_output=True, text=True)
    return done.returncode != 0  # "not a dynamic executable"


def ensure_tools() -> None:
    """QEMU and a static busybox, installed from Debian's packages when missing."""
    def missing() -> List[str]:
        out = []
        if shutil.which("qemu-system-x86_64") is None:
            out.append("qemu-system-x86")
        busybox = shutil.which("busybox")
        if busybox is None or not _static(busybox):
            out.append("busybox-static")  # a dynamic busybox cannot run in the initramfs
        return out

    need = missing()
    if not need:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise Trouble(f"missing {' '.join(need)}: install them (apt-get install {' '.join(need)}) "
                      "or run as root on Debian/Ubuntu so this harness can")
    say(f"installing {' '.join(need)} (apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *need]):
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise Trouble(f"{' '.join(argv)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    if missing():
        raise Trouble(f"still missing after apt-get: {' '.join(missing())}")


# --- the kernel ------------------------------------------------------------------------


def kernel_cache() -> Path:
    """Outside the repository: a clean clone (CI) reuses it, and git never sees 170 MB."""
    if os.environ.get("CGMAN_VM_KERNEL"):
        return Path(os.environ["CGMAN_VM_KERNEL"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cgman" / "vm-kernel"


def _kernel_package() -> str:
    for attempt in range(2):
        done = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True)
        for line in done.stdout.splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == "Depends:" and words[1].startswith("linux-image-"):
                return words[1]
        if attempt == 0:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
    raise Trouble("cannot resolve linux-image-amd64 to a kernel package (apt-cache depends): "
                  "this harness boots Debian's stock kernel, from a Debian machine's package lists")


def fetch_kernel(dest: Path) -> Dict[str, str]:
    """Download the kernel package linux-image-amd64 points to and unpack it (no install)."""
    for tool in ("apt-get", "apt-cache", "dpkg"):
        if shutil.which(tool) is None:
            raise Trouble(f"{tool} is needed to fetch Debian's kernel package")
    package = _kernel_package()
    say(f"fetching {package} into {dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as work:
        done = subprocess.run(["apt-get", "download", "-q", package], cwd=work, capture_output=True, text=True)
        debs = list(Path(work).glob("*.deb"))
        if done.returncode != 0 or not debs:
            raise Trouble(f"apt-get download {package} failed: {done.stderr.strip()[-1000:]}")
        tree = Path(work) / "tree"
        done = subprocess.run(["dpkg", "-x", str(debs[0]), str(tree)], capture_output=True, text=True)
        images = sorted((tree / "boot").glob("vmlinuz-*")) if done.returncode == 0 else []
        if not images:
            raise Trouble(f"unpacking {debs[0].name} gave no boot/vmlinuz-*: {done.stderr.strip()[-500:]}")
        vmlinuz = images[0]
        release = vmlinuz.name[len("vmlinuz-"):]
        drivers = tree / "lib" / "modules" / release / "kernel" / "drivers"
        for entry in drivers.iterdir():
            if entry.name not in KEEP_DRIVERS:
                shutil.rmtree(entry)
        shutil.rmtree(tree / "lib" / "modules" / release / "kernel" / "sound", ignore_errors=True)
        # The ELF inside the bzImage boots through its PVH note, which spares the
        # guest ~2.5 s of xz decompression under TCG (CONFIG_PVH=y in Debian's kernel).
        vmlinux = tree / "boot" / f"vmlinux-{release}"
        vmlinux.write_bytes(_unpack_bzimage(vmlinuz.read_bytes()))
        info = {"package": package, "release": release, "vmlinux": f"boot/vmlinux-{release}",
                "modules": f"lib/modules/{release}"}
        (tree / "kernel.json").write_text(json.dumps(info, indent=2) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        tree.rename(dest)
    return info


def _unpack_bzimage(data: bytes) -> bytes:
    start = data.find(b"\xfd7zXZ\x00")  # Debian compresses its kernels with xz
    if start < 0:
        raise Trouble("no xz stream in the kernel image: this harness expects Debian's amd64 kernel")
    elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:])
    if elf[:4] != b"\x7fELF":
        raise Trouble("the decompressed kernel is not an ELF image")
    return elf


def kernel(fetch: bool = True) -> Dict[str, Path]:
    dest = kernel_cache()
    info_file = dest / "kernel.json"
    if not info_file.exists():
        if not fetch:
            raise Trouble(f"no kernel in {dest}: run tests/vm/vm.py kernel")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest.parent / "vm-kernel.lock", "w") as lock:  # one fetch at a time
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not info_file.exists():
                fetch_kernel(dest)
    info = json.loads(info_file.read_text())
    return {"vmlinux": dest / info["vmlinux"], "modules": dest / info["modules"], "release": info["release"]}


# --- the initramfs -----------------------------------------------------------------------


def modinfo_depends(module: bytes) -> List[str]:
    """The modules a .ko needs: the "depends=" string of its .modinfo section."""
    at = module.find(b"\0depends=")
    if at < 0:
        return []
    value = module[at + len(b"\0depends="):module.index(b"\0", at + 1)].decode()
    return [name for name in value.split(",") if name]


def load_order(depends: Dict[str, List[str]], wanted: List[str]) -> List[str]:
    """Module names, each after everything it depends on (insmod needs that order)."""
    order: List[str] = []

    def add(name: str) -> None:
        if name in order:
            return
        if name not in depends:
            raise Trouble(f"module {name} is not in the kernel's modules")
        for dep in depends[name]:
            add(dep)
        order.append(name)

    for name in wanted:
        add(name)
    return order


def _modules_by_name(moddir: Path) -> Dict[str, Path]:
    out = {}
    for directory, _dirs, files in os.walk(moddir / "kernel"):
        for file in files:
            if ".ko" in file:
                out[file.split(".ko")[0].replace("-", "_")] = Path(directory) / file
    return out


def _module_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if path.name.endswith(".ko.zst"):
        done = subprocess.run(["zstd", "-qdc", str(path)], capture_output=True)
        if done.returncode != 0:
            raise Trouble(f"cannot decompress {path}: install zstd")
        return done.stdout
    return data


def cpio(entries: List[tuple]) -> bytes:
    """A newc cpio archive of (name, mode, data) entries; data None for a directory."""
    out = bytearray()

    def pad() -> None:
        out.extend(b"\0" * (-len(out) % 4))

    for number, (name, mode, data) in enumerate(entries + [("TRAILER!!!", 0, b"")], start=1):
        body = b"" if data is None else data
        encoded = name.encode() + b"\0"
        fields = [number, mode, 0, 0, 1, 0, len(body), 0, 0, 0, 0, len(encoded), 0]
        out.extend(b"070701" + b"".join(b"%08X" % f for f in fields) + encoded)
        pad()
        out.extend(body)
        pad()
    return bytes(out)


def initramfs(kern: Dict[str, Path]) -> bytes:
    busybox = shutil.which("busybox")
    paths = _modules_by_name(kern["modules"])
    data: Dict[str, bytes] = {}
    depends: Dict[str, List[str]] = {}
    todo = list(MODULES)
    while todo:  # read only the modules needed, following their depends=
        name = todo.pop()
        if name in data or name not in paths:
            continue
        data[name] = _module_bytes(paths[name])
        depends[name] = [d.replace("-", "_") for d in modinfo_depends(data[name])]
        todo.extend(depends[name])
    order = load_order(depends, list(MODULES))
    entries = [(d, stat.S_IFDIR | 0o755, None) for d in ("bin", "dev", "proc", "sys", "modules")]
    entries.append(("bin/busybox", stat.S_IFREG | 0o755, Path(busybox).read_bytes()))
    entries.append(("init", stat.S_IFREG | 0o755, (HERE / "init.sh").read_bytes()))
    entries += [(f"modules/{name}.ko", stat.S_IFREG | 0o644, data[name]) for name in order]
    entries.append(("modules.order", stat.S_IFREG | 0o644, "".join(f"{n}.ko\n" for n in order).encode()))
    return cpio(entries)


# --- one guest ---------------------------------------------------------------------------


def _accel() -> str:
    """KVM only when it can boot a stock kernel. A /dev/kvm served by PVM (kvm_pvm,
    as on this kind of cloud sandbox) hangs on one: TCG then (~6-10x slower)."""
    choice = os.environ.get("CGMAN_VM_ACCEL", "auto")
    if choice != "auto":
        return choice
    usable = os.access("/dev/kvm", os.W_OK) and not os.path.isdir("/sys/module/kvm_pvm") and (
        os.path.isdir("/sys/module/kvm_intel") or os.path.isdir("/sys/module/kvm_amd"))
    return "kvm" if usable else "tcg"


def _qemu_value(text: str) -> str:
    return text.replace(",", ",,")  # QEMU's option syntax doubles a literal comma


def _units(control: Path, systemd: bool, units: List[Path]) -> None:
    directory = control / "units"
    directory.mkdir()
    if not systemd:
        return
    names = [u.name for u in units]
    for unit in units:
        shutil.copy(unit, directory / unit.name)
    # basic.target and the given units, not multi-user.target: the host's enabled
    # services (databases, gettys) would start in the guest otherwise.
    # A boot that never reaches the target powers off instead of hanging until the
    # host's timeout; a test's OOM kill must not stop the command's unit.
    (directory / "cgman-vm.target").write_text(
        "[Unit]\nDescription=cgman test guest\nRequires=basic.target\n"
        f"Wants=cgman-vm.service {' '.join(names)}\nAfter=basic.target\nAllowIsolate=yes\n"
        "JobTimeoutSec=300\nJobTimeoutAction=poweroff-force\n")
    (directory / "cgman-vm.service").write_text(
        "[Unit]\nDescription=cgman test guest: the command\n"
        f"After=basic.target {' '.join(names)}\nOnFailure=poweroff.target\n"
        "[Service]\nType=exec\nExecStart=/bin/bash /run/vmctl/wrapper\n"
        "ExecStopPost=/bin/systemctl poweroff --force --no-block\n"
        "TimeoutStartSec=infinity\nDelegate=yes\nOOMPolicy=continue\n")


# A guest whose command has said nothing by then is stuck in its boot (seen under TCG,
# rarely: the console stops early in systemd's start): it is booted once more. A
# healthy systemd guest starts its command within ~90 s under TCG.
START_TIMEOUT = 420.0


def run(command: List[str], systemd: bool = False, units: Optional[List[Path]] = None,
        env_names: Optional[List[str]] = None, timeout: float = 1200, console: Optional[Path] = None,
        share: Path = PROJECT) -> int:
    ensure_tools()
    kern = kernel()
    share = share.resolve()
    with tempfile.TemporaryDirectory(prefix="cgman-vm.") as scratch:
        tmp = Path(scratch)
        (tmp / "initrd").write_bytes(initramfs(kern))
        control = tmp / "control"
        control.mkdir()
        (control / "vm.conf").write_text(
            f"VM_MODE={'systemd' if systemd else 'exec'}\nVM_SHARE={shlex.quote(str(share))}\n")
        here = Path.cwd().resolve()
        cwd = here if here == share or share in here.parents else share
        exports = [f"export {name}={shlex.quote(os.environ[name])}"
                   for name in list(PASS_ENV) + list(env_names or []) if name in os.environ]
        (control / "runner").write_text("\n".join(
            exports + ["export CGMAN_VM_GUEST=1", f"cd {shlex.quote(str(cwd))}",
                       "exec " + " ".join(shlex.quote(a) for a in command)]) + "\n")
        # In the guest: COMMAND's output to the virtio port "out", its status to rc.
        (control / "wrapper").write_text(
            "out=/dev/console\n"
            "for port in /sys/class/virtio-ports/*; do\n"
            '    [ "$(cat "$port/name" 2>/dev/null)" = out ] && out=/dev/${port##*/}\n'
            "done\n"
            '/bin/bash /run/vmctl/runner > "$out" 2>&1 < /dev/null\n'
            "echo $? > /run/vmctl/rc\n")
        _units(control, systemd, units or [])
        accel = _accel()
        cpu = os.environ.get("CGMAN_VM_CPU") or ("host" if accel == "kvm" else "max")
        say(f"booting Linux {kern['release']} ({accel}{', systemd as PID 1' if systemd else ''}): "
            + " ".join(command))
        append = KERNEL_ARGS + (" systemd.unit=cgman-vm.target systemd.show_status=0" if systemd else "")
        # The output port writes into a FIFO that a thread copies to stdout. (A stdio
        # chardev with stdin at EOF, as in CI, makes QEMU close the port: writes hang.)
        argv = [
            "qemu-system-x86_64", "-machine", f"pc,accel={accel}", "-cpu", cpu,
            "-smp", os.environ.get("CGMAN_VM_CPUS", "2"), "-m", os.environ.get("CGMAN_VM_MEM", "1G"),
            "-nodefaults", "-display", "none", "-no-reboot", "-monitor", "none",
            "-kernel", str(kern["vmlinux"]), "-initrd", str(tmp / "initrd"), "-append", append,
            "-chardev", f"file,id=console,path={_qemu_value(str(tmp / 'console.log'))}",
            "-serial", "chardev:console",
            "-device", "virtio-serial-pci",
            "-chardev", f"file,id=out,path={_qemu_value(str(tmp / 'out'))}",
            "-device", "virtserialport,chardev=out,name=out",
            "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
            "-virtfs", f"local,path={_qemu_value(str(share))},mount_tag=vmshare,security_model=none,"
                       "multidevs=remap",
            "-virtfs", f"local,path={_qemu_value(str(control))},mount_tag=vmctl,security_model=none",
            # A disk that reads as zeros and costs nothing: io.max needs a real MAJ:MIN.
            "-blockdev", "null-co,node-name=zeros,size=1073741824,read-zeroes=on",
            "-device", "virtio-blk-pci,drive=zeros",
        ]
        for attempt in (1, 2):
            fifo = tmp / "out"
            if fifo.exists():
                fifo.unlink()
            os.mkfifo(fifo)
            started = threading.Event()
            copier = threading.Thread(target=_copy_out, args=(fifo, started), daemon=True)
            copier.start()
            qemu, stuck = _boot(argv, timeout, started)
            _release(fifo)
            copier.join(timeout=10)
            if not stuck or attempt == 2:
                break
            say(f"the guest's command said nothing in {START_TIMEOUT:.0f} s (a stuck boot): booting it again")
        log = (tmp / "console.log").read_text(errors="replace").splitlines()
        alarms = [line for line in log if any(alarm in line for alarm in ALARMS)]
        if alarms:
            say("the guest kernel complained:\n" + "\n".join(alarms[:20]))
        rc_file = control / "rc"
        status = int(rc_file.read_text()) if rc_file.exists() and rc_file.read_text().strip().isdigit() else None
        if console is None and status != 0:  # a failed run keeps its console for a post-mortem
            console = Path(tempfile.gettempdir()) / f"cgman-vm-console-{os.getpid()}.log"
        if console is not None:
            shutil.copy(tmp / "console.log", console)
            if status != 0:
                say(f"guest console kept in {console}")
        if status is not None:
            return status
        if qemu is None:
            say(f"the guest did not finish within {timeout:.0f} s; its console ended with:")
        else:
            say(f"the guest reported no exit status (qemu exit {qemu}); its console ended with:")
        print("\n".join(log[-40:]), file=sys.stderr)
        return 124 if qemu is None else 125


def _boot(argv: List[str], timeout: float, started: threading.Event) -> tuple:
    """Run QEMU: (its exit status, or None if it ran out of time; stuck: nothing came from
    the guest's command within START_TIMEOUT)."""
    import time

    began = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    try:
        while True:
            try:
                return proc.wait(timeout=2), False
            except subprocess.TimeoutExpired:
                waited = time.monotonic() - began
                stuck = not started.is_set() and waited > START_TIMEOUT
                if waited > timeout or stuck:
                    proc.kill()
                    proc.wait()
                    return None, stuck
    except BaseException:  # a cancelled run must not leave a TCG guest spinning
        proc.kill()
        proc.wait()
        raise


def _copy_out(fifo: Path, started: Optional[threading.Event] = None) -> None:
    with open(fifo, "rb", buffering=0) as source:
        while True:
            chunk = source.read(65536)
            if not chunk:
                return
            if started is not None:
                started.set()
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()


def _release(fifo: Path) -> None:
    """Let the copier finish even if QEMU never opened the FIFO."""
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    os.close(fd)


# --- command line --------------------------------------------------------------------


def _exit_on(signum, _frame) -> None:
    # subprocess.run kills its child on any exception: a cancelled CI job must not
    # leave a TCG guest spinning with the project mounted read-write.
    raise SystemExit(128 + signum)


def main(argv: Optional[List[str]] = None) -> int:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on)
    parser = argparse.ArgumentParser(prog="vm.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("kernel", help="fetch Debian's kernel into the cache unless it is there")
    runner = sub.add_parser("run", help="boot a guest and run COMMAND in it")
    runner.add_argument("--systemd", action="store_true", help="boot the host's systemd as PID 1")
    runner.add_argument("--unit", action="append", type=Path, default=[],
                        help="(--systemd) a unit file to install and start at boot")
    runner.add_argument("--env", action="append", default=[], help="pass this environment variable in")
    runner.add_argument("--timeout", type=float, default=1200, help="seconds (default 1200)")
    runner.add_argument("--console", type=Path, help="keep the guest's console log here")
    runner.add_argument("command", nargs="+", help="the command and its arguments (after --)")
    args = parser.parse_args(argv)
    try:
        if args.what == "kernel":
            ensure_tools()
            info = kernel()
            say(f"kernel {info['release']} in {kernel_cache()}")
            return 0
        return run(args.command, args.systemd, args.unit, args.env, args.timeout, args.console)
    except Trouble as trouble:
        say(str(trouble))
        return 2


if __name__ == "__main__":
    sys.exit(main())
