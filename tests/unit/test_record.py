"""kernel/record.py: the record round-trips, and the copy cgmand keeps of it is never stale or shared."""

from __future__ import annotations

import os

from cgmand.kernel import record

REC = record.Record({"cpu": {"/cgman", "/cgman/web"}}, {"cpu": {"/cgman/web": frozenset({"cpu.shares"})}})


def test_a_saved_record_loads_back_the_same(tmp_path):
    record.save(str(tmp_path), REC)
    assert record.load(str(tmp_path)) == REC
    record._known.clear()  # as another process would read it
    assert record.load(str(tmp_path)) == REC


def test_what_load_returns_is_the_callers_to_change(tmp_path):
    record.save(str(tmp_path), REC)
    mine = record.load(str(tmp_path))
    mine.created["cpu"].add("/cgman/mine")
    mine.managed["cpu"]["/cgman/mine"] = frozenset({"x"})
    assert record.load(str(tmp_path)) == REC


def test_a_record_replaced_by_another_writer_is_read_again(tmp_path):
    record.save(str(tmp_path), REC)
    assert record.load(str(tmp_path)) == REC
    other = os.path.join(str(tmp_path), "other")
    record.save(other, record.Record({"pids": {"/cgman"}}, {}))
    os.replace(os.path.join(other, "cgman", "created.json"), os.path.join(str(tmp_path), "cgman", "created.json"))
    assert record.load(str(tmp_path)) == record.Record({"pids": {"/cgman"}}, {})


def test_empty_entries_load_as_absent(tmp_path):
    record.save(str(tmp_path), record.Record({"cpu": set(), "pids": {"/a"}}, {"cpu": {}}))
    assert record.load(str(tmp_path)) == record.Record({"pids": {"/a"}}, {})
