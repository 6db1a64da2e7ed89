"""The rules engine against the real kernel (this host, and the pure v2 guest): cgmand places a
program the moment it starts, however it is started, leaves other processes alone, and places
what ran before it started. Each test's program is a copy of sleep under a unique name, so
the rules match this test's processes and nothing else on the machine."""

from __future__ import annotations

import os
import secrets
import signal
import time
import shutil
import subprocess
import sys

import pytest

from conftest import home, running_cgmand, wait_until


@pytest.fixture(name="program")
def _program():
    """A copy of sleep named cgt<random> (a comm of 15 characters at most), in a directory
    every user may run it from (pytest's tmp_path is root's alone)."""
    import tempfile
    from pathlib import Path

    where = Path(tempfile.mkdtemp(prefix="cgman-rules."))
    try:
        where.chmod(0o755)
        name = f"cgt{secrets.token_hex(5)}"
        shutil.copy(shutil.which("sleep"), where / name)
        yield where / name
    finally:
        shutil.rmtree(where)


def rules(kenv, program, extra: str = "") -> None:
    kenv.config(f'[group."jail"]\npids.max = 100\n[group."other"]\npids.max = 100\n'
                f'[[rule]]\nname = "by-comm"\ncomm = "{program.name}"\nplace = "jail"\n'
                f'[[rule]]\nname = "by-exe"\nexe = "{program.parent}/*-link-target"\nplace = "other"\n' + extra)


def group_of(kenv, pid: int) -> str:
    where = home("pids")
    with open(f"/proc/{pid}/cgroup") as handle:
        for line in handle:
            _id, names, path = line.rstrip("\n").split(":", 2)
            if (where == "unified" and names == "") or "pids" in names.split(","):
                return path
    return ""


def started(kenv, argv, **kw) -> subprocess.Popen:
    proc = subprocess.Popen(argv, **kw)
    kenv.procs.append(proc)
    return proc


def test_a_matching_program_is_placed_however_it_starts(kenv, tmp_path, program):
    rules(kenv, program)
    with running_cgmand(kenv, tmp_path):
        jail = f"{kenv.prefix}/jail"
        direct = started(kenv, [str(program), "60"])
        # A child of the shell: in a session of its own, so the whole group is killed at the end
        # (cgroup v1 has no cgroup.kill to end what the shell left behind).
        via_shell = started(kenv, ["sh", "-c", f"{program} 60; true"], start_new_session=True)
        exec_shell = started(kenv, ["sh", "-c", f"exec {program} 60"])  # the shell becomes it
        as_nobody = started(kenv, [str(program), "60"], user=65534, group=65534, extra_groups=[])
        for proc in (direct, exec_shell, as_nobody):
            assert wait_until(lambda: group_of(kenv, proc.pid) == jail, 30), proc.args
        child = lambda: [int(p) for p in subprocess.run(["pgrep", "-P", str(via_shell.pid)], capture_output=True,
                                                          text=True).stdout.split()]
        try:
            assert wait_until(lambda: child() and group_of(kenv, child()[0]) == jail, 30)
        finally:
            os.killpg(via_shell.pid, signal.SIGKILL)


def test_a_symlink_is_matched_by_exe_and_its_own_comm(kenv, tmp_path, program):
    target = program.parent / f"{program.name[:6]}-link-target"
    shutil.copy(program, target)
    link = program.parent / "cgtlink"  # comm is the name it was run by: the link's
    link.symlink_to(target)
    rules(kenv, program)
    with running_cgmand(kenv, tmp_path):
        proc = started(kenv, [str(link), "60"])
        assert wait_until(lambda: group_of(kenv, proc.pid) == f"{kenv.prefix}/other", 30)


def test_other_processes_stay_and_running_ones_are_placed_at_start(kenv, tmp_path, program):
    before = started(kenv, [str(program), "60"])  # runs before cgmand starts
    bystander = started(kenv, ["sleep", "60"])
    origin = group_of(kenv, bystander.pid)
    rules(kenv, program)
    with running_cgmand(kenv, tmp_path):
        assert group_of(kenv, before.pid) == f"{kenv.prefix}/jail"  # placed before READY=1
        later = started(kenv, ["sleep", "60"])
        code, out, _ = kenv.cgman("status", "--json")
        assert code == 0
        import json

        counters = json.loads(out)["daemon"]["rules"]
        assert counters["rules"] == 2 and counters["placed"] >= 1 and counters["rescans"] >= 1, counters
    assert group_of(kenv, bystander.pid) == origin and group_of(kenv, later.pid) == origin


def test_a_template_group_is_made_for_its_user_and_removed_once_empty(kenv, tmp_path, program):
    """place = "per-user/%U": cgmand makes per-user/<uid> from the template on first use (with
    the template's knobs), and removes it once nobody is in it (after a 10 s grace period)."""
    kenv.config(f'[group."per-user"]\npids.max = 1000\n[template."per-user/%U"]\npids.max = 77\n'
                f'[[rule]]\nname = "mine"\ncomm = "{program.name}"\nplace = "per-user/%U"\n')
    with running_cgmand(kenv, tmp_path):
        proc = started(kenv, [str(program), "60"], user=65534, group=65534, extra_groups=[])
        assert wait_until(lambda: group_of(kenv, proc.pid) == f"{kenv.prefix}/per-user/65534", 30)
        assert kenv.read(home("pids"), "per-user/65534", "pids.max") == "77"
        kenv.stop(proc)
        assert wait_until(lambda: not kenv.path(home("pids"), "per-user/65534").exists(), 40)
        assert kenv.path(home("pids"), "per-user").exists()


def test_a_forced_overflow_is_recovered_by_the_rescan(kenv, tmp_path, program):
    """A tiny receive buffer, and cgmand stopped (SIGSTOP) while processes start: the kernel
    must drop events. cgmand counts the overflow, grows the buffer and scans /proc again,
    and no long-lived matching process is left where it started."""
    import json

    rules(kenv, program)
    (kenv.conf / "20-buffer.toml").write_text('[manager]\nevents_buffer = "4K"\n')
    with running_cgmand(kenv, tmp_path) as cgmand:
        cgmand.send_signal(signal.SIGSTOP)
        try:
            lasting = [started(kenv, [str(program), "60"]) for _ in range(5)]
            storm = started(kenv, ["sh", "-c", "for i in $(seq 300); do /bin/true; done"])
            storm.wait(timeout=120)  # hundreds of exec events into a buffer of a few
        finally:
            cgmand.send_signal(signal.SIGCONT)
        jail = f"{kenv.prefix}/jail"
        assert wait_until(lambda: all(group_of(kenv, p.pid) == jail for p in lasting), 20)

        def counters() -> dict:
            return json.loads(kenv.cgman("status", "--json")[1])["daemon"]["rules"]

        # the resynchronising scan comes after a quiet second (engine.RESCAN_DELAY)
        assert wait_until(lambda: counters()["rescans"] >= 2, 30), counters()
        assert counters()["overflows"] >= 1, counters()


def test_a_process_that_becomes_the_user_a_rule_names_is_placed(kenv, tmp_path, program):
    """No exec: a process that calls setuid() raises a uid event, and a rule about users is
    evaluated again (research/rules.md §3.2)."""
    name = program.name
    kenv.config(f'[group."jail"]\npids.max = 100\n'
                f'[[rule]]\nname = "nobody-now"\nuser = 65534\ncomm = "{name}"\nplace = "jail"\n')
    code = (f"import os, time; open('/proc/self/comm', 'w').write('{name}'); time.sleep(0.5); "
            "os.setgid(65534); os.setuid(65534); time.sleep(60)")
    with running_cgmand(kenv, tmp_path):
        proc = started(kenv, [sys.executable, "-c", code])
        time.sleep(0.3)
        assert group_of(kenv, proc.pid) != f"{kenv.prefix}/jail"  # root, so far: no rule
        assert wait_until(lambda: group_of(kenv, proc.pid) == f"{kenv.prefix}/jail", 30)


def test_a_sticky_process_stays_unless_a_rule_forces(kenv, tmp_path, program):
    """cgman exec --sticky into one group: the rule for its program leaves it there; a rule
    with force = true takes it."""
    base = (f'[group."jail"]\npids.max = 100\n[group."mine"]\npids.max = 100\n'
            f'[[rule]]\nname = "by-comm"\ncomm = "{program.name}"\nplace = "jail"\n')
    kenv.config(base)
    target = f"{home('pids')}:mine".replace("unified:", ":")
    with running_cgmand(kenv, tmp_path):
        sticky = started(kenv, [sys.executable, "-m", "cgmand", "--config-dir", str(kenv.conf), "--run-root",
                                str(kenv.run_root), "exec", "-g", target, "--sticky", str(program), "60"])
        plain = started(kenv, [sys.executable, "-m", "cgmand", "--config-dir", str(kenv.conf), "--run-root",
                               str(kenv.run_root), "exec", "-g", target, str(program), "60"])
        assert wait_until(lambda: group_of(kenv, plain.pid) == f"{kenv.prefix}/jail", 30)  # rules apply
        time.sleep(1.0)
        assert group_of(kenv, sticky.pid) == f"{kenv.prefix}/mine"
        # force = true, and a reload that applies the new rules to running processes too
        kenv.config(base.replace('place = "jail"', 'place = "jail"\nforce = true'))
        (kenv.conf / "20-rescan.toml").write_text("[manager]\nrescan_on_reload = true\n")
        assert kenv.run("reload").returncode == 0
        assert wait_until(lambda: group_of(kenv, sticky.pid) == f"{kenv.prefix}/jail", 30)
