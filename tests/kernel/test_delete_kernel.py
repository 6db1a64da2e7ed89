"""`cgman delete` against the real kernel: the group goes from every hierarchy named (libcgroup 2.0.2
removed only the first), its processes move to the parent, -r takes a populated tree, and what
cgman keeps (declared groups) or cannot do is refused whole."""

from __future__ import annotations


import pytest

from conftest import home, mount_of

GROUPS = '[group."web"]\ncpu.weight = 100\npids.max = 50\n'


def hand_made(kenv, *groups: str) -> None:
    """Groups made by hand (not declared) in the cpu and pids hierarchies, as cgcreate would."""
    for group in groups:
        for controller in {home("cpu"), home("pids")}:
            kenv.path(controller, group).mkdir(parents=True, exist_ok=True)


def where(pid: int, controller: str) -> str:
    with open(f"/proc/{pid}/cgroup") as handle:
        lines = [line.strip().split(":", 2) for line in handle]
    names = "" if home(controller) == "unified" else controller
    return next(path for _, n, path in lines if (n == names if not names else names in n.split(",")))


def test_deleted_from_every_hierarchy_named(kenv):
    kenv.applied(GROUPS)
    hand_made(kenv, "tmp")
    done = kenv.run("delete", "cpu,pids:tmp")
    assert done.returncode == 0, done.stderr
    assert not kenv.path(home("cpu"), "tmp").exists() and not kenv.path(home("pids"), "tmp").exists()


def test_a_populated_nested_tree_with_r_processes_to_the_parent(kenv):
    kenv.applied(GROUPS)
    hand_made(kenv, "job/a/b", "job/c")
    sleepers = [kenv.start_in(sorted({home("cpu"), home("pids")}), group) for group in ("job/a/b", "job/c")]
    done = kenv.run("delete", "cpu,pids:job")
    assert done.returncode == 1 and "has child groups" in done.stderr
    assert kenv.path(home("cpu"), "job/a/b").is_dir()  # refused whole, in every hierarchy
    done = kenv.run("delete", "-r", "cpu,pids:job")
    if mount_of("cpu") is None:
        # v2: a parent with populated child groups and any controller enabled for them takes no
        # processes, threaded controllers included (kernel/cgroup/cgroup.c, cgroup_migrate_vet_dst)
        assert done.returncode == 1 and "no-internal-process rule" in done.stderr, done.stderr
        assert kenv.path("unified", "job/a/b").is_dir() and all(p.poll() is None for p in sleepers)
        return
    assert done.returncode == 0, done.stderr
    assert not kenv.path(home("cpu"), "job").exists() and not kenv.path(home("pids"), "job").exists()
    for proc in sleepers:
        assert proc.poll() is None and where(proc.pid, "cpu") == kenv.prefix


def test_refusals(kenv):
    kenv.applied(GROUPS)
    done = kenv.run("delete", "cpu:web")
    assert done.returncode == 1 and "web is declared in" in done.stderr
    assert kenv.path(home("cpu"), "web").is_dir()
    done = kenv.run("delete", "cpu:nope")
    assert done.returncode == 1 and "no group nope in any hierarchy" in done.stderr
    assert kenv.run("delete").returncode == 2
    assert kenv.run("delete", "cpu:/").returncode == 2


@pytest.mark.skipif(mount_of("cpu") is not None, reason="cgroup v2: the no-internal-process rule")
def test_v2_processes_cannot_go_to_a_parent_that_enables_domain_controllers(kenv):
    kenv.applied('[group."web"]\nmemory.max = "1G"\n')  # the base enables memory: no processes there
    kenv.path("unified", "job").mkdir()
    proc = kenv.start_in(["unified"], "job")
    done = kenv.run("delete", "memory:job")
    assert done.returncode == 1 and "no-internal-process rule" in done.stderr, done.stderr
    assert kenv.path("unified", "job").is_dir() and proc.poll() is None

