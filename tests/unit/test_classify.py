"""cgman classify in process, on this machine's layout faked: each PID is moved on its own (one
failure never stops the rest), gone processes are reported and are no failure."""

from __future__ import annotations

from cgmand import cli
from cgmand.errors import KernelError
from cgmand.kernel import attach
from fakes import build, hybrid_host_with_web, write_config


def proc(tmp_path, pid: int, tgid: int = 0, state: str = "S", cgroup: str = "/cgman/web") -> None:
    build(tmp_path / "proc" / str(pid), {
        "status": f"Name:\tx\nTgid:\t{tgid or pid}\n",
        "stat": f"{pid} (a (b) c) {state} 1 " + " ".join(["0"] * 17) + " 4242 0\n",
        "cgroup": f"4:memory:/\n3:cpu:{cgroup}\n0::{cgroup}\n"})


def run(roots, *args):
    return cli.main(["--config-dir", roots.config_dir, "--cgroup-root", roots.cgroup_root, "--proc-root",
                     roots.proc_root, "--run-root", roots.run_root, "classify", *args])


def test_one_failure_does_not_stop_the_other_moves(tmp_path, monkeypatch, capsys):
    roots = hybrid_host_with_web(tmp_path)
    write_config(roots, "10.toml", '[group."web"]\ncpu.weight = 200\n')
    for pid in (10, 11, 12):
        proc(tmp_path, pid)
    moved = []
    real = attach.move

    def move(pid, targets):
        if pid == 11:
            raise KernelError("write", "x", 22, "refused")
        moved.append(pid)
        return real(pid, targets)

    monkeypatch.setattr(attach, "move", move)
    assert run(roots, "-g", "cpu:web", "10", "11", "12") == 1
    assert moved == [10, 12]
    assert "process 11: refused" in capsys.readouterr().err


def test_gone_and_zombie_processes_are_reported_not_failed(tmp_path, capsys):
    roots = hybrid_host_with_web(tmp_path)
    write_config(roots, "10.toml", '[group."web"]\ncpu.weight = 200\n')
    proc(tmp_path, 20, state="Z", cgroup="/")  # the write "succeeds"; /proc still shows /
    proc(tmp_path, 21)
    assert run(roots, "-g", "cpu:web", "20", "99", "21") == 0
    err = capsys.readouterr().err
    assert "process 20 exited while it was moved (a zombie)" in err and "process 99 is gone" in err
    assert "21" not in err


def test_a_thread_id_names_its_process(tmp_path):
    roots = hybrid_host_with_web(tmp_path)
    write_config(roots, "10.toml", '[group."web"]\ncpu.weight = 200\n')
    proc(tmp_path, 30)
    proc(tmp_path, 31, tgid=30)
    assert run(roots, "-g", "cpu:web", "31") == 0
    assert (tmp_path / "cgroup/cpu/cgman/web/cgroup.procs").read_text() == "30"


def test_root_options_go_before_or_after_the_verb_in_either_spelling(tmp_path):
    roots = hybrid_host_with_web(tmp_path)
    write_config(roots, "10.toml", '[group."web"]\ncpu.weight = 200\n')
    proc(tmp_path, 40)
    assert cli.main([f"--config-dir={roots.config_dir}", "--cgroup-root", roots.cgroup_root, "classify",
                     f"--proc-root={roots.proc_root}", "--run-root", roots.run_root, "-g", "cpu:web", "40"]) == 0
    assert (tmp_path / "cgroup/cpu/cgman/web/cgroup.procs").read_text() == "40"


def test_options_may_follow_the_pids_as_cgclassify_takes_them():
    from cgmand.verbs import classify

    assert classify.parse(["42", "-g", "cpu:web", "43", "--sticky"]) == (["cpu:web"], [42, 43], True)
    assert classify.parse(["-g", "cpu:web", "--cancel-sticky", "42"]) == (["cpu:web"], [42], False)
    assert classify.parse(["-gcpu:web", "42"]) == (["cpu:web"], [42], None)
