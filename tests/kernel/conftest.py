"""Kernel tier: the real cgroup tree, as root.

Every test gets a unique cgroup prefix (``/cgman-test-<pid>-<random>``) used as
cgman's manager root, a private config and run directory, and a cleanup that
runs even when the test fails: it stops the processes the test started and
removes, deepest first, every cgroup below the prefix in every hierarchy. It
never touches anything else.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

import pytest

from cgmand import cli
from cgmand.hierarchy import parse_mountinfo

MOUNTS = {m.mount_point: m for m in parse_mountinfo(Path("/proc/self/mountinfo").read_text())}


def mount_of(name: str) -> Optional[str]:
    """Mount point of a v1 controller ("memory") or of cgroup2 ("unified")."""
    for point, mount in MOUNTS.items():
        if name == "unified" and mount.fstype == "cgroup2":
            return point
        if mount.fstype == "cgroup" and name in mount.super_options:
            return point
    return None


def home(controller: str) -> str:
    """Where a controller lives here: its v1 hierarchy, or "unified"."""
    return "unified" if mount_of(controller) is None else controller


def remove_tree(top: Path) -> None:
    """rmdir a test's cgroup and everything below it, deepest first."""
    if not top.is_dir():
        return
    for directory in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [top]:
        for attempt in range(50):  # a just-killed process leaves its cgroup asynchronously
            try:
                directory.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)


def wait_until(check, seconds: float = 30.0) -> bool:
    """Poll ``check`` until it holds (the kernel frees and updates some state asynchronously)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


@contextlib.contextmanager
def shared_with_users(kenv: "KernelEnv"):
    """Move ``kenv``'s config and run root where another user (nobody) can read the
    configuration and reach cgmand's place.sock (pytest's tmp_path is root's alone)."""
    import shutil
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="cgman-shared."))
    try:
        top.chmod(0o755)
        for name in ("conf", "run"):
            (top / name).mkdir(mode=0o755)
        kenv.conf, kenv.run_root = top / "conf", top / "run"
        yield kenv
    finally:
        shutil.rmtree(top)


def as_user(kenv: "KernelEnv", verb: str, *args: str, uid: int = 65534) -> subprocess.CompletedProcess:
    """`cgman VERB ARGS` as another user (nobody), on ``kenv``'s config and run root."""
    return subprocess.run([sys.executable, "-m", "cgmand", "--config-dir", str(kenv.conf), "--run-root",
                           str(kenv.run_root), verb, *args], capture_output=True, text=True, timeout=60,
                          user=uid, group=uid, extra_groups=[])


@contextlib.contextmanager
def running_cgmand(kenv: "KernelEnv", tmp_path: Path):
    """Start cgmand on ``kenv``'s config and run root and wait for READY=1; yield its
    Popen; stop it with SIGTERM afterwards (kenv's cleanup kills it if it hangs)."""
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(60)
    log = open(tmp_path / "cgmand.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "cgmand", "daemon", "--config-dir", str(kenv.conf),
                             "--run-root", str(kenv.run_root)], stdout=log, stderr=log,
                            env=dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "notify.sock")))
    kenv.procs.append(proc)
    try:
        while "READY=1" not in notify.recv(4096).decode():
            pass
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        notify.close()
        log.close()


class KernelEnv:
    def __init__(self, tmp: Path, capsys):
        self.prefix = f"/cgman-test-{os.getpid()}-{secrets.token_hex(3)}"
        self.conf = tmp / "conf"
        self.run_root = tmp / "run"
        self.conf.mkdir()
        self.run_root.mkdir()
        self.capsys = capsys
        self.procs: List[subprocess.Popen] = []

    def config(self, body: str, name: str = "10-test.toml") -> None:
        """Replace the config with ``body`` (the [manager] root is added)."""
        for old in self.conf.glob("*.toml"):
            old.unlink()
        (self.conf / name).write_text(f'[manager]\nroot = "{self.prefix}"\n\n{body}')
        (self.conf / name).chmod(0o644)  # readable by the users some tests run cgman as

    def applied(self, body: str) -> "KernelEnv":
        """Write the config and apply it; it must succeed."""
        self.config(body)
        code, report = self.cgman_json("apply")
        assert code == 0, report
        return self

    def cgman(self, *args: str):
        """Run cgman in-process; returns (exit status, stdout, stderr)."""
        self.capsys.readouterr()
        code = cli.main(["--config-dir", str(self.conf), "--run-root", str(self.run_root), *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def run(self, verb: str, *args: str, **kw) -> subprocess.CompletedProcess:
        """Run `cgman VERB ARGS` in a child process (exec replaces its process); text output."""
        argv = [sys.executable, "-m", "cgmand", "--config-dir", str(self.conf), "--run-root", str(self.run_root),
                verb, *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)

    def cgman_json(self, *args: str):
        code, out, err = self.cgman(*args, "--json")
        return code, json.loads(out)

    def path(self, controller: str, group: str = "", file: str = "") -> Path:
        mount = mount_of(controller)
        assert mount, f"{controller} is not mounted on this host"
        cgroup = self.prefix + (f"/{group}" if group else "")
        return Path(mount + cgroup) / file if file else Path(mount + cgroup)

    def read(self, controller: str, group: str, file: str) -> str:
        return self.path(controller, group, file).read_text().strip()

    def start_in(self, controllers: List[str], group: str, code: str = "import time; time.sleep(120)"):
        """Start a Python child that joins ``group`` in each controller before running ``code``."""
        joins = " ".join(f'echo $$ > {self.path(c, group, "cgroup.procs")};' for c in controllers)
        proc = subprocess.Popen(["sh", "-c", f'{joins} exec "{sys.executable}" -c "{code}"'])
        self.procs.append(proc)
        deadline = time.time() + 10
        while time.time() < deadline:
            if all(str(proc.pid) in self.path(c, group, "cgroup.procs").read_text().split()
                   for c in controllers):
                return proc
            time.sleep(0.02)
        raise AssertionError(f"process {proc.pid} did not join {group}")

    def stop(self, proc: subprocess.Popen) -> None:
        proc.kill()
        proc.wait()

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        # Anything a test's process forked lives below the prefix too: on cgroup v2
        # (5.14+) cgroup.kill ends the whole subtree, and only this test's processes.
        unified = mount_of("unified")
        top = Path(f"{unified}{self.prefix}") if unified else None
        if top is not None and (top / "cgroup.kill").exists():
            (top / "cgroup.kill").write_text("1")
            deadline = time.time() + 10
            while "populated 1" in (top / "cgroup.events").read_text() and time.time() < deadline:
                time.sleep(0.02)
        for mount in MOUNTS:
            remove_tree(Path(mount + self.prefix))

    def leftovers(self) -> List[str]:
        return [m + self.prefix for m in MOUNTS if os.path.isdir(m + self.prefix)]


@pytest.fixture
def kenv(tmp_path, capsys):
    env = KernelEnv(tmp_path, capsys)
    try:
        yield env
    finally:
        env.cleanup()
        assert not env.leftovers(), f"cleanup left cgroups behind: {env.leftovers()}"
