"""`cgman list` against the real kernel: cgman's groups as a tree, with their controllers, declared
ones marked, groups made by hand included, and a missing group an error."""

from __future__ import annotations

import json

from conftest import home

GROUPS = '[group."web"]\ncpu.weight = 200\n[group."web/api"]\npids.max = 10\n[group."batch"]\ncpu.weight = 50\n'


def cgman_list(kenv, *args):
    return kenv.run("list", *args)


def test_the_tree_with_controllers_declared_and_by_hand(kenv):
    kenv.applied(GROUPS)
    kenv.path(home("cpu"), "byhand").mkdir()
    done = cgman_list(kenv, "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["group"]: row for row in json.loads(done.stdout)["groups"]}
    assert list(rows) == ["batch", "byhand", "web", "web/api"]
    assert [rows[g]["declared"] for g in rows] == [True, False, True, True]
    assert "cpu" in rows["web"]["controllers"] and "pids" in rows["web/api"]["controllers"]
    text = cgman_list(kenv).stdout.splitlines()
    assert text[0].startswith("* batch  [") and text[1].startswith("  byhand  [") and text[3].startswith("*   api  [")


def test_a_subtree_and_a_missing_group(kenv):
    kenv.applied(GROUPS)
    done = cgman_list(kenv, "web", "--json")
    assert [row["group"] for row in json.loads(done.stdout)["groups"]] == ["web", "web/api"]
    done = cgman_list(kenv, "nope")
    assert done.returncode == 1 and f"no group {kenv.prefix}/nope in any hierarchy" in done.stderr
    done = cgman_list(kenv, "-g", "cpu:web")
    assert done.returncode == 2 and "list takes group paths, not -g" in done.stderr
