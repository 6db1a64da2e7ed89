"""Fake cgroup trees and procfs in a temporary directory.

A tree is a nested dict: dict = directory, str = file contents. Fakes are
honest: cgman never creates interface files, so a fake must already hold every
file the code under test reads or writes (a real kernel creates them on mkdir;
a fake directory does not, so cold creation is covered by the kernel tier).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Optional, Union

from cgmand.roots import Roots

Tree = Dict[str, Union[str, "Tree"]]
DATA = Path(__file__).parent / "data"


def build(root: Path, tree: Tree) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in tree.items():
        path = root / name
        if isinstance(content, dict):
            build(path, content)
        else:
            path.write_text(content)


def read_tree(root: Path) -> Tree:
    out: Tree = {}
    for entry in sorted(root.iterdir()):
        out[entry.name] = read_tree(entry) if entry.is_dir() else entry.read_text()
    return out


def mountinfo_sample(name: str) -> str:
    return (DATA / "mountinfo" / name).read_text()


V1_FILES: Dict[str, Tree] = {
    "cpu": {"cpu.shares": "1024\n", "cpu.cfs_quota_us": "-1\n", "cpu.cfs_period_us": "100000\n",
            "cpu.idle": "0\n"},
    "cpuacct": {"cpuacct.usage": "0\n"},
    "cpuset": {"cpuset.cpus": "0-1\n", "cpuset.mems": "0\n"},
    "memory": {"memory.limit_in_bytes": "9223372036854771712\n",
               "memory.soft_limit_in_bytes": "9223372036854771712\n",
               "memory.memsw.limit_in_bytes": "9223372036854771712\n",
               "memory.usage_in_bytes": "0\n", "memory.swappiness": "60\n"},
    "pids": {"pids.max": "max\n", "pids.current": "0\n"},
    "blkio": {f"blkio.throttle.{d}_{k}_device": "" for d in ("read", "write") for k in ("bps", "iops")},
}
V2_FILES: Tree = {
    "cpu.weight": "100\n", "cpu.max": "max 100000\n", "cpu.stat": "usage_usec 0\n",
    "memory.max": "max\n", "memory.high": "max\n", "memory.low": "0\n", "memory.min": "0\n",
    "memory.swap.max": "max\n", "memory.current": "0\n", "pids.max": "max\n", "pids.current": "0\n",
    "cpuset.cpus": "\n", "cpuset.mems": "\n", "io.weight": "default 100\n", "io.max": "",
    "cgroup.subtree_control": "\n", "cgroup.events": "populated 0\nfrozen 0\n",
}


def v1_group(controller: str, **overrides: str) -> Tree:
    """The files a v1 cgroup of ``controller`` has (those cgman touches)."""
    files = {"cgroup.procs": "", "tasks": ""}
    files.update(V1_FILES.get(controller, {}))
    files.update({k.replace("__", "."): v for k, v in overrides.items()})
    return files


def v2_group(**overrides: str) -> Tree:
    files = dict(V2_FILES, **{"cgroup.procs": "", "cgroup.threads": ""})
    files.update({k.replace("__", "."): v for k, v in overrides.items()})
    return files


def fake_host(tmp: Path, mountinfo: str, trees: Optional[Dict[str, Tree]] = None,
              systemd: bool = False) -> Roots:
    """A fake system: proc/self/mountinfo, the cgroup tree under cgroup/, and run/.

    The cgroup mount points' common parent (normally /sys/fs/cgroup) becomes
    tmp/cgroup; ``trees`` maps a mount point relative to it ("cpu", "unified",
    or "" for a pure cgroup2 host) to the tree inside it.
    """
    proc, cgroup, run, conf = tmp / "proc", tmp / "cgroup", tmp / "run", tmp / "etc-cgman"
    build(proc / "self", {"mountinfo": mountinfo})
    for relative, tree in (trees or {}).items():
        build(cgroup / relative if relative else cgroup, tree)
    run.mkdir(exist_ok=True)
    conf.mkdir(exist_ok=True)
    if systemd:
        build(proc / "1", {"comm": "systemd\n"})
    return Roots(config_dir=str(conf), cgroup_root=str(cgroup), proc_root=str(proc), run_root=str(run))


def write_config(roots: Roots, name: str, text: str) -> str:
    path = os.path.join(roots.config_dir, name)
    with open(path, "w") as handle:
        handle.write(text)
    return path


def hybrid_host_with_web(tmp: Path) -> Roots:
    """This machine's layout (mixed v1 + cgroup2) with /cgman/web present where it belongs."""
    return fake_host(tmp, mountinfo_sample("hybrid-debian12-6.18.txt"), {
        "cpu": dict(v1_group("cpu"), cgman=dict(v1_group("cpu"), web=v1_group("cpu"))),
        "memory": dict(v1_group("memory"), cgman=dict(v1_group("memory"), web=v1_group("memory"))),
        "cpuset": v1_group("cpuset"), "pids": v1_group("pids"), "cpuacct": {}, "blkio": {},
        "devices": {}, "freezer": {}, "systemd": {},
        "unified": {"cgroup.controllers": "hugetlb\n", "cgroup.subtree_control": "\n", "cgroup.procs": "",
                    "cgman": dict(v2_group(), web=v2_group())},
    })
