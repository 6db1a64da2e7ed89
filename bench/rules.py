#!/usr/bin/env python3
"""The rules engine against cgrulesengd, in the same run.

    sudo .venv/bin/python bench/rules.py [--rates 20,500,1000,2000] [--seconds 2] [--lifetimes 20,500] [--load]

A probe program (bench/c/probe.c, compiled here under a unique 15-character name)
is launched by bench/c/spawner.c at each RATE per second for SECONDS, living
LIFETIME ms each. Every probe polls /proc/self/cgroup from its first instant
and reports whether, and how long after its spawn, it saw itself in the target
group: that is the ground truth. Both systems get one equivalent rule (by the
probe's name, into a cpu group):

* cgman: cgmand with `[[rule]] comm = "<probe>" place = "G"`, G a declared group
  under a unique /cgbench_rules_* root;
* cgrulesengd (Debian's cgroup-tools): `*:<probe> cpu <root>/G` in a cgrules.conf
  that only a private mount namespace sees (an overlay on /etc there; a private
  /run for its socket), so the host's /etc is never touched.

Systems alternate run by run. Measured per (system, rate, lifetime): the
fraction placed, spawn-to-placed latency (p50/p99/max), and the daemon's CPU time
(its process CPU clock) per placed process. `--load` adds a busy loop on every CPU during
the runs. Everything lives under the run's prefix and is removed at the end,
even on failure. Results: stdout and bench/results/rules-*.json.
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

CGMAN = str(REPO / ".venv" / "bin" / "cgman")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """The CPU time of the whole process (all its threads, living or exited), in ns
    precision: its process CPU clock, which any process may read (clock_getcpuclockid(3);
    the kernel's id for it is MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)). utime+stime
    in /proc/PID/stat count 10 ms ticks: a whole process's worth of CPU per tick at 20/s."""
    try:
        return time.clock_gettime(((~pid) << 3) | 2)
    except OSError:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14, 15)


def compile_tools(work: Path, probe_name: str) -> tuple:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise SystemExit("needs a C compiler (apt-get install gcc): the load generator must not be Python")
    probe, spawner = work / probe_name, work / "spawner"
    for source, out in (("probe.c", probe), ("spawner.c", spawner)):
        subprocess.run([cc, "-O2", "-o", str(out), str(REPO / "bench" / "c" / source)], check=True)
    return probe, spawner


def run_once(spawner: Path, probe: Path, expected: str, rate: int, count: int, lifetime: int, daemon_pid: int):
    read_end, write_end = os.pipe()
    before = cpu_seconds(daemon_pid)
    # The probes write to fd 3: the shell puts the pipe there (subprocess would close a
    # descriptor dup'ed in preexec_fn).
    proc = subprocess.Popen(["sh", "-c", f'exec "$0" "$@" 3>&{write_end}', str(spawner), str(rate), str(count),
                             str(probe), expected, str(lifetime)],
                            stdout=subprocess.PIPE, text=True, pass_fds=(write_end,))
    os.close(write_end)
    chunks = []
    while True:
        chunk = os.read(read_end, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    achieved = float(proc.communicate()[0].strip() or 0)
    time.sleep(0.2)  # the daemon's last moves
    cpu = cpu_seconds(daemon_pid) - before
    results = [line for line in b"".join(chunks).decode().splitlines() if line]
    latencies = sorted(int(line.split()[1]) / 1e6 for line in results if line.startswith("Y "))
    placed = len(latencies)
    return {
        "spawned": count, "reported": len(results), "achieved_rate": achieved,
        "placed_fraction": round(placed / count, 4) if count else 0.0,
        "latency_ms": {"p50": _pct(latencies, 50), "p99": _pct(latencies, 99),
                       "max": round(latencies[-1], 2) if latencies else None},
        "daemon_cpu_ms_per_placed": round(cpu * 1000 / placed, 3) if placed else None,
        "daemon_cpu_s": round(cpu, 3),
    }


def _pct(values, pct):
    if not values:
        return None
    return round(values[min(len(values) - 1, int(len(values) * pct / 100))], 2)


class Cgmand:
    def __init__(self, work: Path, top: str, probe_name: str):
        self.conf, self.run = work / "cgman-conf", work / "cgman-run"
        self.conf.mkdir()
        self.run.mkdir()
        (self.conf / "10-bench.toml").write_text(
            f'[manager]\nroot = "/{top}"\n[group."G"]\ncpu.weight = 100\n'
            f'[[rule]]\nname = "probe"\ncomm = "{probe_name}"\nplace = "G"\n')
        self.expected = f"/{top}/G"
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(work / "notify.sock"))
        notify.settimeout(60)
        self.proc = subprocess.Popen([CGMAN, "--config-dir", str(self.conf), "--run-root", str(self.run), "daemon",
                                      "--log-format", "json"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=dict(os.environ, NOTIFY_SOCKET=str(work / "notify.sock")))
        while "READY=1" not in notify.recv(4096).decode():
            pass
        notify.close()
        self.pid = self.proc.pid

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        (self.conf / "10-bench.toml").write_text(f'[manager]\nroot = "{self.expected.rsplit("/", 1)[0]}"\n')
        subprocess.run([CGMAN, "--config-dir", str(self.conf), "--run-root", str(self.run), "apply"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Cgrulesengd:
    def __init__(self, work: Path, top: str, probe_name: str, cpu_mount: str):
        self.group = Path(cpu_mount) / top / "G"
        self.group.mkdir(parents=True, exist_ok=True)
        upper, scratch = work / "etc-upper", work / "etc-work"
        upper.mkdir()
        scratch.mkdir()
        (upper / "cgrules.conf").write_text(f"*:{probe_name}\tcpu\t{top}/G\n")
        (upper / "cgconfig.conf").write_text("# empty: cgrulesengd 2.0 refuses to start without one\n")
        for name in ("cgconfig.d", "cgrules.d"):
            (upper / name).mkdir()
        self.expected = f"/{top}/G"
        script = (f"mount -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={scratch} /etc && "
                  "mount -t tmpfs tmpfs /run && exec /usr/sbin/cgrulesengd -n -Q")
        self.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # it reads its rules and subscribes; nothing tells when it is done
        if self.proc.poll() is not None:
            raise SystemExit("cgrulesengd did not start")
        self.pid = self.proc.pid  # sh execs it: the same process

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def busy(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="20,500,1000,2000")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--lifetimes", default="20,500", help="probe lifetimes in ms")
    parser.add_argument("--load", action="store_true", help="a busy loop on every CPU during the runs")
    args = parser.parse_args()
    cpu_mount = next((m.point for m in cgroup_mounts() if m.version == 1 and "cpu" in m.controllers), None)
    if cpu_mount is None:
        cpu_mount = next(m.point for m in cgroup_mounts() if m.version == 2)
    token = secrets.token_hex(3)
    work = Path(tempfile.mkdtemp(prefix="cgman-bench-rules."))
    work.chmod(0o755)
    probe_name = f"cgbp{token}"
    probe, spawner = compile_tools(work, probe_name)
    tops = {"cgman": f"cgbench_rules_{token}_cgman", "cgrulesengd": f"cgbench_rules_{token}_lc"}
    result = {"machine": os.uname().release, "cpus": os.cpu_count(), "seconds": args.seconds,
              "load": args.load, "runs": []}
    loaders = []
    started = []
    try:
        if args.load:
            import multiprocessing

            loaders = [multiprocessing.Process(target=busy, args=(3600,), daemon=True)
                       for _ in range(os.cpu_count() or 1)]
            for loader in loaders:
                loader.start()
        run = 0
        for rate in (int(r) for r in args.rates.split(",")):
            for lifetime in (int(x) for x in args.lifetimes.split(",")):
                order = ("cgman", "cgrulesengd") if run % 2 == 0 else ("cgrulesengd", "cgman")
                run += 1
                for system in order:  # one engine at a time, each started afresh
                    where = work / f"{system}-{run}"
                    where.mkdir()
                    daemon = (Cgmand(where, tops[system], probe_name) if system == "cgman"
                              else Cgrulesengd(where, tops[system], probe_name, cpu_mount))
                    started.append(daemon)
                    try:
                        count = max(int(rate * args.seconds), 40)
                        row = run_once(spawner, probe, daemon.expected, rate, count, lifetime, daemon.pid)
                    finally:
                        daemon.stop()
                        started.remove(daemon)
                    row.update(system=system, rate=rate, lifetime_ms=lifetime)
                    print(row, flush=True)
                    result["runs"].append(row)
    finally:
        for loader in loaders:
            loader.terminate()
        for daemon in started:
            daemon.stop()
        for mount in cgroup_mounts():
            for top in tops.values():
                path = Path(f"{mount.point}/{top}")
                if path.is_dir():
                    for child in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                        child.rmdir()
                    path.rmdir()
        shutil.rmtree(work, ignore_errors=True)
    report("rules", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
