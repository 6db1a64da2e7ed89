"""`cgman exec` against the real kernel (this host, and the pure v2 guest): the command runs in the
group in every hierarchy asked, as itself (argv, environment, stdio, exit status, signals), and
every refusal before the exec exits 125 with a message that names the group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from conftest import home, mount_of, wait_until

GROUPS = '[group."web"]\ncpu.weight = 200\npids.max = 50\n'


def cgman_exec(kenv, *args, **kw):
    return kenv.run("exec", *args, **kw)


@pytest.fixture(name="web")
def _web(kenv):
    return kenv.applied(GROUPS)


def cgroup_lines(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        _id, names, path = line.split(":", 2)
        out[names] = path
    return out


def test_the_command_runs_in_the_group_in_every_hierarchy_asked(web):
    done = cgman_exec(web, "-g", "cpu,pids:web", "cat", "/proc/self/cgroup")
    assert done.returncode == 0, done.stderr
    where = cgroup_lines(done.stdout)
    for controller in ("cpu", "pids"):
        key = "" if home(controller) == "unified" else next(k for k in where if controller in k.split(","))
        assert where[key] == f"{web.prefix}/web"


def test_argv_environment_and_stdio_are_the_commands(web):
    args = ["a b", "$HOME", "*", "", "--flag", "-g", "x:y", "é"]
    done = cgman_exec(web, "-g", "cpu:web", sys.executable, "-c",
                      "import json, os, sys; print(json.dumps([sys.argv[1:], os.environ.get('CGMAN_T'), "
                      "sys.stdin.read()]))", *args,
                      input="from stdin", env=dict(os.environ, CGMAN_T="kept"))
    assert done.returncode == 0, done.stderr
    import json

    assert json.loads(done.stdout) == [args, "kept", "from stdin"]


def test_the_exit_status_is_the_commands(web):
    assert cgman_exec(web, "-g", "cpu:web", "sh", "-c", "exit 7").returncode == 7
    killed = cgman_exec(web, "-g", "cpu:web", "sh", "-c", "kill -TERM $$")
    assert killed.returncode == -signal.SIGTERM


def test_signal_dispositions_are_the_defaults_again(web):
    """Python ignores SIGPIPE; an ignored signal stays ignored across exec unless put back."""
    direct = subprocess.run(["sh", "-c", "grep SigIgn /proc/self/status"], capture_output=True, text=True)
    done = cgman_exec(web, "-g", "cpu:web", "sh", "-c", "grep SigIgn /proc/self/status")
    assert done.stdout == direct.stdout
    piped = subprocess.run(f"{sys.executable} -m cgmand --config-dir {web.conf} --run-root {web.run_root} "
                           "exec -g cpu:web yes | head -1", shell=True, capture_output=True, text=True,
                           timeout=30)
    assert piped.stdout == "y\n"  # yes ended on SIGPIPE


@pytest.mark.parametrize("args, status, message", [
    (["-g", "cpu:nope", "true"], 125, "no group {prefix}/nope in the"),
    (["-g", "cpux:web", "true"], 125, 'unknown controller "cpux"'),
    (["-g", "cpu", "true"], 125, "expected CONTROLLERS:PATH"),
    (["true"], 125, "-g CONTROLLERS:PATH is required"),
    (["-g", "cpu:web"], 125, "no command to run"),
    (["-g", "cpu:web", "no-such-command-here"], 127, "no-such-command-here: command not found"),
    (["-g", "cpu:web", "{tmp}/not-executable"], 126, "Permission denied"),
])
def test_refusals_before_the_exec(web, tmp_path, args, status, message):
    (tmp_path / "not-executable").write_text("#!/bin/sh\n")
    done = cgman_exec(web, *[a.format(tmp=tmp_path) for a in args])
    assert done.returncode == status
    assert message.format(prefix=web.prefix) in done.stderr and done.stderr.startswith("cgman exec: ")


def as_nobody(kenv, *args: str) -> subprocess.CompletedProcess:
    """`cgman exec ARGS` as user nobody, with a copy of the configuration nobody can read."""
    import shutil
    import tempfile

    readable = tempfile.mkdtemp(prefix="cgman-exec-nobody.")
    try:
        os.chmod(readable, 0o755)
        shutil.copytree(kenv.conf, f"{readable}/conf")
        for path in (f"{readable}/conf", *(f"{readable}/conf/{n}" for n in os.listdir(f"{readable}/conf"))):
            os.chmod(path, 0o755 if os.path.isdir(path) else 0o644)
        argv = [sys.executable, "-m", "cgmand", "--config-dir", f"{readable}/conf", "--run-root", readable,
                "exec", *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, user=65534, group=65534,
                              extra_groups=[])
    finally:
        shutil.rmtree(readable)


def test_without_permission_the_move_is_refused(web):
    """An unprivileged user (nobody) who can read the configuration cannot move into root's group."""
    done = as_nobody(web, "-g", "cpu:web", "true")
    assert done.returncode == 125, done.stderr
    assert f"permission denied: cannot move a process into {web.prefix}/web" in done.stderr


@pytest.mark.skipif(mount_of("cpu") is None, reason="cgroup v1: perm.task ownership (v2 needs cgmand's help)")
def test_v1_a_user_the_group_gives_its_task_files_may_exec_into_it(kenv):
    """cgconfig's way, kept: perm.task owns tasks/cgroup.procs, so that user may move itself in."""
    kenv.applied('[group."mine"]\ncpu.weight = 100\n[group."mine".perm]\ntask = { uid = 65534, gid = 65534 }\n')
    done = as_nobody(kenv, "-g", "cpu:mine", "cat", "/proc/self/cgroup")
    assert done.returncode == 0, done.stderr
    assert f"cpu:{kenv.prefix}/mine" in done.stdout.replace("cpu,cpuacct:", "cpu:")


@pytest.mark.skipif(mount_of("cpu") is not None, reason="cgroup v2 only: the no-internal-process rule")
def test_v2_an_inner_group_and_a_controller_not_enabled_are_refused(kenv):
    """The rule binds domain controllers (memory, io): with only threaded ones (cpu, pids)
    enabled below it, a group may hold processes (kernel/cgroup/cgroup.c,
    cgroup_migrate_vet_dst)."""
    kenv.config('[group."inner"]\nmemory.max = "1G"\n[group."inner/leaf"]\nmemory.max = "512M"\n'
                '[group."threaded"]\ncpu.weight = 100\n[group."threaded/leaf"]\ncpu.weight = 50\n')
    assert kenv.cgman("apply")[0] == 0
    done = cgman_exec(kenv, "-g", "memory:inner", "true")
    assert done.returncode == 125 and "no-internal-process rule" in done.stderr, done.stderr
    assert cgman_exec(kenv, "-g", "memory:inner/leaf", "true").returncode == 0
    assert cgman_exec(kenv, "-g", "cpu:threaded", "true").returncode == 0
    with open(f"{mount_of('unified')}/cgroup.controllers") as handle:
        unused = next(c for c in ("io", "hugetlb", "rdma", "misc") if c in handle.read().split())
    done = cgman_exec(kenv, "-g", f"{unused}:threaded", "true")
    assert done.returncode == 125 and f"the {unused} controller is not enabled for" in done.stderr, done.stderr


def test_star_and_the_v2_form(web):
    """*: every hierarchy the group is in; ":web": the cgroup2 mount alone."""
    where = cgroup_lines(cgman_exec(web, "-g", "*:web", "cat", "/proc/self/cgroup").stdout)
    assert sum(path == f"{web.prefix}/web" for path in where.values()) >= (1 if mount_of("cpu") is None else 2)
    if mount_of("unified"):
        where = cgroup_lines(cgman_exec(web, "-g", ":web", "cat", "/proc/self/cgroup").stdout)
        assert where[""] == f"{web.prefix}/web"


def test_a_closed_stdout_and_a_script_without_a_shebang(web, tmp_path):
    """exec runs with fd 1 closed (Python then has no sys.stdout), and runs a script without
    #! through /bin/sh, as execvp(3) and env(1) do."""
    closed = subprocess.run(f"{sys.executable} -m cgmand --config-dir {web.conf} --run-root {web.run_root} "
                            "exec -g cpu:web sh -c 'exit 3' >&-", shell=True, capture_output=True, text=True)
    assert closed.returncode == 3, closed.stderr
    script = tmp_path / "plain"
    script.write_text("echo from-sh \"$1\"\nexit 4\n")
    script.chmod(0o755)
    done = cgman_exec(web, "-g", "cpu:web", str(script), "arg")
    assert done.returncode == 4 and done.stdout == "from-sh arg\n", done.stderr


def test_a_mistake_in_another_group_does_not_stop_exec(web):
    """An edit that breaks one group warns, and exec into the others goes on (cgmand too keeps
    the last good configuration); a broken [manager] still refuses, exit 125."""
    conf = next(web.conf.glob("*.toml"))
    conf.write_text(conf.read_text() + '\n[group."typo"]\ncpu.weight = "lots"\n')
    done = cgman_exec(web, "-g", "cpu:web", "cat", "/proc/self/cgroup")
    assert done.returncode == 0, done.stderr
    assert f"{web.prefix}/web" in done.stdout
    assert 'warning: the configuration is invalid' in done.stderr and 'group."typo"' in done.stderr
    (web.conf / "20-manager.toml").write_text('[manager]\nbogus = 1\n')
    refused = cgman_exec(web, "-g", "cpu:web", "true")
    assert refused.returncode == 125 and 'manager.bogus' in refused.stderr, refused.stderr


@pytest.mark.skipif(mount_of("unified") is None, reason="needs a cgroup2 mount (cgroup.freeze)")
def test_exec_into_a_frozen_group_is_refused_instead_of_hanging(web):
    """A process joining a frozen group stops at once: cgexec would hang there; cgman refuses."""
    freeze = web.path("unified", "web", "cgroup.freeze")
    freeze.write_text("1")
    try:
        assert wait_until(lambda: "frozen 1" in web.read("unified", "web", "cgroup.events").splitlines(), 10)
        done = cgman_exec(web, "-g", ":web", "true")
        assert done.returncode == 125 and f"{web.prefix}/web (unified, -g :web) is frozen" in done.stderr, done.stderr
    finally:
        freeze.write_text("0")
    assert cgman_exec(web, "-g", ":web", "true").returncode == 0
