#!/usr/bin/env python3
"""Unprivileged `cgman exec` through cgmand, against root's direct exec, same run.

    sudo .venv/bin/python bench/exec_user.py [--runs 40]

One group G, declared with `perm.task = { uid = 65534 }`, under a unique
/cgbench_user_* root, and cgmand running on that configuration. Three launchers
of /bin/true into the cgroup2 group (`-g :G`), interleaved round-robin:

* root: `cgman exec -g :G /bin/true` as root (moves itself: writes 0 to
  cgroup.procs);
* user: the same as user nobody, which cgmand places through place.sock
  (SO_PEERCRED, the perm.task policy, the move by pid, the reply), then execs;
* floor: bench/floor_exec.py as root, writing 0 to the same cgroup.procs.

What the user pays over root is the daemon round trip and its pid write (a
pid write waits for an RCU grace period where "0" by the mover itself does
too on cgroup2). Wall time of the whole process, medians, back to back.
Nothing outside the run's prefix is touched; cgmand is stopped and the
groups removed even on failure. Results: stdout and bench/results/.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from apply import cgroup_mounts, report  # noqa: E402
from exec import median_ms, placed  # noqa: E402

PYTHON = str(REPO / ".venv" / "bin" / "python")
CGMAN = str(REPO / ".venv" / "bin" / "cgman")
NOBODY = 65534


def spawn_wall(argv, user: bool) -> float:
    started = time.perf_counter()
    if user:
        done = subprocess.run(argv, user=NOBODY, group=NOBODY, extra_groups=[])
    else:
        done = subprocess.run(argv)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv} exited {done.returncode}")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    unified = next((m for m in cgroup_mounts() if m.version == 2), None)
    if unified is None:
        raise SystemExit("needs a cgroup2 mount")
    top = f"cgbench_user_{secrets.token_hex(3)}"
    work = Path(tempfile.mkdtemp(prefix="cgman-bench-user."))
    work.chmod(0o755)
    conf, run = work / "conf", work / "run"
    conf.mkdir(mode=0o755)
    run.mkdir(mode=0o755)
    config = conf / "10-bench.toml"
    config.write_text(f'[manager]\nroot = "/{top}"\n[group."G"]\ncpu.weight = 100\n'
                      f'[group."G".perm]\ntask = {{ uid = {NOBODY} }}\n')
    config.chmod(0o644)
    time.sleep(2.1)  # cgman keeps its caches only for files at least 2 s old
    cg = [CGMAN, "--config-dir", str(conf), "--run-root", str(run)]
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(work / "notify.sock"))
    notify.settimeout(60)
    daemon = subprocess.Popen(cg + ["daemon"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=dict(os.environ, NOTIFY_SOCKET=str(work / "notify.sock")))
    try:
        while "READY=1" not in notify.recv(4096).decode():
            pass
        procs = f"{unified.point}/{top}/G/cgroup.procs"
        variants = {
            "root": (cg + ["exec", "-g", ":G", "/bin/true"], False),
            "user": (cg + ["exec", "-g", ":G", "/bin/true"], True),
            "floor": ([PYTHON, str(REPO / "bench" / "floor_exec.py"), procs, "/bin/true"], False),
        }
        for name, (argv, user) in variants.items():
            if user:
                out = subprocess.run(argv[:-1] + ["/bin/cat", "/proc/self/cgroup"], capture_output=True,
                                     text=True, user=NOBODY, group=NOBODY, extra_groups=[])
                if f"0::/{top}/G" not in out.stdout.splitlines():
                    raise SystemExit(f"user exec did not land in G: {out.stdout}{out.stderr}")
            else:
                placed(argv, {"": f"/{top}/G"})
        times = {name: [] for name in variants}
        names = list(variants)
        for round_ in range(args.runs + 2):
            for name in names[round_ % 3:] + names[:round_ % 3]:
                wall = spawn_wall(*variants[name])
                if round_ >= 2:
                    times[name].append(wall)
        result = {"runs": args.runs, "machine": os.uname().release, "cpus": os.cpu_count(),
                  "back_to_back": {name: median_ms(values) for name, values in times.items()}}
        b2b = result["back_to_back"]
        b2b["user_over_root"] = round(b2b["user"] / b2b["root"], 2)
        b2b["user_minus_root_ms"] = round(b2b["user"] - b2b["root"], 2)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        config.write_text(f'[manager]\nroot = "/{top}"\n')
        subprocess.run(cg + ["apply"], stdout=subprocess.DEVNULL)
        for mount in cgroup_mounts():
            path = Path(f"{mount.point}/{top}")
            if path.is_dir():
                for child in sorted(path.rglob("*"), key=lambda p: -len(p.parts)):
                    if child.is_dir():
                        child.rmdir()
                path.rmdir()
        shutil.rmtree(work)
        notify.close()
    report("exec_user", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
