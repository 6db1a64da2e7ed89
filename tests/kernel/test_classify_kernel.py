"""`cgman classify` against the real kernel (this host, and the pure v2 guest): whole processes move
(every thread), a process that is gone is reported and is not a failure, bad PIDs are usage
errors, and a failed move fails the command but not the other moves."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import home, wait_until

GROUPS = '[group."web"]\ncpu.weight = 200\npids.max = 50\n[group."db"]\ncpu.weight = 100\n'
THREADS = "import threading, time\n[threading.Thread(target=time.sleep, args=(120,), daemon=True).start() " \
          "for _ in range(3)]\ntime.sleep(120)"


def classify(kenv, *args):
    return kenv.run("classify", *args)


def started(kenv, code: str = "import time; time.sleep(120)") -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", code])
    kenv.procs.append(proc)
    return proc


def cgroups(pid: int, task: int = 0) -> dict:
    path = f"/proc/{pid}/task/{task}/cgroup" if task else f"/proc/{pid}/cgroup"
    with open(path) as handle:
        return {line.split(":", 2)[1]: line.split(":", 2)[2].strip() for line in handle}


def in_group(kenv, pid: int, group: str, controller: str = "cpu", task: int = 0) -> bool:
    where = cgroups(pid, task)
    key = "" if home(controller) == "unified" else next(k for k in where if controller in k.split(","))
    return where[key] == f"{kenv.prefix}/{group}"


@pytest.fixture(name="web")
def _web(kenv):
    return kenv.applied(GROUPS)


def test_processes_move_whole_every_thread_with_them(web):
    single, threaded = started(web), started(web, THREADS)
    assert wait_until(lambda: len(list(__import__("os").listdir(f"/proc/{threaded.pid}/task"))) == 4)
    done = classify(web, "-g", "cpu,pids:web", str(single.pid), str(threaded.pid))
    assert done.returncode == 0, done.stderr
    for proc in (single, threaded):
        assert in_group(web, proc.pid, "web", "cpu") and in_group(web, proc.pid, "web", "pids")
    for task in __import__("os").listdir(f"/proc/{threaded.pid}/task"):
        assert in_group(web, threaded.pid, "web", "cpu", int(task))


def test_a_thread_id_moves_its_whole_process(web):
    threaded = started(web, THREADS)
    assert wait_until(lambda: len(__import__("os").listdir(f"/proc/{threaded.pid}/task")) == 4)
    thread = max(int(t) for t in __import__("os").listdir(f"/proc/{threaded.pid}/task"))
    assert classify(web, "-g", "cpu:db", str(thread)).returncode == 0
    assert in_group(web, threaded.pid, "db")


def test_a_process_that_is_gone_is_reported_not_failed(web):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    alive = started(web)
    done = classify(web, "-g", "cpu:web", gone, str(alive.pid))
    assert done.returncode == 0
    assert f"process {gone} is gone" in done.stderr
    assert in_group(web, alive.pid, "web")


def test_a_zombie_is_gone_too(web):
    parent = started(web, "import os, time\nif os.fork() == 0:\n    os._exit(0)\ntime.sleep(120)")
    assert wait_until(lambda: any(open(f"/proc/{c}/stat").read().split(")")[-1].split()[0] == "Z"
                                  for c in open(f"/proc/{parent.pid}/task/{parent.pid}/children").read().split()))
    zombie = open(f"/proc/{parent.pid}/task/{parent.pid}/children").read().split()[0]
    done = classify(web, "-g", "cpu:web", zombie)
    assert done.returncode == 0 and f"process {zombie}" in done.stderr, done.stderr


@pytest.mark.parametrize("args, status, message", [
    (["-g", "cpu:web", "abc"], 2, "abc is not a process id"),
    (["-g", "cpu:web", "0"], 2, "0 is not a process id"),
    (["-g", "cpu:web"], 2, "no process given"),
    (["1"], 2, "-g CONTROLLERS:PATH is required"),
    (["-g", "cpux:web", "1"], 2, 'unknown controller "cpux"'),
])
def test_bad_command_lines(web, args, status, message):
    done = classify(web, *args)
    assert done.returncode == status and message in done.stderr, done.stderr


def test_a_failed_move_fails_the_command(web):
    alive = started(web)
    done = classify(web, "-g", "cpu:nope", str(alive.pid))
    assert done.returncode == 1 and f"no group {web.prefix}/nope" in done.stderr
    assert not in_group(web, alive.pid, "nope")
