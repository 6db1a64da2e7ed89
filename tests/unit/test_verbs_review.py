"""The verbs on a pure cgroup v2 fake and on this machine's layout: what a review found them doing
wrong, each pinned (set left alone a group's own subtree_control, delete -r spares declared groups
below, classify moves nobody when a group is missing, a controller newer than cgman, create *)."""

from __future__ import annotations

import os

import pytest

from cgmand import cli, targets
from cgmand.kernel import runfiles
from cgmand.verbs import UsageError, classify, setting
from fakes import build, fake_host, hybrid_host_with_web, mountinfo_sample, v2_group, write_config

ROOT_V2 = "cpuset cpu io memory hugetlb pids rdma misc dmem\n"


def v2_host(tmp_path):
    """/cgman/web with a child api, enabling cpu and memory for it (a pure cgroup v2 host)."""
    def group(controllers, subtree, **files):
        made = v2_group(**files)
        made.update({"cgroup.controllers": controllers, "cgroup.subtree_control": subtree})
        return made

    web = group("cpu memory pids dmem", "cpu memory\n", cpu__weight="100\n")
    web["api"] = group("cpu memory", "")
    cgman = group("cpu memory pids dmem", "cpu memory pids dmem\n")
    cgman["web"] = web
    root = {"cgroup.controllers": ROOT_V2, "cgroup.subtree_control": "cpu memory pids dmem\n", "cgroup.procs": "",
            "cgman": cgman}
    return fake_host(tmp_path, mountinfo_sample("unified-systemd.txt"), {"": root})


def run(roots, *args):
    return cli.main(["--config-dir", roots.config_dir, "--cgroup-root", roots.cgroup_root, "--proc-root",
                     roots.proc_root, "--run-root", roots.run_root, *args])


def test_set_writes_the_value_and_leaves_the_groups_subtree_control(tmp_path, capsys):
    roots = v2_host(tmp_path)
    write_config(roots, "10.toml", '[manager]\nroot = "/cgman"\n')
    assert run(roots, "set", "-r", "cpu.weight=50", "web") == 0, capsys.readouterr().err
    assert (tmp_path / "cgroup/cgman/web/cpu.weight").read_text() == "50"
    assert (tmp_path / "cgroup/cgman/web/cgroup.subtree_control").read_text() == "cpu memory\n"
    assert (tmp_path / "cgroup/cgman/cgroup.subtree_control").read_text() == "cpu memory pids dmem\n"


def test_get_shows_a_controller_newer_than_cgman(tmp_path, capsys):
    roots = v2_host(tmp_path)
    write_config(roots, "10.toml", '[manager]\nroot = "/cgman"\n')
    (tmp_path / "cgroup/cgman/web/dmem.max").write_text("max\n")
    assert run(roots, "get", "web") == 0
    assert "dmem.max: max" in capsys.readouterr().out


def test_create_star_on_v2_enables_no_controller_of_the_roots(tmp_path, capsys):
    roots = v2_host(tmp_path)
    write_config(roots, "10.toml", '[manager]\nroot = "/cgman"\n')
    build(tmp_path / "cgroup/cgman/x", v2_group(**{"cgroup.controllers": "cpu memory pids dmem\n"}))
    assert run(roots, "create", "-g", "*:x") == 0, capsys.readouterr().err
    assert (tmp_path / "cgroup/cgroup.subtree_control").read_text() == "cpu memory pids dmem\n"
    assert (tmp_path / "cgroup/cgman/x/cgroup.subtree_control").read_text() == "\n"


def test_delete_r_refuses_a_declared_group_below(tmp_path, capsys):
    roots = hybrid_host_with_web(tmp_path)
    build(tmp_path / "cgroup/cpu/cgman/web/api", {"cgroup.procs": "4242\n", "tasks": ""})
    write_config(roots, "10.toml", '[group."web/api"]\ncpu.weight = 100\n')
    assert run(roots, "delete", "-r", "cpu:web") == 1
    assert "web/api is declared in" in capsys.readouterr().err
    assert (tmp_path / "cgroup/cpu/cgman/web/api/cgroup.procs").read_text() == "4242\n"


def test_delete_takes_specs_and_g_in_any_order():
    from cgmand.verbs import delete

    assert delete.parse(["cpu:a", "-g", "memory:b", "-r", "pids:c"]) == (["cpu:a", "memory:b", "pids:c"], True)


def test_classify_moves_nobody_when_a_group_is_missing_somewhere(tmp_path, capsys):
    roots = hybrid_host_with_web(tmp_path)
    write_config(roots, "10.toml", "")
    build(tmp_path / "cgroup/cpu/cgman/only", {"cgroup.procs": "", "tasks": ""})
    build(tmp_path / "proc/50", {"status": "Tgid:\t50\n", "stat": "50 (x) S " + "0 " * 18 + "7 0\n",
                                 "cgroup": "3:cpu:/\n"})
    assert run(roots, "classify", "-g", "cpu,memory:only", "50") == 1
    assert "no group /cgman/only in the memory hierarchy" in capsys.readouterr().err
    assert (tmp_path / "cgroup/cpu/cgman/only/cgroup.procs").read_text() == ""


def test_command_line_values_read_as_toml_would():
    assert setting._literal("0100") == "100" and setting._literal("-1") == "-1"
    assert setting._literal("true") == "true" and setting._literal("1G") == '"1G"'
    assert setting._literal("²") == '"\\u00b2"'  # a string (JSON escapes are TOML's too)
    with pytest.raises(UsageError, match="-r io.max is given twice"):
        setting.parse(["-r", "io.max=8:0 rbps=1", "-r", "io.max=8:16 rbps=1", "web"])
    with pytest.raises(UsageError, match="invalid group path"):
        setting.desired_of([("cpu.weight", "1")], ['web"]\n[group."x'], None)


def test_odd_pids_and_paths():
    with pytest.raises(UsageError, match="² is not a process id"):
        classify.parse(["-g", "cpu:web", "²"])
    assert targets.parse("cpu:/web/").group == "web"


def test_list_leaves_systemds_control_leaf_out(tmp_path, capsys):
    roots = hybrid_host_with_web(tmp_path)
    write_config(roots, "10.toml", "")
    (tmp_path / "cgroup/cpu/cgman/.control").mkdir()
    (tmp_path / "cgroup/unified/cgman/web/cgroup.controllers").write_text("\n")
    assert run(roots, "list") == 0
    assert ".control" not in capsys.readouterr().out


def test_run_files_are_never_written_through_a_planted_link(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    os.symlink(victim, tmp_path / f"file.{os.getpid()}.tmp")
    runfiles.write_atomically(str(tmp_path / "file"), b"data")
    assert victim.read_text() == "keep" and (tmp_path / "file").read_bytes() == b"data"


def test_copy_from_reads_the_kernel_spelling_of_io_weight(tmp_path, capsys):
    """io.weight reads "default 500": copied through the file's own reader, not dropped."""
    roots = v2_host(tmp_path)
    write_config(roots, "10.toml", '[manager]\nroot = "/cgman"\n')
    (tmp_path / "cgroup/cgroup.subtree_control").write_text("cpu memory pids io dmem\n")
    (tmp_path / "cgroup/cgman/cgroup.controllers").write_text("cpu memory pids io dmem\n")
    (tmp_path / "cgroup/cgman/cgroup.subtree_control").write_text("cpu memory pids io\n")  # cpuset is not
    for name in ("cpuset.cpus", "cpuset.mems"):  # so its files are not there, as in the kernel
        (tmp_path / "cgroup/cgman/web" / name).unlink()
    (tmp_path / "cgroup/cgman/web/io.weight").write_text("default 500\n")
    (tmp_path / "cgroup/cgman/web/cpu.weight").write_text("300\n")
    build(tmp_path / "cgroup/cgman/copy", dict(v2_group(), **{"cgroup.controllers": "cpu memory pids io\n"}))
    assert run(roots, "set", "--copy-from", "web", "copy") == 0, capsys.readouterr().err
    assert (tmp_path / "cgroup/cgman/copy/cpu.weight").read_text() == "300"
    assert (tmp_path / "cgroup/cgman/copy/io.weight").read_text().split()[-1] == "500"


def test_copy_from_refuses_a_source_with_nothing_to_copy_or_none_at_all(tmp_path, capsys):
    roots = v2_host(tmp_path)
    write_config(roots, "10.toml", '[manager]\nroot = "/cgman"\n')
    build(tmp_path / "cgroup/cgman/bare", {"cgroup.procs": "", "cgroup.controllers": "\n"})  # no knob files
    assert run(roots, "set", "--copy-from", "bare", "web") == 2
    assert "bare has no knob cgman knows to copy" in capsys.readouterr().err
    assert run(roots, "set", "--copy-from", "nowhere", "web") == 1
    assert "no group /cgman/nowhere to copy from, in any hierarchy" in capsys.readouterr().err
