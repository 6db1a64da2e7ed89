"""`cgman create` against the real kernel: groups and missing ancestors in every hierarchy named,
ownership as cgconfig's perm, nothing taken from other groups, and cgman's own reconcile leaves
them alone."""

from __future__ import annotations

import os

from conftest import home

GROUPS = '[group."web"]\ncpu.weight = 100\n'


def test_created_with_ancestors_in_every_hierarchy_named(kenv):
    kenv.applied(GROUPS)
    done = kenv.run("create", "-g", "cpu,pids:job/a", "-g", "cpu:other")
    assert done.returncode == 0, done.stderr
    for controller in {home("cpu"), home("pids")}:
        assert kenv.path(controller, "job/a").is_dir()
    if home("pids") == "unified":  # v2: the parent enabled pids for it, top-down
        assert "pids" in kenv.read("unified", "job/a", "cgroup.controllers").split()
    assert kenv.run("exec", "-g", "cpu,pids:job/a", "true").returncode == 0


def test_ownership_as_cgconfig_perm(kenv):
    kenv.applied(GROUPS)
    done = kenv.run("create", "-a", "65534:65534", "-t", "1:1", "-d", "0775", "-f", "0664", "-s", "0660",
                    "-g", "pids:owned")
    assert done.returncode == 0, done.stderr
    directory = kenv.path(home("pids"), "owned")
    st = directory.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (65534, 65534, 0o775)
    procs = os.stat(directory / "cgroup.procs")
    assert (procs.st_uid, procs.st_gid, procs.st_mode & 0o777) == (1, 1, 0o660)


def test_apply_and_the_record_leave_created_groups_alone(kenv):
    kenv.applied(GROUPS)
    assert kenv.run("create", "-g", "cpu,memory:job").returncode == 0
    code, report = kenv.cgman_json("apply")
    assert code == 0, report
    assert kenv.path(home("cpu"), "job").is_dir() and kenv.path(home("memory"), "job").is_dir()
    assert "job" not in (kenv.run_root / "cgman" / "created.json").read_text()
    assert kenv.run("delete", "cpu,memory:job").returncode == 0


def test_refusals(kenv):
    kenv.applied(GROUPS)
    for args, message in [
        (["-g", "cpu:x", "-a", "no-such-user-here:"], 'unknown user "no-such-user-here"'),
        (["-g", "cpu:x", "-d", "999"], 'expected an octal mode'),
        (["-g", "cpu:x", "-a", "root"], "expected USER:GROUP"),
        (["-a", "0:0"], "no group given"),
        (["-g", "cpux:x"], 'unknown controller "cpux"'),
        (["-g", "cpu:x", "stray"], "unexpected argument stray"),
    ]:
        done = kenv.run("create", *args)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
    assert not kenv.path(home("cpu"), "x").exists()
