"""Unprivileged exec and classify against the real kernel (this host, and the pure v2 guest).
cgroup v2 never lets a user move itself between root's groups (the common ancestor's
cgroup.procs is root's), so cgmand does it for them through place.sock: into a group whose
perm.task names the user, and only their own processes. Everything else is refused, naming
the group and the policy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import as_user, mount_of, running_cgmand, shared_with_users

NOBODY = 65534
GROUPS = (f'[group."mine"]\ncpu.weight = 100\n[group."mine".perm]\ntask = {{ uid = {NOBODY} }}\n'
          f'[group."theirs"]\ncpu.weight = 100\n'
          f'[group."by-group"]\ncpu.weight = 100\n[group."by-group".perm]\ntask = {{ gid = {NOBODY} }}\n')
pytestmark = pytest.mark.skipif(mount_of("unified") is None, reason="needs a cgroup2 mount")


@pytest.fixture(name="shared")
def _shared(kenv):
    with shared_with_users(kenv):
        kenv.config(GROUPS)
        yield kenv


def as_nobody(kenv, verb: str, *args: str) -> subprocess.CompletedProcess:
    return as_user(kenv, verb, *args, uid=NOBODY)


def v2_line(text: str) -> str:
    return next(line.split(":", 2)[2] for line in text.splitlines() if line.startswith("0::"))


def test_cgmand_places_a_user_its_policy_allows(shared, tmp_path):
    with running_cgmand(shared, tmp_path):
        done = as_nobody(shared, "exec", "-g", ":mine", "cat", "/proc/self/cgroup")
        assert done.returncode == 0, done.stderr
        assert v2_line(done.stdout) == f"{shared.prefix}/mine"
        by_group = as_nobody(shared, "exec", "-g", ":by-group", "cat", "/proc/self/cgroup")
        assert by_group.returncode == 0 and v2_line(by_group.stdout) == f"{shared.prefix}/by-group", by_group.stderr


def test_cgmand_refuses_a_group_without_policy_and_says_why(shared, tmp_path):
    with running_cgmand(shared, tmp_path):
        done = as_nobody(shared, "exec", "-g", ":theirs", "true")
        assert done.returncode == 125
        assert "permission denied: theirs" in done.stderr and "has no perm.task" in done.stderr, done.stderr
        undeclared = as_nobody(shared, "exec", "-g", ":nowhere", "true")
        assert undeclared.returncode == 125 and "no group" in undeclared.stderr, undeclared.stderr


def test_a_user_may_classify_only_their_own_processes(shared, tmp_path):
    with running_cgmand(shared, tmp_path):
        own = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], user=NOBODY, group=NOBODY,
                               extra_groups=[])
        root_owned = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        shared.procs += [own, root_owned]
        done = as_nobody(shared, "classify", "-g", ":mine", str(own.pid))
        assert done.returncode == 0, done.stderr
        assert v2_line(Path(f"/proc/{own.pid}/cgroup").read_text()) == f"{shared.prefix}/mine"
        before = Path(f"/proc/{root_owned.pid}/cgroup").read_text()
        refused = as_nobody(shared, "classify", "-g", ":mine", str(root_owned.pid))
        assert refused.returncode == 1 and f"process {root_owned.pid}: permission denied" in refused.stderr
        assert Path(f"/proc/{root_owned.pid}/cgroup").read_text() == before


def test_without_cgmand_a_v2_move_is_refused_with_the_reason(shared):
    shared.applied(GROUPS)
    done = as_nobody(shared, "exec", "-g", ":mine", "true")
    assert done.returncode == 125
    assert "permission denied" in done.stderr and "cgmand is not running" in done.stderr, done.stderr
