"""reconcile.apply and its guards on fake trees: per-action outcomes, evacuation, guard failures."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import List

from cgmand.hierarchy import Hierarchy
from cgmand.kernel.cgroupfs import CgroupFS, fail
from cgmand.knobs import FileSetting
from cgmand.plan import EVACUATE, MEMORY_BELOW, WRITE, Action, Guard, Plan
from cgmand.reconcile import FAILED, OK, REFUSED, apply, check
from cgmand.values import Int, Size
from fakes import build


class MovingFS(CgroupFS):
    """A fake tree where writing a pid to cgroup.procs moves it, as the kernel does; pids listed
    in ``exited`` have gone (ESRCH) and ``stuck`` ones do not move (kernel threads, say)."""

    def __init__(self, hierarchy, exited=(), stuck=()):
        super().__init__(hierarchy)
        self.exited, self.stuck = set(exited), set(stuck)

    def write(self, cgroup: str, file: str, text: str) -> None:
        if file != "cgroup.procs":
            return super().write(cgroup, file, text)
        pid = int(text)
        if pid in self.stuck:
            return None
        for holder in self._all(""):  # leaves wherever it was (or is gone, if it exited)
            pids = [p for p in self.pids(holder) if p != pid]
            super().write(holder, file, "".join(f"{p}\n" for p in pids))
        if pid in self.exited:
            raise fail("write", self.path(cgroup, file), OSError(errno.ESRCH, "No such process"), text)
        super().write(cgroup, file, "".join(f"{p}\n" for p in self.pids(cgroup) + [pid]))
        return None

    def mkdir(self, cgroup: str) -> bool:
        made = super().mkdir(cgroup)
        if made:  # the kernel creates a cgroup's interface files with it
            build(Path(self.path(cgroup)), {"cgroup.procs": ""})
        return made

    def _all(self, top: str) -> List[str]:
        out = [top or "/"]
        for child in self.children(top or "/"):
            out += self._all(child)
        return out


def v2_fs(tmp_path, tree, cls=CgroupFS, **kw):
    build(tmp_path / "unified", tree)
    return cls(Hierarchy(2, str(tmp_path / "unified"), "/", frozenset({"cpu", "memory"})), **kw)


def write(id_: int, path: str, file: str, text: str, vtype=None, guard=None) -> Action:
    vtype = vtype or Int(1, 10000)
    value = vtype.read(text)
    return Action(id_, WRITE, "unified", path, file=file, texts=(text,), desired=value, guard=guard,
                  setting=FileSetting(file, value, vtype, file, 0), old="?", new=text)


def test_an_unexpected_error_fails_that_action_only(tmp_path, monkeypatch):
    """A bug or odd errno in one action is reported as failed; the next action still runs."""
    fs = v2_fs(tmp_path, {"a": {"cpu.weight": "100\n"}, "b": {"cpu.weight": "100\n"}})
    real = CgroupFS.write

    def odd(self, cgroup, file, text):
        if cgroup == "/a":
            raise OverflowError("signed integer is greater than maximum")
        return real(self, cgroup, file, text)

    monkeypatch.setattr(CgroupFS, "write", odd)
    report = apply(Plan([write(0, "/a", "cpu.weight", "200"), write(1, "/b", "cpu.weight", "300")]),
                   {"unified": fs}, {})
    assert [(o.action.path, o.status) for o in report.outcomes] == [("/a", FAILED), ("/b", OK)]
    assert report.outcomes[0].message == "internal error: OverflowError: signed integer is greater than maximum"
    assert (tmp_path / "unified/b/cpu.weight").read_text() == "300"
    assert report.failed


def evacuate() -> Action:
    return Action(0, EVACUATE, "unified", "/base", file="cgroup.procs", new="/base/anchor")


def test_evacuate_moves_every_process_into_the_anchor(tmp_path):
    """The delegated unit's processes move to <base>/anchor, one that exits meanwhile is no failure."""
    fs = v2_fs(tmp_path, {"cgroup.procs": "", "base": {"cgroup.procs": "10\n11\n12\n"}}, MovingFS, exited={11})
    report = apply(Plan([evacuate()]), {"unified": fs}, {})
    assert [(o.status, o.message) for o in report.outcomes] == [(OK, "")]
    assert fs.pids("/base/anchor") == [10, 12] and fs.pids("/base") == []
    assert fs.children("/base") == ["/base/anchor"]


def test_evacuate_reports_processes_that_stayed(tmp_path):
    """A process that cannot move fails the evacuation, naming it (the enable after it is skipped)."""
    fs = v2_fs(tmp_path, {"cgroup.procs": "", "base": {"cgroup.procs": "10\n20\n"}}, MovingFS, stuck={20})
    report = apply(Plan([evacuate()]), {"unified": fs}, {})
    assert [(o.status, o.message) for o in report.outcomes] == [
        (FAILED, "processes [20] stayed in /base; controllers cannot be enabled there")]
    assert fs.pids("/base/anchor") == [10]


def test_the_anchor_is_never_recorded(tmp_path):
    """cgman did not make the anchor its own: it is never in the record, so never removed."""
    fs = v2_fs(tmp_path, {"cgroup.procs": "", "base": {"cgroup.procs": "10\n"}}, MovingFS)
    record = {}
    apply(Plan([evacuate()]), {"unified": fs}, record)
    assert record == {"unified": set()}


def test_a_guard_that_cannot_be_checked_refuses(tmp_path):
    """memory.max lowering with no readable usage is refused, naming what could not be read."""
    fs = v2_fs(tmp_path, {"web": {"memory.max": "max\n"}})
    guarded = write(0, "/web", "memory.max", "1073741824", Size(), Guard(MEMORY_BELOW, limit=1 << 30))
    plan = check(Plan([guarded]), {"unified": fs})
    assert plan.actions == []
    (notice,) = plan.notices
    assert notice.verb == REFUSED and notice.reference == MEMORY_BELOW
    assert notice.message.startswith("cannot check: read ")
    assert "memory.current: no such file" in notice.message
    assert (tmp_path / "unified/web/memory.max").read_text() == "max\n"


def test_chown_is_read_back(tmp_path, monkeypatch):
    """A chown/chmod the filesystem did not keep fails the action, naming the entry."""
    from cgmand.hierarchy.layout import GROUP, Node
    from cgmand.model import Ownership, Perm
    from cgmand.plan import CHOWN

    fs = v2_fs(tmp_path, {"cgroup.procs": "", "web": {"cgroup.procs": "", "cpu.weight": "100\n"}})
    (tmp_path / "unified/web/cpu.weight").chmod(0o644)
    node = Node("/web", GROUP, "web", perm=Perm(admin=Ownership(fperm=0o664)))
    action = Action(0, CHOWN, "unified", "/web", node=node, new="perm")
    monkeypatch.setattr(CgroupFS, "set_owner", lambda *args: None)
    report = apply(Plan([action]), {"unified": fs}, {})
    me = f"{os.geteuid()}:{os.getegid()}"  # the fake files are ours: any user can run this
    assert [(o.status, o.message) for o in report.outcomes] == [
        (FAILED, f"cgroup.procs does not read back as {me} 0664 after chown/chmod")]
    monkeypatch.undo()
    report = apply(Plan([action]), {"unified": fs}, {})
    assert [o.status for o in report.outcomes] == [OK]
    assert (tmp_path / "unified/web/cpu.weight").stat().st_mode & 0o777 == 0o664


def test_a_child_removed_in_one_hierarchy_does_not_excuse_it_in_another(tmp_path):
    """cpu:/cgman/x goes; memory:/cgman/x is someone else's, so memory:/cgman is kept, not removed."""
    from cgmand.plan import KEPT, REMOVABLE, RMDIR

    build(tmp_path / "cpu", {"cgman": {"cgroup.procs": "", "x": {"cgroup.procs": ""}}})
    build(tmp_path / "memory", {"cgman": {"cgroup.procs": "", "x": {"cgroup.procs": ""}}})
    fss = {key: CgroupFS(Hierarchy(1, str(tmp_path / key), "/", frozenset({key}))) for key in ("cpu", "memory")}
    plan = Plan([
        Action(0, RMDIR, "cpu", "/cgman/x", guard=Guard(REMOVABLE)),
        Action(1, RMDIR, "memory", "/cgman", guard=Guard(REMOVABLE)),
    ])
    checked = check(plan, fss)
    assert [(a.hierarchy, a.path) for a in checked.actions] == [("cpu", "/cgman/x")]
    assert [(n.verb, n.hierarchy, n.message) for n in checked.notices] == [
        (KEPT, "memory", "contains cgroups cgman does not manage: /cgman/x")]


def test_a_leafs_subtree_control_is_read_only_if_its_parent_enabled_something(tmp_path, monkeypatch, capsys):
    """On the hybrid host's cgroup2 mirror nothing is enabled: the leaves' (necessarily empty)
    subtree_control is not read. Once the parent enables a controller, the leaf's is read."""
    import json as json_

    from cgmand import cli
    from fakes import hybrid_host_with_web, write_config

    roots = hybrid_host_with_web(tmp_path)
    write_config(roots, "10-web.toml", '[group."web"]\ncpu.weight = 200\n')
    reads = []
    real = CgroupFS.read

    def counting(self, cgroup, file):
        reads.append((self.hierarchy.version, cgroup, file))
        return real(self, cgroup, file)

    monkeypatch.setattr(CgroupFS, "read", counting)
    args = ["--config-dir", roots.config_dir, "--cgroup-root", roots.cgroup_root, "--proc-root", roots.proc_root,
            "--run-root", roots.run_root, "plan", "--json"]
    assert cli.main(args) == 0
    assert [(c, f) for v, c, f in reads if v == 2] == [("/", "cgroup.subtree_control"),
                                                       ("/cgman", "cgroup.subtree_control")]
    (tmp_path / "cgroup/unified/cgman/cgroup.subtree_control").write_text("hugetlb\n")
    reads.clear()
    capsys.readouterr()
    assert cli.main(args) == 0
    assert ("/cgman/web", "cgroup.subtree_control") in [(c, f) for v, c, f in reads if v == 2]
    assert json_.loads(capsys.readouterr().out)["actions"][-1]["verb"] == "disable"  # /cgman: -hugetlb
