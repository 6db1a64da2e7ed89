"""systemd as PID 1: cgman's groups live below the delegated cgman-groups.service, nowhere else.

Runs in the systemd guest (`make test-vm-systemd`), which boots with the
project's own systemd/cgman.slice and systemd/cgman-groups.service installed
and started, as DESIGN.md §3 describes; elsewhere it is skipped, saying so.
Each test uses a unique top group below the delegated cgroup and removes it
however the test ends; it never touches the keep-alive process's anchor.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import pytest

from cgmand import cli
from conftest import mount_of, remove_tree, wait_until

pytestmark = pytest.mark.systemd
UNIT = "cgman-groups.service"
DAEMON = "cgmand.service"
BASE = "/cgman.slice/cgman-groups.service"
PROJECT = Path(__file__).resolve().parents[2]


def systemctl(*args: str) -> str:
    return subprocess.run(["systemctl", *args], capture_output=True, text=True, check=False).stdout.strip()


class SystemdEnv:
    def __init__(self, tmp: Path, capsys):
        self.top = f"t{os.getpid()}{secrets.token_hex(3)}"
        self.conf, self.run_root = tmp / "conf", tmp / "run"
        self.conf.mkdir()
        self.run_root.mkdir()
        self.capsys = capsys
        self.mount = mount_of("unified")

    def config(self, groups: str) -> None:
        """``groups``: [group."NAME"] tables, NAME relative to this test's top group."""
        (self.conf / "10-test.toml").write_text(groups.replace('[group."', f'[group."{self.top}/'))

    def cgman(self, *args: str):
        self.capsys.readouterr()
        code = cli.main(["--config-dir", str(self.conf), "--run-root", str(self.run_root), *args, "--json"])
        out, err = self.capsys.readouterr()
        return code, (json.loads(out) if out.strip() else None), err

    def path(self, group: str = "", file: str = "") -> Path:
        where = Path(self.mount + BASE) / self.top
        where = where / group if group else where
        return where / file if file else where

    def cleanup(self) -> None:
        remove_tree(self.path())


@pytest.fixture
def senv(tmp_path, capsys):
    assert os.environ.get("CGMAN_VM_GUEST") == "1", "these tests stop cgman's unit: guest only"
    if systemctl("show", "-P", "ActiveState", UNIT) != "active":
        pytest.fail(f"{UNIT} is not active: the systemd guest starts it at boot (make test-vm-systemd)")
    env = SystemdEnv(tmp_path, capsys)
    try:
        yield env
    finally:
        env.cleanup()
        assert not env.path().exists(), "cleanup left the test's groups behind"


def cgroup_tree(inside: str) -> Dict[str, str]:
    """The value of every writable file of every cgroup not below ``inside``, and of ``inside``
    itself except what cgman may write there (its subtree_control, and the processes it moves to
    the anchor). Process membership (cgroup.procs, cgroup.threads) is left out everywhere:
    systemd's own units start and stop processes."""
    mount = mount_of("unified")
    out = {}
    for directory, subdirs, files in os.walk(mount):
        relative = directory[len(mount):] or "/"
        if relative.startswith(inside + "/"):
            subdirs[:] = []
            continue
        for name in files:
            if name in ("cgroup.procs", "cgroup.threads") or name.endswith(".pressure") or (
                    relative == inside and name == "cgroup.subtree_control"):
                continue  # (*.pressure are writable only to set triggers; they read live averages)
            path = os.path.join(directory, name)
            if not os.stat(path).st_mode & 0o200:
                continue
            try:
                with open(path) as handle:
                    out[f"{relative}/{name}"] = handle.read()
            except OSError:
                out[f"{relative}/{name}"] = "(unreadable)"  # write-only files: cgroup.kill, ...
    return out


def below(path: str, base: str = BASE) -> bool:
    return path == base or path.startswith(base + "/")


def in_sync(senv) -> bool:
    """Nothing to do for this test's groups. cgmand's own groups share the delegated cgroup (it
    runs in this guest): to this test's config they are cgroups it does not manage, so the
    controllers they use are kept (a notice, not a change)."""
    code, plan, err = senv.cgman("plan")
    assert code == 0, err
    assert plan["actions"] == [], plan["actions"]
    assert all(n["reference"] == "controllers-kept" for n in plan["notices"]), plan["notices"]
    return True


WEB = '[group."web"]\ncpu.weight = 300\nmemory.max = "64M"\n[group."web/api"]\npids.max = 20\n'


def test_the_host_model_finds_systemd_and_the_delegated_base(senv):
    """check reports systemd as PID 1 and the base below cgman-groups.service's cgroup."""
    senv.config(WEB)
    code, data, err = senv.cgman("check")
    assert code == 0, err
    assert data["host"]["layout"] == "unified"
    assert data["host"]["base"] == BASE
    assert data["host"]["systemd"] == {"unit": UNIT, "control_group": BASE}


def test_cgman_writes_only_below_the_delegated_cgroup(senv):
    """apply creates the groups below the unit, with their values, and no cgroup outside it changes;
    the unit's keep-alive process is moved to <base>/anchor so controllers can be enabled."""
    senv.config(WEB)
    before = cgroup_tree(BASE)
    code, report, err = senv.cgman("apply")
    assert code == 0, (report, err)
    assert all(below(o["path"]) for o in report["outcomes"]), report["outcomes"]
    assert senv.path("web", "cpu.weight").read_text().strip() == "300"
    assert senv.path("web", "memory.max").read_text().strip() == str(64 << 20)
    assert senv.path("web/api", "pids.max").read_text().strip() == "20"
    assert cgroup_tree(BASE) == before
    base = Path(mount_of("unified") + BASE)
    assert (base / "cgroup.procs").read_text() == ""  # no internal processes in the delegated cgroup
    keepalive = systemctl("show", "-P", "MainPID", UNIT)
    assert keepalive in (base / "anchor" / "cgroup.procs").read_text().split()
    assert systemctl("show", "-P", "ActiveState", UNIT) == "active"
    assert in_sync(senv)


def test_exec_and_classify_land_below_the_delegated_cgroup(senv):
    """Under systemd the base is the delegated unit's cgroup, asked of systemd once and then kept
    in the exec view; the process lands there (and so belongs to cgman's unit, not the test's)."""
    senv.config(WEB)
    assert senv.cgman("apply")[0] == 0
    argv = [sys.executable, "-m", "cgmand", "--config-dir", str(senv.conf), "--run-root", str(senv.run_root)]
    for attempt in ("built", "kept"):  # the first exec asks systemd, the second uses the view
        done = subprocess.run(argv + ["exec", "-g", f"cpu:{senv.top}/web", "cat", "/proc/self/cgroup"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (attempt, done.stderr)
        assert done.stdout.strip() == f"0::{BASE}/{senv.top}/web", attempt
    assert (senv.run_root / "cgman" / "exec.view").exists()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        done = subprocess.run(argv + ["classify", "-g", f"cpu:{senv.top}/web", str(sleeper.pid)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert open(f"/proc/{sleeper.pid}/cgroup").read().strip() == f"0::{BASE}/{senv.top}/web"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_removed_groups_go_and_the_unit_stays(senv):
    """Removing the groups from the config removes their cgroups; the anchor and the unit stay."""
    senv.config(WEB)
    assert senv.cgman("apply")[0] == 0
    senv.config("")
    code, report, err = senv.cgman("apply")
    assert code == 0, (report, err)
    assert not senv.path("web").exists()
    base = Path(mount_of("unified") + BASE)
    assert (base / "anchor").is_dir() and systemctl("show", "-P", "ActiveState", UNIT) == "active"


def test_without_the_unit_cgman_refuses_and_writes_nothing(senv):
    """With cgman-groups.service stopped, apply exits 69 naming the unit, and no cgroup changes."""
    senv.config(WEB)
    systemctl("stop", UNIT)
    try:
        before = cgroup_tree("/nowhere")
        code, data, err = senv.cgman("apply")
        assert code == 69
        assert f"systemd is PID 1 but {UNIT} is not running" in data["error"]["message"]
        assert cgroup_tree("/nowhere") == before
    finally:
        systemctl("start", UNIT)
        systemctl("start", DAEMON)  # PartOf= the groups unit: it stopped with it
    assert systemctl("show", "-P", "ActiveState", UNIT) == "active"


def test_a_run_root_elsewhere_does_not_hide_systemd(senv, tmp_path):
    """cgman's own state may live anywhere (--run-root); systemd is still detected from /proc."""
    senv.config(WEB)
    code, data, err = senv.cgman("check")
    assert code == 0 and data["host"]["systemd"] is not None and not (senv.run_root / "systemd").exists()


def test_systemd_leaves_the_delegated_tree_alone(senv):
    """After apply, a daemon-reload and a property change on cgman.slice (systemd rewriting its own
    cgroups) leave cgman's groups exactly as configured: the next plan is empty."""
    senv.config(WEB)
    assert senv.cgman("apply")[0] == 0
    systemctl("daemon-reload")
    systemctl("set-property", "--runtime", "cgman.slice", "CPUWeight=50")
    try:
        assert systemctl("show", "-P", "CPUWeight", "cgman.slice") == "50"
        assert in_sync(senv)
        assert senv.path("web", "cpu.weight").read_text().strip() == "300"
    finally:
        systemctl("set-property", "--runtime", "cgman.slice", "CPUWeight=")


def test_limits_bite_below_the_delegation(senv):
    """pids.max set by cgman below the delegated unit stops forks of a process placed there."""
    senv.config('[group."p"]\npids.max = 3\n')
    assert senv.cgman("apply")[0] == 0
    procs = senv.path("p", "cgroup.procs")
    code = ("import os, time\nmade = 0\nfor _ in range(6):\n    try:\n        pid = os.fork()\n"
            "    except BlockingIOError:\n        continue\n    if pid == 0:\n"
            "        time.sleep(1)\n        os._exit(0)\n    made += 1\nprint(made)\n")
    done = subprocess.run(["sh", "-c", f'echo $$ > {procs}; exec "{sys.executable}" -c "$0"', code],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["2"], done  # the parent is the third task
    assert "max 4" in senv.path("p", "pids.events").read_text()
    deadline = time.time() + 20
    while "populated 1" in senv.path("p", "cgroup.events").read_text() and time.time() < deadline:
        time.sleep(0.05)


# --- cgmand.service, installed from systemd/ and started at boot ------------------------------


def daemon_group(group: str, file: str = "") -> Path:
    where = Path(mount_of("unified") + BASE) / group
    return where / file if file else where


@pytest.fixture
def daemon():
    """cgmand as systemd runs it, and /etc/cgman (the guest's copy of etc/cgman) put back after."""
    assert os.environ.get("CGMAN_VM_GUEST") == "1", "these tests restart cgman's units: guest only"
    saved = {p.name: p.read_text() for p in Path("/etc/cgman").glob("*.toml")}
    yield
    for path in Path("/etc/cgman").glob("*.toml"):
        if path.name not in saved:
            path.unlink()
    for name, text in saved.items():
        Path("/etc/cgman", name).write_text(text)
    systemctl("reload", DAEMON)


def test_cgmand_started_at_boot_and_applied_the_config(daemon):
    """Type=notify: active (running) means READY=1 came, after the first reconcile; the example's
    groups are below the delegated unit with their values; the unit files verify cleanly."""
    assert systemctl("show", "-P", "ActiveState", DAEMON) == "active"
    assert systemctl("show", "-P", "SubState", DAEMON) == "running"
    assert daemon_group("web", "cpu.weight").read_text().strip() == "200"
    assert daemon_group("web/frontend", "cpu.max").read_text().strip() == "50000 100000"
    assert "groups" in systemctl("show", "-P", "StatusText", DAEMON)
    units = [str(PROJECT / "systemd" / name) for name in ("cgman.slice", "cgman-groups.service", "cgmand.service")]
    verify = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
    problems = [line for line in verify.stderr.splitlines()
                if "cgman" in line and "DelegateSubgroup" not in line and "not executable" not in line]
    assert problems == [], verify.stderr


def test_an_edit_is_applied_and_systemctl_reload_waits(daemon):
    """The watcher applies an edit by itself; systemctl reload (cgman reload) applies and waits."""
    example = Path("/etc/cgman/10-example.toml")
    example.write_text(example.read_text().replace("cpu.weight = 200", "cpu.weight = 250"))
    assert wait_until(lambda: daemon_group("web", "cpu.weight").read_text().strip() == "250")
    example.write_text(example.read_text().replace("cpu.weight = 250", "cpu.weight = 260"))
    done = subprocess.run(["systemctl", "reload", DAEMON], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert daemon_group("web", "cpu.weight").read_text().strip() == "260"


def test_a_bad_edit_keeps_the_daemon_and_its_groups(daemon):
    example = Path("/etc/cgman/10-example.toml")
    example.write_text(example.read_text() + '\n[group."oops"]\ncpu.weight = "lots"\n')
    assert wait_until(lambda: "invalid" in systemctl("show", "-P", "StatusText", DAEMON))
    assert systemctl("show", "-P", "ActiveState", DAEMON) == "active"
    assert subprocess.run(["systemctl", "reload", DAEMON], capture_output=True).returncode != 0
    assert daemon_group("web", "cpu.weight").read_text().strip() == "200"


def test_restarting_cgmand_leaves_a_managed_process_alone(daemon):
    """A process in a managed group keeps running, in its group, across systemctl restart."""
    procs = daemon_group("batch", "cgroup.procs")
    proc = subprocess.Popen(["sh", "-c", f'echo $$ > {procs}; exec sleep 120'])
    try:
        assert wait_until(lambda: str(proc.pid) in procs.read_text().split(), 10)
        done = subprocess.run(["systemctl", "restart", DAEMON], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert systemctl("show", "-P", "ActiveState", DAEMON) == "active"
        assert proc.poll() is None and str(proc.pid) in procs.read_text().split()
    finally:
        proc.kill()
        proc.wait()


def test_a_user_is_placed_by_the_running_cgmand_and_refused_elsewhere(daemon):
    """cgmand.service as installed (hardened) answers place.sock: user nobody lands in the group
    whose perm.task names it, and is refused, with the policy named, where none does."""
    extra = Path("/etc/cgman/50-user.toml")
    extra.write_text('[group."mine"]\ncpu.weight = 100\n[group."mine".perm]\ntask = { uid = 65534 }\n')
    extra.chmod(0o644)
    assert subprocess.run(["systemctl", "reload", DAEMON], capture_output=True).returncode == 0

    def as_nobody(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cgmand", "exec", *args], capture_output=True, text=True,
                              timeout=60, user=65534, group=65534, extra_groups=[])

    done = as_nobody("-g", ":mine", "cat", "/proc/self/cgroup")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"0::{BASE}/mine"
    refused = as_nobody("-g", ":web", "true")
    assert refused.returncode == 125 and "has no perm.task" in refused.stderr, refused.stderr


def test_rules_leave_a_services_processes_unless_a_rule_opts_in(daemon, tmp_path):
    """The origin policy under systemd: this test runs in a service (cgman-vm.service), so a rule
    leaves its processes alone until it lists origins = ["services"]."""
    import secrets
    import shutil

    program = tmp_path / f"cgt{secrets.token_hex(5)}"
    shutil.copy(shutil.which("sleep"), program)
    rules = Path("/etc/cgman/50-rules.toml")
    rule = (f'[group."jail"]\npids.max = 100\n'
            f'[[rule]]\nname = "jail-it"\ncomm = "{program.name}"\nplace = "jail"\n')
    rules.write_text(rule)
    Path("/etc/cgman/60-rescan.toml").write_text("[manager]\nrescan_on_reload = true\n")
    assert subprocess.run(["systemctl", "reload", DAEMON], capture_output=True).returncode == 0
    proc = subprocess.Popen([str(program), "120"])
    try:
        time.sleep(1.0)
        here = Path(f"/proc/{proc.pid}/cgroup").read_text().strip()
        assert here.endswith("cgman-vm.service") or "cgman-vm.service/" in here, here
        explained = subprocess.run([sys.executable, "-m", "cgmand", "explain", "--json", str(proc.pid)],
                                   capture_output=True, text=True)
        assert json.loads(explained.stdout)["origin"] == "services", explained.stdout + explained.stderr
        rules.write_text(rule.replace('place = "jail"', 'place = "jail"\norigins = ["services"]'))
        assert subprocess.run(["systemctl", "reload", DAEMON], capture_output=True).returncode == 0
        assert wait_until(lambda: Path(f"/proc/{proc.pid}/cgroup").read_text().strip() == f"0::{BASE}/jail", 10)
    finally:
        proc.kill()
        proc.wait()
        Path("/etc/cgman/60-rescan.toml").unlink()
