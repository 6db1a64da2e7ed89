#!/usr/bin/env python3
"""Apply benchmark: `cgman apply` against libcgroup's `cgconfigparser -l`, same run.

For each N (default 10, 100, 1000) the harness describes N flat groups twice:
as a cgman TOML directory and as a cgconfig.conf. Every group gets a CPU weight
(cpu.weight, cpu.shares = weight * 1024 / 100 on cgroup v1) and a memory limit;
every 4th group is also a cpuset group with cpuset.cpus/mems set to the online
CPUs and memory nodes. Both descriptions produce the same cgroups and values
(checked once per N by reading the kernel files back).

Each (system, N, run) cycle uses a fresh top group /cgbench_<rand>_<N>_<system><run>
and times, as wall time of the whole command (spawn to reaped exit):

  cold      apply into a machine where the top group does not exist
  re-apply  the same description again (nothing changed)
  one-knob  one group's CPU weight edited, then applied again
  cleanup   cgman: apply an empty configuration (only [manager]), which
            removes what cgman created; libcgroup has no unload but cgclear,
            which this harness never runs: its groups are removed by the
            harness with rmdir, deepest first (timed in-process, reported
            for information only)

Systems run interleaved round-robin (the order alternates every run), so both
see the same machine conditions; compare the ratios, not absolute numbers.
A try/finally removes every cgroup under the run's unique prefix
(cgbench_<rand>) in every hierarchy, deepest first, even on failure; nothing
else on the machine is touched.

Usage (as root, with the project's venv interpreter):
    .venv/bin/python bench/apply.py [--sizes 10,100,1000] [--runs 5] [--out FILE]

Standard library only.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CGMAN = "cgman"
LIBCG = "cgconfigparser"
PHASES = ("cold", "reapply", "knob", "cleanup")
PHASE_TITLES = {"cold": "cold", "reapply": "re-apply", "knob": "one-knob", "cleanup": "cleanup"}
V1_CONTROLLERS = ("cpu", "memory", "cpuset")
# The files whose values the verification compares, per v1 controller.
VERIFY_FILES = {"cpu": ("cpu.shares",), "memory": ("memory.limit_in_bytes",),
                "cpuset": ("cpuset.cpus", "cpuset.mems")}
SETTLE_S = 2.1  # untimed wait between writing the config and the cold apply
TARGETS = {"cold": 0.5, "reapply": 0.1}  # cgman / cgconfigparser at the largest N (1000)


# --------------------------------------------------------------------------- machine

def read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read().strip()


class Mount:
    def __init__(self, point: str, version: int, controllers: frozenset, name: str):
        self.point = point
        self.version = version
        self.controllers = controllers
        self.name = name  # "cpu", "cpu,cpuacct", "name=systemd", "unified"


def cgroup_mounts() -> List[Mount]:
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        rfields = right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        fstype, point = rfields[0], fields[4].replace("\\040", " ")
        if fstype == "cgroup2":
            mounts.append(Mount(point, 2, frozenset(), "unified"))
        elif fstype == "cgroup":
            opts = rfields[2].split(",")
            known = {"rw", "ro", "relatime", "noatime", "nosuid", "nodev", "noexec", "xattr",
                     "clone_children", "noprefix", "cpuset_v2_mode", "favordynmods"}
            ctrls = frozenset(o for o in opts if o not in known and "=" not in o)
            names = [o for o in opts if o.startswith("name=")]
            mounts.append(Mount(point, 1, ctrls, ",".join(sorted(ctrls)) or ",".join(names) or point))
    # The same hierarchy can be mounted twice; keep the first mount of each name.
    seen, unique = set(), []
    for mount in mounts:
        if mount.name not in seen:
            seen.add(mount.name)
            unique.append(mount)
    return unique


def v1_mount(mounts: List[Mount], controller: str) -> Optional[Mount]:
    return next((m for m in mounts if m.version == 1 and controller in m.controllers), None)


class CpuStat:
    """Machine CPU time from /proc/stat, and ours (this process + reaped children)."""

    def __init__(self):
        fields = read("/proc/stat").splitlines()[0].split()[1:]
        values = [int(x) for x in fields] + [0] * 10
        user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
        tick = os.sysconf("SC_CLK_TCK")
        self.busy = (user + nice + system + irq + softirq) / tick  # guest time is inside user
        self.idle = (idle + iowait) / tick
        self.steal = steal / tick
        t = os.times()
        self.ours = t.user + t.system + t.children_user + t.children_system
        self.wall = time.monotonic()


def background(a: CpuStat, b: CpuStat, ncpu: int) -> Dict[str, float]:
    """How busy the rest of the machine was between two samples, in % of all CPUs."""
    wall = max(b.wall - a.wall, 1e-9)
    capacity = wall * ncpu
    busy = b.busy - a.busy
    ours = b.ours - a.ours
    return {
        "seconds": round(wall, 2),
        "machine_busy_pct": round(100 * busy / capacity, 1),
        "ours_pct": round(100 * min(ours, busy) / capacity, 1),
        "others_pct": round(100 * max(busy - ours, 0.0) / capacity, 1),
        "others_cpu_s": round(max(busy - ours, 0.0), 2),
        "steal_pct": round(100 * (b.steal - a.steal) / capacity, 1),
    }


def wait_quiet(threshold: float, max_wait: float, ncpu: int) -> Dict[str, float]:
    """Wait (at most max_wait s) for a 1 s window where others use < threshold % of the CPUs."""
    start = time.monotonic()
    last = {}
    while True:
        a = CpuStat()
        time.sleep(1.0)
        last = background(a, CpuStat(), ncpu)
        waited = time.monotonic() - start
        if last["others_pct"] < threshold or waited >= max_wait:
            return {"waited_s": round(waited, 1), "others_pct": last["others_pct"],
                    "quiet": last["others_pct"] < threshold}


def tool_output(argv: List[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def cgmand_digest() -> str:
    """Hash of cgmand/**/*.py: others may edit the sources while the benchmark runs."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "cgmand").rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def cgmand_pycache() -> bool:
    """Are cgmand's .pyc files there? Without them every cgman start compiles cgmand (~20 ms)."""
    return any(p.suffix == ".pyc" for p in (REPO / "cgmand").rglob("*.pyc"))


def describe_machine(cgman: str, cgconfigparser: Optional[str]) -> Dict:
    model = ""
    for line in read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    meminfo = dict(line.split(":", 1) for line in read("/proc/meminfo").splitlines() if ":" in line)
    shebang = Path(cgman).read_text(errors="replace").splitlines()[0] if Path(cgman).is_file() else ""
    interp = shebang[2:].strip().split()[0] if shebang.startswith("#!") else ""
    return {
        "cpus_online": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "mem_total": meminfo.get("MemTotal", "").strip(),
        "kernel": platform.release(),
        "kernel_build": platform.version(),
        "os": (tool_output(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]) or platform.platform()),
        "harness_python": f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        "cgman_python": (tool_output([interp, "-c", "import sys; print(sys.version.split()[0], sys.executable)"])
                         if interp else ""),
        "cgman": cgman,
        "cgman_version": tool_output([cgman, "--version"]),
        "cgmand_pycache": cgmand_pycache(),
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
        "git_head": tool_output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
        "git_dirty_files": len(tool_output(["git", "-C", str(REPO), "status", "--porcelain", "--", "cgmand"])
                               .splitlines()),
        "cgmand_sources_sha256": cgmand_digest(),
        "cgconfigparser": cgconfigparser or "",
        "libcgroup_version": tool_output(["dpkg-query", "-W", "-f", "${Version}", "cgroup-tools"]),
        "cgroup_mounts": {m.name: m.point for m in cgroup_mounts()},
        "loadavg_start": read("/proc/loadavg"),
    }


# --------------------------------------------------------------------------- the description

def report(kind: str, result: Dict) -> None:
    """Print a benchmark's result and keep it as bench/results/<kind>-<timestamp>.json."""
    text = json.dumps(result, indent=2)
    print(text)
    out = HERE / "results" / time.strftime(f"{kind}-%Y%m%d-%H%M%S.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n")


def cpu_list_online() -> Tuple[str, str]:
    cpus = read("/sys/devices/system/cpu/online")
    try:
        mems = read("/sys/devices/system/node/online")
    except OSError:
        mems = ""
    return cpus, mems


class Spec:
    """N flat groups g0001..gNNNN and their values, rendered for both systems."""

    KNOB_GROUP = "g0001"

    def __init__(self, n: int, cpus: str, mems: str, root_cpus: str, root_mems: str):
        self.n = n
        self.cpus, self.mems = cpus, mems
        self.root_cpus, self.root_mems = root_cpus, root_mems
        self.groups = []
        for i in range(1, n + 1):
            self.groups.append({
                "name": f"g{i:04d}",
                "weight": 25 * (1 + i % 8),  # 25..200: cpu.shares = 256..2048, exact
                "mem_mib": 64 * (1 + i % 4),  # 64..256 MiB
                "cpuset": i % 4 == 0,
            })

    def weight(self, group: Dict, knob: bool) -> int:
        return group["weight"] + 100 if knob and group["name"] == self.KNOB_GROUP else group["weight"]

    @staticmethod
    def shares(weight: int) -> int:
        assert weight * 1024 % 100 == 0, weight
        return weight * 1024 // 100

    def toml(self, top: str, knob: bool = False, empty: bool = False) -> str:
        out = [f'[manager]\nroot = "/{top}"\n']
        if empty:
            return "".join(out)
        for g in self.groups:
            out.append(f'\n[group."{g["name"]}"]\ncpu.weight = {self.weight(g, knob)}\n'
                       f'memory.max = "{g["mem_mib"]}M"\n')
            if g["cpuset"]:
                out.append(f'cpuset.cpus = "{self.cpus}"\ncpuset.mems = "{self.mems}"\n')
        return "".join(out)

    def cgconfig(self, top: str, knob: bool = False) -> str:
        out = [f"group {top} {{\n  cpu {{\n  }}\n  memory {{\n  }}\n  cpuset {{\n"
               f'    cpuset.cpus = "{self.root_cpus}";\n    cpuset.mems = "{self.root_mems}";\n  }}\n}}\n']
        for g in self.groups:
            out.append(f"group {top}/{g['name']} {{\n"
                       f'  cpu {{\n    cpu.shares = "{self.shares(self.weight(g, knob))}";\n  }}\n'
                       f'  memory {{\n    memory.limit_in_bytes = "{g["mem_mib"] << 20}";\n  }}\n')
            if g["cpuset"]:
                out.append(f'  cpuset {{\n    cpuset.cpus = "{self.cpus}";\n    cpuset.mems = "{self.mems}";\n  }}\n')
            out.append("}\n")
        return "".join(out)

    def expected(self, knob: bool = False) -> Dict[str, Dict[str, Dict[str, str]]]:
        """controller -> cgroup path below the top ("" = top) -> file -> value."""
        exp = {"cpu": {"": {}}, "memory": {"": {}},
               "cpuset": {"": {"cpuset.cpus": self.root_cpus, "cpuset.mems": self.root_mems}}}
        for g in self.groups:
            exp["cpu"][g["name"]] = {"cpu.shares": str(self.shares(self.weight(g, knob)))}
            exp["memory"][g["name"]] = {"memory.limit_in_bytes": str(g["mem_mib"] << 20)}
            if g["cpuset"]:
                exp["cpuset"][g["name"]] = {"cpuset.cpus": self.cpus, "cpuset.mems": self.mems}
        return exp


# --------------------------------------------------------------------------- kernel tree helpers

def tree_dirs(top_dir: str) -> List[str]:
    """Every directory below top_dir (relative paths, "" = top), parents first."""
    if not os.path.isdir(top_dir):
        return []
    out = [""]
    for dirpath, dirnames, _ in os.walk(top_dir):
        rel = os.path.relpath(dirpath, top_dir)
        for d in dirnames:
            out.append(d if rel == "." else f"{rel}/{d}")
    return out


def snapshot(mounts: List[Mount], top: str) -> Dict:
    """What exists under the top group: v1 values of the verified files, and dirs elsewhere."""
    snap = {"v1": {}, "other": {}}
    for ctrl in V1_CONTROLLERS:
        mount = v1_mount(mounts, ctrl)
        base = f"{mount.point}/{top}"
        groups = {}
        for rel in tree_dirs(base):
            values = {}
            for file in VERIFY_FILES[ctrl]:
                try:
                    values[file] = read(f"{base}/{rel}/{file}" if rel else f"{base}/{file}")
                except OSError as err:
                    values[file] = f"<{errno.errorcode.get(err.errno, err.errno)}>"
            groups[rel] = values
        snap["v1"][ctrl] = groups
    for mount in mounts:
        if mount.version == 1 and mount.controllers & set(V1_CONTROLLERS):
            continue
        dirs = tree_dirs(f"{mount.point}/{top}")
        if dirs:
            snap["other"][mount.name] = len(dirs)
    return snap


def compare_expected(snap: Dict, expected: Dict) -> List[str]:
    problems = []
    for ctrl, groups in expected.items():
        have = snap["v1"].get(ctrl, {})
        missing = sorted(set(groups) - set(have))
        extra = sorted(set(have) - set(groups))
        if missing:
            problems.append(f"{ctrl}: {len(missing)} missing cgroups (e.g. {missing[0] or '<top>'})")
        if extra:
            problems.append(f"{ctrl}: {len(extra)} unexpected cgroups (e.g. {extra[0] or '<top>'})")
        for rel, files in groups.items():
            for file, value in files.items():
                got = have.get(rel, {}).get(file)
                if rel in have and got != value:
                    problems.append(f"{ctrl}:{rel or '<top>'}/{file} = {got!r}, expected {value!r}")
    return problems


def remove_tree(mounts: List[Mount], name_prefix: str, exact: bool = False) -> List[str]:
    """rmdir, deepest first, every cgroup at or below /<name> in every hierarchy, for each
    top-level <name> that equals name_prefix (exact) or starts with it. Returns what is left."""
    left = []
    for mount in mounts:
        try:
            names = [e.name for e in os.scandir(mount.point) if e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        for name in names:
            if not (name == name_prefix if exact else name.startswith(name_prefix)):
                continue
            top = f"{mount.point}/{name}"
            for rel in reversed(tree_dirs(top)):  # children after parents in the list: reverse
                path = f"{top}/{rel}" if rel else top
                for attempt in range(50):
                    try:
                        os.rmdir(path)
                        break
                    except FileNotFoundError:
                        break
                    except OSError as err:
                        if err.errno != errno.EBUSY or attempt == 49:
                            left.append(f"{path}: {err.strerror}")
                            break
                        time.sleep(0.02)
    return left


def leftovers(mounts: List[Mount], top: str) -> List[str]:
    return [f"{m.point}/{top}" for m in mounts if os.path.lexists(f"{m.point}/{top}")]


# --------------------------------------------------------------------------- timing

def timed(argv: List[str], log: str) -> Dict:
    """Spawn argv (stdout+stderr to log), reap it; wall time from spawn to reaped exit."""
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, out, 1),
                   (os.POSIX_SPAWN_DUP2, out, 2)]
        t0 = time.perf_counter_ns()
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
        try:
            _, status, usage = os.wait4(pid, 0)
        except BaseException:  # interrupted: stop our child before the cleanup sweep runs
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
            raise
        t1 = time.perf_counter_ns()
    finally:
        os.close(out)
        os.close(null)
    return {"ms": (t1 - t0) / 1e6, "cpu_ms": (usage.ru_utime + usage.ru_stime) * 1e3,
            "maxrss_kb": usage.ru_maxrss, "rc": os.waitstatus_to_exitcode(status)}


class BenchError(RuntimeError):
    pass


def check_rc(result: Dict, what: str, log: str) -> None:
    if result["rc"] != 0:
        tail = Path(log).read_text(errors="replace")[-2000:]
        raise BenchError(f"{what} exited {result['rc']}:\n{tail}")


def knob_readback(mounts: List[Mount], top: str, spec: Spec) -> Optional[str]:
    g = next(g for g in spec.groups if g["name"] == Spec.KNOB_GROUP)
    want = str(spec.shares(spec.weight(g, True)))
    got = read(f"{v1_mount(mounts, 'cpu').point}/{top}/{Spec.KNOB_GROUP}/cpu.shares")
    return None if got == want else f"one-knob change: cpu.shares reads {got}, expected {want}"


def cycle_cgman(cgman: str, spec: Spec, top: str, work: Path, mounts: List[Mount],
                verify: bool) -> Tuple[Dict, Optional[Dict], List[str]]:
    conf, run = work / f"{top}.d", work / f"{top}.run"
    conf.mkdir()
    run.mkdir()
    toml = conf / "10-bench.toml"
    log = str(work / f"{top}.log")
    argv = [cgman, "--config-dir", str(conf), "--run-root", str(run), "apply"]
    res, problems, snap = {}, [], None
    toml.write_text(spec.toml(top))
    # As when an admin edits, then applies: cgman trusts its snapshot only for
    # config files at least 2 s old (configcache.SETTLE_NS, the racy-timestamp
    # rule), so a cold apply right after the write would leave none behind.
    time.sleep(SETTLE_S)
    res["cold"] = timed(argv, log)
    check_rc(res["cold"], "cgman cold apply", log)
    if verify:
        snap = snapshot(mounts, top)
    res["reapply"] = timed(argv, log)
    check_rc(res["reapply"], "cgman re-apply", log)
    if verify:
        said = Path(log).read_text(errors="replace").strip()
        res["reapply"]["output"] = said[-300:]
        if "nothing to do" not in said:
            problems.append(f"unchanged re-apply did not report 'nothing to do': {said[-200:]!r}")
    toml.write_text(spec.toml(top, knob=True))
    res["knob"] = timed(argv, log)
    check_rc(res["knob"], "cgman one-knob apply", log)
    if verify:
        said = Path(log).read_text(errors="replace").strip()
        res["knob"]["output"] = said[-300:]
        if "1 written" not in said or "created" in said or "removed" in said:
            problems.append(f"one-knob apply was not a single write: {said[-200:]!r}")
    problem = knob_readback(mounts, top, spec)
    if problem:
        problems.append(problem)
    toml.write_text(spec.toml(top, empty=True))
    res["cleanup"] = timed(argv, log)
    check_rc(res["cleanup"], "cgman cleanup (empty configuration)", log)
    left = leftovers(mounts, top)
    if left:
        problems.append(f"cgman cleanup left {len(left)} top groups: {', '.join(left)}")
        remove_tree(mounts, top, exact=True)
    return res, snap, problems


def cycle_libcgroup(parser: str, spec: Spec, top: str, work: Path, mounts: List[Mount],
                    verify: bool) -> Tuple[Dict, Optional[Dict], List[str]]:
    conf = work / f"{top}.conf"
    log = str(work / f"{top}.log")
    argv = [parser, "-l", str(conf)]
    res, problems, snap = {}, [], None
    conf.write_text(spec.cgconfig(top))
    res["cold"] = timed(argv, log)
    check_rc(res["cold"], "cgconfigparser cold apply", log)
    if verify:
        snap = snapshot(mounts, top)
    res["reapply"] = timed(argv, log)
    check_rc(res["reapply"], "cgconfigparser re-apply", log)
    conf.write_text(spec.cgconfig(top, knob=True))
    res["knob"] = timed(argv, log)
    check_rc(res["knob"], "cgconfigparser one-knob apply", log)
    problem = knob_readback(mounts, top, spec)
    if problem:
        problems.append(problem)
    t0 = time.perf_counter_ns()
    left = remove_tree(mounts, top, exact=True)
    res["cleanup"] = {"ms": (time.perf_counter_ns() - t0) / 1e6, "in_process_rmdir": True, "rc": 0}
    left += leftovers(mounts, top)
    if left:
        problems.append(f"rmdir cleanup left: {', '.join(left[:5])}")
    return res, snap, problems


# --------------------------------------------------------------------------- report

def stats(values: List[float]) -> Dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def cell(values: Optional[List[float]]) -> str:
    if not values:
        return "-"
    s = stats(values)
    return f"{s['median']:.1f} [{s['min']:.1f}-{s['max']:.1f}]"


def table(results: Dict, systems: List[str], sizes: List[int]) -> str:
    rows = ["| system | N | cold ms | re-apply ms | one-knob ms | cleanup ms | cold x | re-apply x |",
            "|---|---|---|---|---|---|---|---|"]
    for n in sizes:
        for system in systems:
            r = results.get(system, {}).get(str(n))
            if not r:
                continue
            ratios = ["-", "-"]
            base = results.get(LIBCG, {}).get(str(n))
            if system == CGMAN and base:
                ratios = [f"{statistics.median(r[p]) / statistics.median(base[p]):.2f}" for p in ("cold", "reapply")]
            elif system == LIBCG:
                ratios = ["1.00", "1.00"]
            cleanup = cell(r["cleanup"])
            if system == LIBCG:
                cleanup = f"({cell(r['cleanup'])})*"
            rows.append(f"| {system} | {n} | {cell(r['cold'])} | {cell(r['reapply'])} | {cell(r['knob'])} "
                        f"| {cleanup} | {ratios[0]} | {ratios[1]} |")
    return "\n".join(rows)


# --------------------------------------------------------------------------- main

def find_cgconfigparser(explicit: Optional[str]) -> Optional[str]:
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    path = shutil.which("cgconfigparser")
    if path:
        return path
    for candidate in ("/usr/sbin/cgconfigparser", "/sbin/cgconfigparser", "/usr/local/sbin/cgconfigparser"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10,100,1000", help="group counts N (default 10,100,1000)")
    ap.add_argument("--runs", type=int, default=5, help="runs per (system, N) (default 5)")
    ap.add_argument("--out", help="JSON output (default bench/results/apply-<timestamp>.json)")
    ap.add_argument("--cgman", default=str(REPO / ".venv" / "bin" / "cgman"),
                    help="cgman console script (default: the project's venv)")
    ap.add_argument("--cgconfigparser", help="cgconfigparser binary (default: from PATH or /usr/sbin)")
    ap.add_argument("--no-libcgroup", action="store_true", help="time cgman alone")
    ap.add_argument("--quiet-threshold", type=float, default=25.0,
                    help="before each N, wait for a 1 s window in which other processes use less "
                         "than this %% of all CPUs (default 25)")
    ap.add_argument("--quiet-wait", type=float, default=20.0,
                    help="wait at most this many seconds for that window; 0 = do not wait (default 20)")
    ap.add_argument("--gap-ms", type=float, default=200.0,
                    help="pause between cycles, so the kernel's deferred cgroup freeing from one "
                         "cycle does not land in the next one's timing (default 200)")
    args = ap.parse_args(argv)

    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    if os.geteuid() != 0:
        print("apply.py: must run as root (it creates cgroups)", file=sys.stderr)
        return 2
    if not os.access(args.cgman, os.X_OK):
        print(f"apply.py: {args.cgman} not found; install the project into .venv "
              "(.venv/bin/pip install -e .) or pass --cgman", file=sys.stderr)
        return 2
    mounts = cgroup_mounts()
    missing = [c for c in V1_CONTROLLERS if v1_mount(mounts, c) is None]
    if missing:
        print(f"apply.py: needs cgroup v1 hierarchies for {', '.join(missing)} (hybrid or v1 layout); "
              "this host has none", file=sys.stderr)
        return 2
    parser = None if args.no_libcgroup else find_cgconfigparser(args.cgconfigparser)
    systems = [CGMAN]
    if parser:
        systems.append(LIBCG)
    elif not args.no_libcgroup:
        print("cgconfigparser not found: timing cgman alone. To compare with libcgroup, install it:\n"
              "    apt-get install -y cgroup-tools", file=sys.stderr)

    ncpu = os.cpu_count() or 1
    cpus, mems = cpu_list_online()
    cpuset_root = v1_mount(mounts, "cpuset").point
    root_cpus, root_mems = read(f"{cpuset_root}/cpuset.cpus"), read(f"{cpuset_root}/cpuset.mems")
    mems = mems or root_mems
    machine = describe_machine(args.cgman, parser)
    prefix = f"cgbench_{secrets.token_hex(3)}"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_path = Path(args.out) if args.out else HERE / "results" / f"apply-{stamp}.json"

    print(f"# apply benchmark: {', '.join(systems)}; N = {sizes}; {args.runs} runs; prefix /{prefix}_*",
          file=sys.stderr)
    results: Dict[str, Dict[str, Dict[str, List[float]]]] = {s: {} for s in systems}
    raw: List[Dict] = []
    verification: Dict[str, Dict] = {}
    problems_all: List[str] = []
    per_size_load: Dict[str, Dict] = {}
    quiet: Dict[str, Dict] = {}
    work = Path(tempfile.mkdtemp(prefix="cgbench-apply-"))

    def interrupted(signum, frame):  # SIGTERM, and SIGINT even when started in the background
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    started = CpuStat()
    status = 0
    try:
        for n in sizes:
            spec = Spec(n, cpus, mems, root_cpus, root_mems)
            if args.quiet_wait > 0:
                quiet[str(n)] = wait_quiet(args.quiet_threshold, args.quiet_wait, ncpu)
            block_start = CpuStat()
            snaps: Dict[str, Dict] = {}
            for run in range(args.runs):
                order = systems if run % 2 == 0 else list(reversed(systems))
                for system in order:
                    top = f"{prefix}_{n}_{'cgman' if system == CGMAN else 'libcg'}{run}"
                    verify = run == 0
                    if system == CGMAN:
                        res, snap, problems = cycle_cgman(args.cgman, spec, top, work, mounts, verify)
                    else:
                        res, snap, problems = cycle_libcgroup(parser, spec, top, work, mounts, verify)
                    cell_results = results[system].setdefault(str(n), {p: [] for p in PHASES})
                    for phase in PHASES:
                        cell_results[phase].append(res[phase]["ms"])
                    raw.append({"system": system, "n": n, "run": run, "top": top, **res})
                    for problem in problems:
                        problems_all.append(f"{system} N={n} run {run}: {problem}")
                        print(f"  PROBLEM {system} N={n} run {run}: {problem}", file=sys.stderr)
                    if snap is not None:
                        snaps[system] = snap
                    print(f"  N={n:<5} run {run + 1}/{args.runs} {system:<14} "
                          + "  ".join(f"{PHASE_TITLES[p]} {res[p]['ms']:8.1f}" for p in PHASES),
                          file=sys.stderr)
                    time.sleep(args.gap_ms / 1000)
            per_size_load[str(n)] = background(block_start, CpuStat(), ncpu)
            # Verification: each system against the description, and the two against each other.
            expected = spec.expected()
            v = {}
            for system, snap in snaps.items():
                problems = compare_expected(snap, expected)
                stray = {k: c for k, c in snap["other"].items() if not (system == CGMAN and k == "unified")}
                if stray:
                    problems.append(f"cgroups in other hierarchies: {stray}")
                v[system] = {"ok": not problems, "problems": problems[:20], "other_hierarchies": snap["other"]}
            if len(snaps) == 2:
                same = snaps[CGMAN]["v1"] == snaps[LIBCG]["v1"]
                v["identical_v1_trees"] = same
            ok = all(x["ok"] for k, x in v.items() if isinstance(x, dict)) and v.get("identical_v1_trees", True)
            v["passed"] = ok
            verification[str(n)] = v
            counts = {c: len(snaps[CGMAN]["v1"][c]) for c in V1_CONTROLLERS} if CGMAN in snaps else {}
            mirror = snaps.get(CGMAN, {}).get("other", {}).get("unified")
            line = (f"verification N={n}: {'PASSED' if ok else 'FAILED'} - "
                    + "; ".join(f"{s}: {'ok' if v[s]['ok'] else 'FAILED: ' + ' | '.join(v[s]['problems'][:3])}"
                                for s in snaps)
                    + (f"; v1 trees identical: {'yes' if v['identical_v1_trees'] else 'NO'}"
                       if "identical_v1_trees" in v else "")
                    + (f"; cgroups per hierarchy {counts}" if counts else "")
                    + (f"; cgman also mirrors {mirror} cgroups in cgroup2 (unified), by design" if mirror else ""))
            print(line)
            if not ok:
                status = 1
    except BenchError as err:
        print(f"apply.py: {err}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        print("apply.py: interrupted", file=sys.stderr)
        status = 130
    finally:
        left = remove_tree(mounts, prefix)
        left += [f"{m.point}/{e}" for m in mounts for e in os.listdir(m.point) if e.startswith(prefix)]
        if left:
            print(f"apply.py: could not remove: {left}", file=sys.stderr)
            status = status or 1
        shutil.rmtree(work, ignore_errors=True)
    ended = CpuStat()
    load = background(started, ended, ncpu)
    machine["loadavg_end"] = read("/proc/loadavg")
    machine["cgmand_pycache_end"] = cgmand_pycache()
    machine["cgmand_sources_sha256_end"] = cgmand_digest()
    if machine["cgmand_sources_sha256_end"] != machine["cgmand_sources_sha256"]:
        problems_all.append("cgmand's sources changed while the benchmark ran (someone edited them): "
                            "the cgman numbers mix two versions")
    if machine["cgmand_pycache_end"] != machine["cgmand_pycache"]:
        problems_all.append("cgmand's .pyc cache appeared or vanished during the run")

    # ---- report
    notes = [
        f"Machine: {machine['cpus_online']} CPUs ({machine['cpu_model']}), {machine['mem_total']}, "
        f"kernel {machine['kernel']}, {machine['os']}.",
        f"Python: cgman runs on {machine['cgman_python']}; harness {machine['harness_python']}. "
        f"{machine['cgman_version']} (git {machine['git_head']}, {machine['git_dirty_files']} changed "
        f"files in cgmand/, sources sha256 {machine['cgmand_sources_sha256']}); "
        f"cgmand .pyc cache present: {'yes' if machine['cgmand_pycache'] else 'no'}, "
        f"PYTHONDONTWRITEBYTECODE={machine['PYTHONDONTWRITEBYTECODE'] or '(unset)'}.",
        f"libcgroup: {machine['libcgroup_version'] or 'not installed'}.",
        f"Load: loadavg {machine['loadavg_start']} at start, {machine['loadavg_end']} at end. "
        f"During the run ({load['seconds']} s) the rest of the machine used {load['others_pct']} % of "
        f"all CPUs ({load['others_cpu_s']} CPU-s; steal {load['steal_pct']} %); this benchmark "
        f"used {load['ours_pct']} %.",
        "Per N: " + "; ".join(f"N={n}: others {l['others_pct']} %" + (
            f" (waited {quiet[n]['waited_s']} s for quiet, {'reached' if quiet[n]['quiet'] else 'NOT reached'})"
            if n in quiet else "") for n, l in per_size_load.items()) + ".",
    ]
    print()
    print(f"Wall ms, median [min-max] of {args.runs} runs; interleaved round-robin; "
          "x = cgman / cgconfigparser (ratio of medians, same run).")
    print()
    print(table(results, systems, sizes))
    print()
    if LIBCG in systems:
        print("*cgconfigparser has no unload other than cgclear (not used here): its cleanup column is "
              "the harness's own in-process rmdir, deepest first, for information only.")
    print("Cleanup for cgman is `cgman apply` with an empty configuration. cgman also creates each "
          "group in the cgroup2 mount (unified); cgconfigparser does not.")
    print()
    for line in notes:
        print(line)
    targets = {}
    largest = str(max(sizes)) if sizes else None
    if LIBCG in systems and largest and largest in results[CGMAN] and largest in results[LIBCG]:
        print()
        if largest != "1000":
            print(f"(the targets are defined for N=1000; shown here for the largest N run, {largest})")
        for phase, limit in TARGETS.items():
            ratio = statistics.median(results[CGMAN][largest][phase]) / statistics.median(results[LIBCG][largest][phase])
            ok = ratio <= limit
            targets[phase] = {"n": int(largest), "ratio": round(ratio, 3), "target": limit, "met": ok}
            print(f"target N={largest} {PHASE_TITLES[phase]}: cgman/cgconfigparser = {ratio:.2f} "
                  f"(target <= {limit}) -> {'MET' if ok else 'NOT MET'}")
    if problems_all:
        print()
        print("Problems:")
        for problem in problems_all:
            print(f"- {problem}")

    summary = {system: {n: {p: stats(v) for p, v in cells.items()} for n, cells in by_n.items()}
               for system, by_n in results.items()}
    document = {
        "benchmark": "apply", "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "prefix": prefix,
        "args": vars(args), "sizes": sizes, "systems": systems, "machine": machine,
        "load": {"whole_run": load, "per_n": per_size_load, "quiet_wait": quiet},
        "verification": verification, "summary_ms": summary, "targets": targets,
        "problems": problems_all, "runs": raw, "exit_status": status,
        "notes": {"cleanup_libcgroup": "in-process rmdir by the harness, deepest first (not cgclear)",
                  "timing": "wall time from posix_spawn to wait4 return; cpu_ms = child user+sys"},
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(document, indent=1) + "\n")
    print()
    print(f"JSON: {out_path}")
    return status


if __name__ == "__main__":
    sys.exit(main())
