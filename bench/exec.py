#!/usr/bin/env python3
"""`cgman exec` against libcgroup's `cgexec` and the Python floor, in the same run.

    sudo .venv/bin/python bench/exec.py [--runs 40] [--cold-runs 15] [--gap-ms 250]

One group G with cpu and memory (cgman apply, under a unique /cgbench_exec_*
root, mirrored in the cgroup2 mount as cgman does) and three launchers of
/bin/true in it, run interleaved round-robin (the order rotates every round):

* cgman: `.venv/bin/cgman exec -g cpu,memory:G /bin/true`;
* cgexec: Debian's cgroup-tools, `cgexec -g cpu,memory:/<root>/G /bin/true`;
* floor: bench/floor_exec.py with the venv's Python, writing "0" to the
  same files cgman writes (v1 tasks; cgroup.procs on a pure cgroup2 host;
  without systemd cgman exec leaves a hybrid host's cgroup2 mirror out),
  then exec.

Each is checked once with /bin/cat /proc/self/cgroup as the payload. Times
are the wall time of the whole process (posix_spawn to reaped exit):
back to back, then with --gap-ms of idle before each launch (on cgroup v1
a pid write after >= 20 ms of quiet waits for an RCU grace period: see
../shared/BASELINE.md). Targets (issue 5): back to back <= 1.3x the floor;
after idle, not slower than cgexec. Results: stdout and bench/results/.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from apply import cgroup_mounts, report  # noqa: E402

PYTHON = str(REPO / ".venv" / "bin" / "python")
CGMAN = str(REPO / ".venv" / "bin" / "cgman")


def spawn_wall(argv, stdout=None) -> float:
    """Wall seconds from posix_spawn to the reaped exit; raises on a non-zero status."""
    started = time.perf_counter()
    kwargs = {}
    if stdout is not None:
        kwargs["file_actions"] = [(os.POSIX_SPAWN_DUP2, stdout, 1)]
    pid = os.posix_spawn(argv[0], argv, os.environ, **kwargs)
    _, status = os.waitpid(pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv} exited {os.waitstatus_to_exitcode(status)}")
    return wall


def placed(argv, expected) -> None:
    out = subprocess.run(argv[:-1] + ["/bin/cat", "/proc/self/cgroup"], capture_output=True, text=True,
                         check=True).stdout
    lines = {line.split(":", 2)[1]: line.split(":", 2)[2] for line in out.splitlines()}
    for names, path in expected.items():
        got = next((p for n, p in lines.items() if set(n.split(",")) >= set(names.split(",")) and n), None)
        if names == "":
            got = lines.get("")
        if got != path:
            raise SystemExit(f"{argv[0]}: expected {names}:{path}, /proc/self/cgroup says:\n{out}")


def median_ms(values) -> float:
    return round(statistics.median(values) * 1000, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--cold-runs", type=int, default=15)
    parser.add_argument("--gap-ms", type=float, default=250)
    args = parser.parse_args()
    top = f"cgbench_exec_{secrets.token_hex(3)}"
    work = Path(tempfile.mkdtemp(prefix="cgman-bench-exec."))
    conf, run = work / "conf", work / "run"
    conf.mkdir()
    run.mkdir()
    config = conf / "10-bench.toml"
    config.write_text(f'[manager]\nroot = "/{top}"\n[group."G"]\ncpu.weight = 100\nmemory.max = "1G"\n')
    time.sleep(2.1)  # cgman trusts its config cache only for files at least 2 s old
    cg = [CGMAN, "--config-dir", str(conf), "--run-root", str(run)]
    subprocess.run(cg + ["apply"], check=True, stdout=subprocess.DEVNULL)
    try:
        mounts = cgroup_mounts()
        v1 = {m.name: m for m in mounts if m.version == 1}
        unified = next((m for m in mounts if m.version == 2), None)
        files, expected = [], {}
        for controller in ("cpu", "memory"):
            mount = next((m for m in v1.values() if controller in m.controllers), None)
            if mount is not None:
                files.append(f"{mount.point}/{top}/G/tasks")
                expected[controller] = f"/{top}/G"
        if unified is not None and not v1:  # cgman exec joins the cgroup2 mirror only under systemd
            files.append(f"{unified.point}/{top}/G/cgroup.procs")
            expected[""] = f"/{top}/G"
        variants = {
            "cgman": cg + ["exec", "-g", "cpu,memory:G", "/bin/true"],
            "cgexec": ["/usr/bin/cgexec", "-g", f"cpu,memory:/{top}/G", "/bin/true"],
            "floor": [PYTHON, str(REPO / "bench" / "floor_exec.py"), ",".join(files), "/bin/true"],
        }
        for name, argv in variants.items():
            placed(argv, expected if name != "cgexec" else {k: v for k, v in expected.items() if k})
        result = {"runs": args.runs, "cold_runs": args.cold_runs, "gap_ms": args.gap_ms,
                  "machine": os.uname().release, "cpus": os.cpu_count()}
        for mode, runs, gap in (("back_to_back", args.runs, 0.0), ("after_idle", args.cold_runs, args.gap_ms)):
            times = {name: [] for name in variants}
            names = list(variants)
            for round_ in range(runs + 2):
                order = names[round_ % len(names):] + names[:round_ % len(names)]
                for name in order:
                    if gap:
                        time.sleep(gap / 1000)
                    wall = spawn_wall(variants[name])
                    if round_ >= 2:  # two warm-up rounds
                        times[name].append(wall)
            result[mode] = {name: median_ms(values) for name, values in times.items()}
            result[mode]["cgman_over_floor"] = round(result[mode]["cgman"] / result[mode]["floor"], 2)
            result[mode]["cgman_over_cgexec"] = round(result[mode]["cgman"] / result[mode]["cgexec"], 2)
    finally:
        config.write_text(f'[manager]\nroot = "/{top}"\n')
        subprocess.run(cg + ["apply"], stdout=subprocess.DEVNULL)
    report("exec", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
