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
    out.update(ownership(Path(mount_of("cpu") + prefix) / "web"))
    return out


def ownership(directory: Path) -> dict:
    """Owner, group and mode of a group's directory and of every file in it. On v1,
    cgroup.procs is compared with tasks instead: cgman gives it the task owner (who may
    then move whole processes, docs/decisions.md), libcgroup the admin owner; a key
    says whether each tool was consistent with its own rule."""
    out = {}
    for path in [directory] + sorted(p for p in directory.iterdir() if p.is_file()):
        info = os.stat(path)
        out[str(path.relative_to(directory.parent))] = (info.st_uid, info.st_gid, oct(info.st_mode & 0o7777))
    procs = out.pop(f"{directory.name}/cgroup.procs")
    tasks = out[f"{directory.name}/tasks"]
    admin = out[f"{directory.name}/notify_on_release"]  # an ordinary writable file: the admin's perm
    out["cgroup.procs follows"] = "task" if procs == tasks else "admin" if procs == admin else f"neither: {procs}"
    return out


def remove(prefix: str) -> None:
    for mount in MOUNTS:
        remove_tree(Path(mount + prefix))


def round_trip(kenv, tmp_path, text: str, taken) -> tuple:
    """Apply ``text`` with cgconfigparser and record ``taken(prefix)``, remove it all,
    then import and apply the same file with cgman and record again."""
    source = tmp_path / "cgconfig.conf"
    source.write_text(text)
    run = subprocess.run(["cgconfigparser", "-l", str(source)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    try:
        theirs = taken(kenv.prefix)
    finally:
        remove(kenv.prefix)
    assert not any(os.path.isdir(m + kenv.prefix) for m in MOUNTS)
    code = cli.main(["--config-dir", str(kenv.conf), "import", "cgconfig", "--root", "/", str(source),
                     "-o", str(kenv.conf), "--force"])
    assert code == 0
    code, out, err = kenv.cgman("apply")
    assert code == 0, out + err
    return theirs, taken(kenv.prefix)


def test_cgconfigparser_and_an_import_make_the_same_groups(kenv, tmp_path):
    theirs, ours = round_trip(kenv, tmp_path, cgconfig_text(kenv.prefix), snapshot)
    assert theirs.pop("cgroup.procs follows") == "admin" and ours.pop("cgroup.procs follows") == "task"
    assert ours == theirs
    nobody = pwd.getpwnam("nobody")
    tasks = theirs[f"web/tasks"]
    assert tasks[0] == nobody.pw_uid and tasks[2] == "0o660"  # the comparison saw the perm block at work


def test_a_default_section_and_fperm_masking_match(kenv, tmp_path):
    """default { perm } fills a group's unset fields; fperm 777 is masked by each file's
    owner bits (0666 for a writable file, 0444 for a read-only one), in both tools."""
    top = kenv.prefix.strip("/")
    text = (f"default {{ perm {{ task {{ uid = nobody; gid = nogroup; }} admin {{ uid = nobody; fperm = 777; "
            f"dperm = 770; }} }} }}\n"
            f"group {top}/web {{ cpu {{ cpu.shares = 300; }} }}\n")
    theirs, ours = round_trip(kenv, tmp_path, text, lambda prefix: ownership(Path(mount_of("cpu") + prefix) / "web"))
    assert theirs.pop("cgroup.procs follows") == "admin" and ours.pop("cgroup.procs follows") == "task"
    assert ours == theirs
    assert theirs["web/cpu.shares"][2] == "0o666" and theirs["web/cpu.stat"][2] == "0o444"


def test_a_namespace_section_prefixes_the_paths(kenv, tmp_path):
    top = kenv.prefix.strip("/")
    text = (f"namespace {{ cpu = {top}/ns; memory = {top}/ns; }}\n"
            f"group web {{ cpu {{ cpu.shares = 700; }} memory {{ memory.limit_in_bytes = 32M; }} }}\n")

    def taken(prefix: str) -> dict:
        return {c: (Path(mount_of(c) + prefix) / "ns" / "web" / f).read_text().strip()
                for c, f in (("cpu", "cpu.shares"), ("memory", "memory.limit_in_bytes"))}

    theirs, ours = round_trip(kenv, tmp_path, text, taken)
    assert ours == theirs and theirs["cpu"] == "700"


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


def test_check_validates_on_this_host_and_shows_the_plan_writing_nothing(kenv, tmp_path):
    top = kenv.prefix.strip("/")
    source = tmp_path / "cgconfig.conf"
    source.write_text(f"group {top}/web {{ cpu {{ cpu.shares = 512; }} }}\n")
    before = sorted(p.name for p in kenv.conf.iterdir())
    code, out, err = kenv.cgman("import", "cgconfig", "--root", "/", "--check", str(source))
    assert code == 0, err
    assert "every setting maps onto this host" in out
    assert f"cpu:{kenv.prefix}/web/cpu.shares: (new) -> 512" in out
    assert sorted(p.name for p in kenv.conf.iterdir()) == before  # nothing written
    assert not any(os.path.isdir(m + kenv.prefix) for m in MOUNTS)  # nor applied

    # A knob this host cannot honour (cpu.weight.nice is v2 only, and cpu is v1 here) is named
    source.write_text(f"group {top}/web {{ cpu {{ cpu.weight.nice = 5; }} }}\n")
    code, out, err = kenv.cgman("import", "cgconfig", "--root", "/", "--check", str(source))
    assert code == 78 and "cpu.weight.nice" in err
