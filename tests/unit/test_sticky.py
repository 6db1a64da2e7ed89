"""Sticky marks (cgmand/sticky.py, pure) and their file (cgmand/kernel/stickyfile.py): the
nearest mark on a process's line of ancestors decides; marks follow processes by identity
(pid, start time), are copied down before a marked parent is forgotten, and survive a restart
in <run_root>/cgman/sticky.json, read only when trusted."""

from __future__ import annotations

import json
import os

import pytest

from cgmand.kernel import runfiles, stickyfile
from cgmand.sticky import FILE, Mark, Marks, descendants

# Identities: (pid, start time). A tree: INIT > P > C1, C2; C1 > G.
A = (50, 500)  # an unrelated process
P = (100, 1000)
C1 = (101, 1010)
C2 = (102, 1020)
G = (103, 1030)


def line(*identities):
    return list(identities)


# --- decide / is_sticky ---------------------------------------------------------------

def test_no_mark_on_the_line_decides_nothing():
    marks = Marks({A: Mark(True, "other", 1.0)})
    assert marks.decide(line(G, C1, P)) is None
    assert marks.is_sticky(line(G, C1, P)) is False


def test_the_nearest_mark_on_the_line_decides():
    far, near = Mark(True, "top", 1.0), Mark(False, "", 2.0)
    marks = Marks({P: far, C1: near})
    assert marks.decide(line(G, C1, P)) is near
    assert marks.is_sticky(line(G, C1, P)) is False
    assert marks.decide(line(C2, P)) is far  # a sibling sees the grandparent's mark
    assert marks.is_sticky(line(C2, P)) is True
    assert marks.decide(line(P)) is far


def test_a_process_own_mark_beats_its_ancestors():
    marks = Marks({P: Mark(False, "", 1.0), C1: Mark(True, "web", 2.0)})
    assert marks.decide(line(C1, P)) == Mark(True, "web", 2.0)
    assert marks.is_sticky(line(G, C1, P)) is True
    assert marks.is_sticky(line(C2, P)) is False


def test_stick_marks_the_process_and_replaces_its_mark():
    marks = Marks()
    marks.stick(C1, "web", 5.5)
    assert marks.marks == {C1: Mark(True, "web", 5.5)}
    assert marks.is_sticky(line(G, C1, P)) is True
    assert marks.is_sticky(line(C2, P)) is False
    marks.marks[C2] = Mark(False, "", 1.0)
    marks.stick(C2, "db", 6.0)
    assert marks.marks[C2] == Mark(True, "db", 6.0)
    assert len(marks) == 2


def test_a_reused_pid_with_another_start_time_is_not_sticky():
    marks = Marks()
    marks.stick((100, 1000), "web", 1.0)
    assert marks.is_sticky([(100, 1000)]) is True
    assert marks.is_sticky([(100, 2000)]) is False  # same pid, a later process
    assert marks.is_sticky([(200, 2000), (100, 2000)]) is False  # nor its children
    assert marks.decide([(100, 2000)]) is None


def test_mark_equality_compares_every_field():
    assert Mark(True, "g", 1.0) == Mark(True, "g", 1.0)
    assert Mark(True, "g", 1.0) != Mark(False, "g", 1.0)
    assert Mark(True, "g", 1.0) != Mark(True, "h", 1.0)
    assert Mark(True, "g", 1.0) != Mark(True, "g", 2.0)
    assert Mark(True, "g", 1.0) != (True, "g", 1.0)


# --- cancel ---------------------------------------------------------------------------

def test_cancel_of_a_process_marked_itself_removes_its_mark():
    marks = Marks({C1: Mark(True, "web", 1.0), A: Mark(True, "x", 1.0)})
    assert marks.cancel(line(C1, P), 9.0) is True
    assert C1 not in marks.marks
    assert marks.marks == {A: Mark(True, "x", 1.0)}
    assert marks.is_sticky(line(C1, P)) is False
    assert marks.is_sticky(line(G, C1, P)) is False  # what it starts is free as well


def test_cancel_of_a_process_covered_by_a_sticky_ancestor_puts_a_not_sticky_mark():
    marks = Marks({P: Mark(True, "web", 1.0)})
    assert marks.cancel(line(C1, P), 9.0) is True
    assert marks.marks[C1] == Mark(False, "", 9.0)
    assert marks.marks[P] == Mark(True, "web", 1.0)  # the ancestor keeps its mark
    assert marks.is_sticky(line(C1, P)) is False
    assert marks.is_sticky(line(G, C1, P)) is False  # its descendants are free
    assert marks.is_sticky(line(C2, P)) is True  # its sibling is not
    assert marks.is_sticky(line(P)) is True


def test_cancel_of_a_process_marked_itself_and_covered_by_an_ancestor_says_not_sticky():
    marks = Marks({P: Mark(True, "web", 1.0), C1: Mark(True, "db", 2.0)})
    assert marks.cancel(line(C1, P), 9.0) is True
    assert marks.marks[C1] == Mark(False, "", 9.0)
    assert marks.is_sticky(line(G, C1, P)) is False


def test_cancel_of_a_process_that_is_not_sticky_returns_false():
    marks = Marks({A: Mark(True, "x", 1.0)})
    assert marks.cancel(line(C1, P), 9.0) is False
    assert marks.marks == {A: Mark(True, "x", 1.0)}


def test_cancel_drops_a_stale_not_sticky_mark():
    marks = Marks({C1: Mark(False, "", 1.0)})  # nothing above contradicts it any more
    assert marks.cancel(line(C1, P), 9.0) is False
    assert marks.marks == {}
    assert marks.is_sticky(line(C1, P)) is False


def test_cancelling_twice_leaves_the_process_free():
    marks = Marks({P: Mark(True, "web", 1.0)})
    assert marks.cancel(line(C1, P), 9.0) is True
    assert marks.cancel(line(C1, P), 10.0) is False
    assert marks.is_sticky(line(C1, P)) is False


def test_cancel_after_a_settle_frees_the_children_too():
    marks = Marks({P: Mark(True, "web", 1.0)})
    parents = {P: None, C1: P}
    marks.settle(parents)
    assert descendants(P, parents) == [C1]
    assert marks.cancel(line(P), 9.0, below=descendants(P, parents)) is True
    assert marks.is_sticky(line(C1, P)) is False


# --- inherit --------------------------------------------------------------------------

def test_inherit_copies_the_parent_mark_to_the_child():
    marks = Marks({P: Mark(True, "web", 1.0)})
    marks.inherit(C1, P)
    assert marks.marks[C1] == Mark(True, "web", 1.0)
    assert marks.is_sticky([C1]) is True  # on its own, without the parent on its line


def test_inherit_does_not_overwrite_the_child_own_mark():
    marks = Marks({P: Mark(True, "web", 1.0), C1: Mark(False, "", 2.0)})
    marks.inherit(C1, P)
    assert marks.marks[C1] == Mark(False, "", 2.0)


def test_inherit_from_an_unmarked_parent_adds_nothing():
    marks = Marks({A: Mark(True, "x", 1.0)})
    marks.inherit(C1, P)
    assert C1 not in marks.marks
    assert len(marks) == 1


# --- settle ---------------------------------------------------------------------------

def test_settle_keeps_the_children_sticky_after_the_marked_parent_dies():
    marks = Marks({P: Mark(True, "web", 1.0)})
    assert marks.settle({P: None, C1: P, G: C1}) is True  # copied down while the parent lives
    assert marks.marks[C1] == Mark(True, "web", 1.0)
    assert marks.marks[G] == Mark(True, "web", 1.0)
    # The parent exits: its child is re-parented to init (None here).
    assert marks.settle({C1: None, G: C1}) is True
    assert P not in marks.marks
    assert marks.is_sticky([C1]) is True
    assert marks.is_sticky([G, C1]) is True


def test_without_settle_the_parent_death_frees_the_child():
    # The counterpart of the test above: the line is broken, only a copy keeps the mark.
    marks = Marks({P: Mark(True, "web", 1.0)})
    assert marks.settle({C1: None}) is True
    assert marks.marks == {}
    assert marks.is_sticky([C1]) is False


def test_settle_drops_the_marks_of_dead_processes():
    marks = Marks({A: Mark(True, "x", 1.0), P: Mark(True, "web", 2.0)})
    assert marks.settle({P: None, C2: None}) is True
    assert marks.marks == {P: Mark(True, "web", 2.0)}


def test_settle_drops_a_mark_whose_pid_was_reused():
    marks = Marks({(100, 1000): Mark(True, "web", 1.0)})
    assert marks.settle({(100, 2000): None}) is True
    assert marks.marks == {}


def test_settle_drops_a_not_sticky_mark_no_sticky_ancestor_contradicts():
    marks = Marks({P: Mark(True, "web", 1.0), C1: Mark(False, "", 2.0)})
    # The sticky ancestor died; the cancelled child was re-parented to init.
    assert marks.settle({C1: None, G: C1}) is True
    assert marks.marks == {}
    assert marks.is_sticky([G, C1]) is False


def test_settle_keeps_a_not_sticky_mark_under_a_living_sticky_ancestor():
    marks = Marks({P: Mark(True, "web", 1.0), C1: Mark(False, "", 2.0)})
    parents = {P: None, C1: P, C2: P, G: C1}
    changed = marks.settle(parents)
    assert changed is True  # C2 received a copy
    assert marks.marks[C1] == Mark(False, "", 2.0)
    assert marks.marks[C2] == Mark(True, "web", 1.0)
    assert G not in marks.marks  # its copy of the not-sticky mark would say nothing new
    assert marks.is_sticky([G, C1, P]) is False
    assert marks.is_sticky([C2, P]) is True


def test_settle_returns_false_when_nothing_changes():
    marks = Marks({P: Mark(True, "web", 1.0), C1: Mark(True, "web", 1.0)})
    before = dict(marks.marks)
    assert marks.settle({P: None, C1: P, A: None}) is False
    assert marks.marks == before
    again = Marks({P: Mark(True, "web", 1.0)})
    assert again.settle({P: None, C1: P}) is True
    assert again.settle({P: None, C1: P}) is False  # idempotent
    assert Marks().settle({P: None}) is False


def test_settle_of_an_unrelated_tree_copies_nothing():
    marks = Marks({A: Mark(True, "x", 1.0)})
    assert marks.settle({A: None, P: None, C1: P}) is False
    assert marks.marks == {A: Mark(True, "x", 1.0)}


def test_settle_does_not_hang_on_a_cyclic_map():
    marks = Marks({A: Mark(True, "x", 1.0)})
    assert marks.settle({P: C1, C1: P}) is True
    assert marks.marks == {}


# --- dumps / loads --------------------------------------------------------------------

def test_dumps_and_loads_round_trip():
    marks = Marks({P: Mark(True, "web/frontend", 1234.5), C1: Mark(False, "", 7.25), A: Mark(True, "", 0.0)})
    data = marks.dumps()
    assert isinstance(data, bytes) and data.endswith(b"\n")
    doc = json.loads(data)
    assert doc["version"] == 1
    assert [(r["pid"], r["start"]) for r in doc["marks"]] == [A, P, C1]  # sorted
    back = Marks.loads(data)
    assert back.marks == marks.marks
    assert all(type(k) is tuple for k in back.marks)


def test_loads_of_an_empty_marks_dumps_empty():
    assert Marks.loads(Marks().dumps()).marks == {}


@pytest.mark.parametrize("data", [
    None,
    b"",
    b"not json at all",
    b"\xff\xfe\x00garbage",
    b"null",
    b"[1, 2, 3]",
    b'"a string"',
    b'{"marks": [{"pid": 1, "start": 2, "sticky": true}]}',  # no version
    b'{"version": 2, "marks": [{"pid": 1, "start": 2, "sticky": true}]}',
    b'{"version": "1", "marks": [{"pid": 1, "start": 2, "sticky": true}]}',
    b'{"version": 1, "marks": [{"start": 2, "sticky": true}]}',  # no pid
    b'{"version": 1, "marks": [{"pid": 1, "sticky": true}]}',  # no start
    b'{"version": 1, "marks": [{"pid": 1, "start": 2}]}',  # no sticky
    b'{"version": 1, "marks": [{"pid": "x", "start": 2, "sticky": true}]}',
    b'{"version": 1, "marks": [{"pid": 1, "start": 2, "sticky": true, "since": "soon"}]}',
    b'{"version": 1, "marks": [5]}',
    b'{"version": 1, "marks": 5}',
    b'{"version": 1, "marks": [{"pid": 1, "start": 2, "sticky": true}, {"pid": 3}]}',
])
def test_loads_of_garbage_gives_no_marks(data):
    marks = Marks.loads(data)
    assert isinstance(marks, Marks)
    assert marks.marks == {}


def test_loads_fills_the_optional_fields():
    marks = Marks.loads(b'{"version": 1, "marks": [{"pid": 7, "start": 70, "sticky": true}]}')
    assert marks.marks == {(7, 70): Mark(True, "", 0.0)}


# --- stickyfile -----------------------------------------------------------------------

def sticky_path(run_root):
    return run_root / "cgman" / FILE


def test_update_writes_nothing_when_the_change_says_so(tmp_path):
    seen = []

    def change(marks):
        seen.append(len(marks))
        marks.stick(P, "web", 1.0)  # changed in memory, but reported unchanged
        return False

    result = stickyfile.update(str(tmp_path), change)
    assert seen == [0]
    assert not sticky_path(tmp_path).exists()
    assert (tmp_path / "cgman" / "sticky.lock").exists()
    assert result.marks == {P: Mark(True, "web", 1.0)}  # what change left, as returned
    assert stickyfile.load(str(tmp_path)).marks == {}


def test_update_writes_the_marks_when_the_change_returns_true(tmp_path):
    result = stickyfile.update(str(tmp_path), lambda marks: marks.stick(P, "web", 1.0) or True)
    assert result.marks == {P: Mark(True, "web", 1.0)}
    path = sticky_path(tmp_path)
    assert path.read_bytes() == Marks({P: Mark(True, "web", 1.0)}).dumps()
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert stickyfile.load(str(tmp_path)).marks == {P: Mark(True, "web", 1.0)}


def test_update_sees_the_marks_on_file_and_leaves_the_file_alone_when_unchanged(tmp_path):
    stickyfile.update(str(tmp_path), lambda marks: marks.stick(P, "web", 1.0) or True)
    path = sticky_path(tmp_path)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # any rewrite would move the mtime
    before = runfiles.stamp(str(path))
    content = path.read_bytes()
    seen = []

    def change(marks):
        seen.append(dict(marks.marks))
        marks.stick(C1, "db", 2.0)
        return False

    stickyfile.update(str(tmp_path), change)
    assert seen == [{P: Mark(True, "web", 1.0)}]
    assert runfiles.stamp(str(path)) == before
    assert os.stat(path).st_mtime_ns == 1_000_000_000
    assert path.read_bytes() == content


def test_update_rewrites_the_file_when_changed(tmp_path):
    stickyfile.update(str(tmp_path), lambda marks: marks.stick(P, "web", 1.0) or True)
    path = sticky_path(tmp_path)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    stickyfile.update(str(tmp_path), lambda marks: marks.cancel([P], 2.0))
    assert os.stat(path).st_mtime_ns != 1_000_000_000
    assert stickyfile.load(str(tmp_path)).marks == {}


def test_load_without_a_file_is_empty(tmp_path):
    assert stickyfile.load(str(tmp_path)).marks == {}


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602])
def test_load_ignores_a_file_others_can_write(tmp_path, mode):
    stickyfile.update(str(tmp_path), lambda marks: marks.stick(P, "web", 1.0) or True)
    path = sticky_path(tmp_path)
    assert stickyfile.load(str(tmp_path)).marks == {P: Mark(True, "web", 1.0)}  # trusted as written
    os.chmod(path, mode)
    assert stickyfile.load(str(tmp_path)).marks == {}


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_load_ignores_a_file_another_user_owns(tmp_path):
    stickyfile.update(str(tmp_path), lambda marks: marks.stick(P, "web", 1.0) or True)
    path = sticky_path(tmp_path)
    os.chown(path, 65534, os.getegid())
    assert stickyfile.load(str(tmp_path)).marks == {}
    os.chown(path, os.geteuid(), os.getegid())
    assert stickyfile.load(str(tmp_path)).marks == {P: Mark(True, "web", 1.0)}


def test_load_ignores_a_corrupt_file(tmp_path):
    path = sticky_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"version": 1, "marks": [{"pid": 1')
    os.chmod(path, 0o600)
    assert stickyfile.load(str(tmp_path)).marks == {}
