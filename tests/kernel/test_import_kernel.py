"""`cgman import` against libcgroup itself, on this host: a cgconfig.conf applied by
Debian's cgconfigparser and the same file imported and applied by cgman must give the
same groups with the same values and ownership; rules imported from a cgrules.conf must
place a test program where cgrulesengd would. Every group lives below the test's unique
prefix (cgman's root is "/", as the import's --root sets it, so the paths are the same)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from cgmand import cli

from conftest import MOUNTS, mount_of, remove_tree, running_cgmand, wait_until

pytestmark = pytest.mark.skipif(shutil.which("cgconfigparser") is None or mount_of("cpu") is None,
                                reason="needs libcgroup's cgconfigparser (apt-get install cgroup-tools) on a "
                                       "host with the cgroup v1 cpu controller")

# (controller, group below the prefix, file): what both tools are compared on
FILES = [("cpu", "web", "cpu.shares"), ("cpu", "web", "cpu.cfs_quota_us"), ("cpu", "web", "cpu.cfs_period_us"),
         ("memory", "web", "memory.limit_in_bytes"), ("memory", "web", "memory.soft_limit_in_bytes"),
         ("pids", "web", "pids.max"), ("cpu", "web/front", "cpu.shares"), ("pids", "batch", "pids.max")]
# No cpuset group: cgconfigparser creates the missing parent (the prefix) with empty
# cpuset.cpus and mems, and then cannot fill the child (EACCES, exit 96); cgman fills
# parents from theirs. research/libcgroup.md §1.3.


def cgconfig_text(prefix: str) -> str:
    top = prefix.strip("/")
    return f"""# the round trip's configuration
group {top}/web {{
    perm {{
        task {{ uid = nobody; gid = nogroup; fperm = 660; }}
        admin {{ uid = root; gid = root; dperm = 775; fperm = 644; }}
    }}
    cpu {{ cpu.shares = 512; cpu.cfs_quota_us = 50000; cpu.cfs_period_us = 100000; }}
    memory {{ memory.limit_in_bytes = 64M; memory.soft_limit_in_bytes = "32M"; }}
    pids {{ pids.max = 100; }}
}}
group {top}/web/front {{
    cpu {{ cpu.shares = 256; }}
}}
group {top}/batch {{
    pids {{ pids.max = 10; }}
}}
"""


def snapshot(prefix: str) -> dict:
    out = {}
    for controller, group, file in FILES:
        where = Path(mount_of(controller) + prefix) / group
        out[(controller, group, file)] = (where / file).read_text().strip()
    web = Path(mount_of("cpu") + prefix) / "web"
    tasks = os.stat(web / "tasks")
    directory = os.stat(web)
    out["web tasks owner, mode"] = (tasks.st_uid, tasks.st_gid, oct(tasks.st_mode & 0o7777))
    out["web directory owner, mode"] = (directory.st_uid, directory.st_gid, oct(directory.st_mode & 0o7777))
    return out


def remove(prefix: str) -> None:
    for mount in MOUNTS:
        remove_tree(Path(mount + prefix))


def test_cgconfigparser_and_an_import_make_the_same_groups(kenv, tmp_path):
    source = tmp_path / "cgconfig.conf"
    source.write_text(cgconfig_text(kenv.prefix))
    subprocess.run(["cgconfigparser", "-l", str(source)], check=True, capture_output=True, text=True)
    try:
        theirs = snapshot(kenv.prefix)
    finally:
        remove(kenv.prefix)
    assert not any(os.path.isdir(m + kenv.prefix) for m in MOUNTS)

    code = cli.main(["--config-dir", str(kenv.conf), "import", "cgconfig", "--root", "/", str(source),
                     "-o", str(kenv.conf)])
    assert code == 0
    code, out, err = kenv.cgman("apply")
    assert code == 0, out + err
    ours = snapshot(kenv.prefix)
    assert ours == theirs
    nobody = pwd.getpwnam("nobody")
    assert theirs["web tasks owner, mode"][0] == nobody.pw_uid  # the comparison saw the perm block at work


def test_imported_rules_place_a_program(kenv, tmp_path):
    program_dir = Path(tmp_path / "bin")
    program_dir.mkdir()
    name = f"cgi{os.urandom(5).hex()}"
    shutil.copy(shutil.which("sleep"), program_dir / name)
    top = kenv.prefix.strip("/")
    (tmp_path / "cgconfig.conf").write_text(f"group {top}/jail {{ pids {{ pids.max = 50; }} }}\n")
    (tmp_path / "cgrules.conf").write_text(f"# the test's rule\n*:{name}\tpids\t{top}/jail\n")
    for kind, file in (("cgconfig", "cgconfig.conf"), ("cgrules", "cgrules.conf")):
        extra = ["--root", "/"] if kind == "cgconfig" else []
        code = cli.main(["--config-dir", str(kenv.conf), "import", kind, *extra, str(tmp_path / file),
                         "-o", str(kenv.conf)])
        assert code == 0
    with running_cgmand(kenv, tmp_path):
        proc = subprocess.Popen([str(program_dir / name), "60"])
        kenv.procs.append(proc)
        jail = f"{kenv.prefix}/jail"

        def placed() -> bool:
            with open(f"/proc/{proc.pid}/cgroup") as handle:
                return any(line.rstrip("\n").split(":", 2)[1:] == ["pids", jail] for line in handle)

        assert wait_until(placed, 10)
        other = subprocess.Popen(["sleep", "60"])
        kenv.procs.append(other)
        time.sleep(0.5)
        with open(f"/proc/{other.pid}/cgroup") as handle:
            assert jail not in handle.read()  # not the program the rule names: left alone
