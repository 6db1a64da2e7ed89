"""--sticky and --cancel-sticky against the real kernel (this host, and the pure v2 guest): the
mark names the process by (pid, start time), is kept by cgmand when it runs and in its file
when it does not, and --cancel-sticky removes it."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import as_user, home, running_cgmand, shared_with_users, wait_until

GROUPS = '[group."web"]\ncpu.weight = 200\n'


def marks(kenv) -> dict:
    path = kenv.run_root / "cgman" / "sticky.json"
    if not path.exists():
        return {}
    return {(m["pid"], m["start"]): m for m in json.loads(path.read_text())["marks"]}


def start_time(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[19])


def sleeper(kenv) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    kenv.procs.append(proc)
    return proc


def test_exec_sticky_without_cgmand_writes_the_mark_for_the_command_itself(kenv):
    kenv.applied(GROUPS)
    done = kenv.run("exec", "-g", f"{home('cpu')}:web".replace("unified:", ":"), "--sticky",
                    "sh", "-c", "echo $$; cut -d' ' -f22 /proc/$$/stat")
    assert done.returncode == 0, done.stderr
    pid, start = (int(v) for v in done.stdout.split())
    mark = marks(kenv)[(pid, start)]  # the command's own identity: exec keeps pid and start time
    assert mark["sticky"] is True and mark["group"] == "web"


def test_classify_sticky_then_cancel(kenv):
    kenv.applied(GROUPS)
    proc = sleeper(kenv)
    group = f"{home('cpu')}:web".replace("unified:", ":")
    assert kenv.run("classify", "-g", group, "--sticky", str(proc.pid)).returncode == 0
    assert marks(kenv)[(proc.pid, start_time(proc.pid))]["sticky"] is True
    done = kenv.run("classify", "--cancel-sticky", str(proc.pid))  # no -g: free it for the rules, no move
    assert done.returncode == 0, done.stderr
    assert (proc.pid, start_time(proc.pid)) not in marks(kenv)


def test_with_cgmand_running_it_keeps_the_mark_and_forgets_it_when_the_process_ends(kenv, tmp_path):
    kenv.config(GROUPS)
    (kenv.conf / "20-daemon.toml").write_text("[manager]\ndrift_interval = 0.3\n")
    with running_cgmand(kenv, tmp_path):
        proc = sleeper(kenv)
        group = f"{home('cpu')}:web".replace("unified:", ":")
        done = kenv.run("classify", "-g", group, "--sticky", str(proc.pid))
        assert done.returncode == 0, done.stderr
        assert (proc.pid, start_time(proc.pid)) in marks(kenv)
        code, out, _ = kenv.cgman("status", "--json")
        assert code == 0 and json.loads(out)["daemon"]["sticky"] == 1, out
        kenv.stop(proc)
        assert wait_until(lambda: not marks(kenv), 10)  # settled at a drift check


def test_a_users_sticky_exec_is_marked_by_cgmand(kenv, tmp_path):
    """A user's --sticky goes through place.sock: cgmand places and marks the process."""
    with shared_with_users(kenv):
        kenv.config('[group."mine"]\npids.max = 50\n[group."mine".perm]\ntask = { uid = 65534 }\n')
        with running_cgmand(kenv, tmp_path):
            group = f"{home('pids')}:mine".replace("unified:", ":")
            done = as_user(kenv, "exec", "-g", group, "--sticky", "sh", "-c", "echo $$")
            assert done.returncode == 0, done.stderr
            assert int(done.stdout) in {pid for pid, _ in marks(kenv)}
