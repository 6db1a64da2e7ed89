"""cgman list in process, on this machine's layout faked."""

from __future__ import annotations

import json

from cgmand import cli
from cgmand.verbs import listing
from fakes import hybrid_host_with_web, write_config


def run(roots, *args):
    return cli.main(["--config-dir", roots.config_dir, "--cgroup-root", roots.cgroup_root, "--proc-root",
                     roots.proc_root, "--run-root", roots.run_root, "list", *args])


def test_groups_of_every_hierarchy_once_with_their_controllers(tmp_path, capsys):
    roots = hybrid_host_with_web(tmp_path)  # web exists in cpu, memory and the cgroup2 mirror
    write_config(roots, "10.toml", '[group."web"]\ncpu.weight = 200\n')
    (tmp_path / "cgroup/unified/cgman/web/cgroup.controllers").write_text("hugetlb\n")
    (tmp_path / "cgroup/cpu/cgman/anchor").mkdir()  # cgman's own leaf: not listed
    assert run(roots, "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"groups": [
        {"group": "web", "controllers": ["cpu", "hugetlb", "memory"], "declared": True}]}


def test_refusals(tmp_path, capsys):
    roots = hybrid_host_with_web(tmp_path)
    write_config(roots, "10.toml", "")
    assert run(roots, "we.b") == 2 and "invalid group path" in capsys.readouterr().err
    assert run(roots, "nope") == 1 and "no group /cgman/nope in any hierarchy" in capsys.readouterr().err


def test_an_empty_tree_says_so():
    assert listing.render([]) == "No groups."
