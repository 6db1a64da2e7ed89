#!/usr/bin/env python3
"""cgmand under load: start-to-READY, one-knob edit to kernel, and idle cost, for N groups.

    sudo .venv/bin/python bench/daemon.py [--groups 1000] [--edits 40] [--idle 60]

It writes an N-group configuration (bench/apply.py's), starts the venv's
cgmand on it with a private notify socket, and measures:

* start: from exec to READY=1 (the first full reconcile included);
* edit: for each of --edits one-knob edits (a group's cpu.weight, the file
  rewritten in place), the time from the write returning to the kernel file
  showing the new value, polled every 0.5 ms; p50 and p99;
* idle: over --idle seconds with nothing changing, the daemon's CPU time and
  its RSS at the end (drift checks at the default interval included).

Groups live under a unique /cgbench_daemon_* root and are removed at the end
(the daemon is stopped, then `cgman apply` on an empty config). Results go to
stdout and bench/results/daemon-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from apply import Spec, cgroup_mounts, cpu_list_online, report  # noqa: E402


def kernel_weight_file(top: str, group: str) -> Path:
    mounts = {m.point: m for m in cgroup_mounts()}
    cpu = next((m for m in mounts.values() if m.version == 1 and "cpu" in m.controllers), None)
    if cpu is not None:
        return Path(cpu.point) / top / group / "cpu.shares"
    unified = next(m for m in mounts.values() if m.version == 2)
    return Path(unified.point) / top / group / "cpu.weight"


def expected(path: Path, weight: int) -> str:
    return str(weight * 1024 // 100) if path.name == "cpu.shares" else str(weight)


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--edits", type=int, default=40)
    parser.add_argument("--idle", type=float, default=60.0)
    args = parser.parse_args()
    top = f"cgbench_daemon_{secrets.token_hex(3)}"
    cpus, mems = cpu_list_online()
    spec = Spec(args.groups, cpus, mems, cpus, mems)
    work = Path(tempfile.mkdtemp(prefix="cgman-bench-daemon."))
    conf, run = work / "conf", work / "run"
    conf.mkdir()
    run.mkdir()
    config = conf / "10-bench.toml"
    config.write_text(spec.toml(top))
    time.sleep(2.1)  # cgman trusts its caches only for files at least 2 s old, as after a real edit
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(work / "notify.sock"))
    notify.settimeout(300)
    log = open(work / "cgmand.log", "w")
    cgmand = str(REPO / ".venv" / "bin" / "cgmand")
    started = time.perf_counter()
    daemon = subprocess.Popen([cgmand, "--config-dir", str(conf), "--run-root", str(run)], stdout=log, stderr=log,
                              env=dict(os.environ, NOTIFY_SOCKET=str(work / "notify.sock")))
    result = {"groups": args.groups, "edits": args.edits, "idle_s": args.idle}
    try:
        while "READY=1" not in notify.recv(65536).decode():
            pass
        result["start_to_ready_ms"] = round((time.perf_counter() - started) * 1000, 1)
        # Keep reading, as systemd would (the daemon drops what does not fit, but a
        # supervisor that listens is the case to measure).
        threading.Thread(target=lambda: [notify.recv(65536) for _ in iter(int, 1)], daemon=True).start()
        group = spec.KNOB_GROUP
        target = kernel_weight_file(top, group)
        latencies = []
        for edit in range(args.edits):
            weight = 100 + edit % 2 * 100 + edit  # a new value every time
            text = spec.toml(top).replace(f'[group."{group}"]\ncpu.weight = {spec.weight(spec.groups[0], False)}',
                                          f'[group."{group}"]\ncpu.weight = {weight}')
            config.write_text(text)
            written = time.perf_counter()
            want = expected(target, weight)
            while target.read_text().strip() != want:
                if time.perf_counter() - written > 30:
                    raise SystemExit(f"edit {edit}: the kernel never showed {want}")
                time.sleep(0.0005)
            latencies.append((time.perf_counter() - written) * 1000)
            time.sleep(0.2)  # let the daemon settle (its own READY) before the next edit
        latencies.sort()
        result["edit_ms"] = {"p50": round(statistics.median(latencies), 1),
                             "p99": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
                             "min": round(latencies[0], 1), "max": round(latencies[-1], 1)}
        cpu_before = process_cpu_seconds(daemon.pid)
        time.sleep(args.idle)
        result["idle_cpu_s"] = round(process_cpu_seconds(daemon.pid) - cpu_before, 3)
        result["idle_rss_mib"] = round(rss_mib(daemon.pid), 1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
        config.write_text(f'[manager]\nroot = "/{top}"\n')
        subprocess.run([str(REPO / ".venv" / "bin" / "cgman"), "--config-dir", str(conf), "--run-root", str(run),
                        "apply"], stdout=subprocess.DEVNULL)
    report("daemon", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
