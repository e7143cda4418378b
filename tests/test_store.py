import re
import sqlite3
import threading
import time

import pytest

from handhold.runstore.db import SCHEMA_VERSION, RunStore, StoreError


def test_round_trip(tmp_path):
    with RunStore.open(tmp_path) as s:
        s.append_metrics(1, {"train/loss": 2.5, "train/loss/physics": 3.0})
        s.append_metrics(2, {"train/loss": 2.0, "bad": float("nan")})
        s.append_event(0, "checkpoint", {"path": "a"})
        s.append_sample(2, "probe", "How is training going?", "fine")
        s.set_meta("status", "finished")
    r = RunStore.reader(tmp_path)
    assert r.series("train/loss") == ([1, 2], [2.5, 2.0])
    assert r.series("bad") == ([2], [None])  # non-finite values are stored as NULL
    assert r.metric_keys("train/loss/") == ["train/loss/physics"]
    assert [(e.step, e.kind, e.data) for e in r.events()] == [(0, "checkpoint", {"path": "a"})]
    assert [(x.step, x.prompt, x.text) for x in r.samples()] == [(2, "How is training going?", "fine")]
    assert r.get_meta("status") == "finished"
    assert r.get_meta("schema_version") == SCHEMA_VERSION
    tables = {row[0] for row in r.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"metrics", "events", "samples", "meta", "labels"} <= tables
    assert r.query("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_writes_are_buffered_until_flush(tmp_path):
    w = RunStore.open(tmp_path, flush_every=1000, flush_seconds=1e9)
    w.append_metrics(1, {"a": 1.0})
    r = RunStore.reader(tmp_path)
    assert r.count("metrics") == 0
    w.flush()
    assert r.count("metrics") == 1


def test_reader_during_writes_sees_consistent_growing_prefix(tmp_path):
    w = RunStore.open(tmp_path, flush_every=50)
    done = threading.Event()

    def write():
        for step in range(1, 3001):
            w.append_metrics(step, {"x": float(step), "y": -float(step)})
        w.flush()
        done.set()

    t = threading.Thread(target=write)
    t.start()
    r = RunStore.reader(tmp_path)
    seen = []
    while not done.is_set():
        steps, values = r.series("x")
        seen.append(len(steps))
        assert steps == list(range(1, len(steps) + 1))  # never a hole or a torn batch
        assert values == [float(s) for s in steps]
        time.sleep(0.001)
    t.join()
    assert r.series("y")[0] == list(range(1, 3001))
    assert seen == sorted(seen)
    w.close()


def test_truncate_after_removes_only_later_rows(tmp_path):
    with RunStore.open(tmp_path) as s:
        for step in range(1, 11):
            s.append_metrics(step, {"x": float(step)})
            s.append_event(step, "e")
            s.append_sample(step, "probe", "p", "t")
        removed = s.truncate_after(6)
        assert removed == 12
        assert s.series("x")[0] == [1, 2, 3, 4, 5, 6]
        assert [e.step for e in s.events()] == [1, 2, 3, 4, 5, 6]
        assert s.last_step() == 6
        s.append_metrics(7, {"late": 1.0})
        s.flush()
        assert (s.metric_keys(), s.last_step()) == (["late", "x"], 7)
        s.truncate_after(6)
        assert (s.metric_keys(), s.last_step()) == (["x"], 6)


def test_reader_errors_are_clear(tmp_path):
    with pytest.raises(StoreError, match="no run store here"):
        RunStore.reader(tmp_path)
    (tmp_path / "run.db").write_text("not sqlite at all, just text" * 100)
    with pytest.raises(StoreError, match="not a handhold run store"):
        RunStore.reader(tmp_path)


def test_newer_schema_is_refused(tmp_path):
    with RunStore.open(tmp_path) as s:
        s.set_meta("schema_version", SCHEMA_VERSION + 1)
    with pytest.raises(StoreError, match="newer"):
        RunStore.reader(tmp_path)
    with pytest.raises(StoreError, match="schema version"):
        RunStore.open(tmp_path)


def test_reader_cannot_write(tmp_path):
    RunStore.open(tmp_path).close()
    r = RunStore.reader(tmp_path)
    with pytest.raises(sqlite3.OperationalError):
        r.set_meta("x", 1)


def test_amend_replaces_rows_and_labels_in_one_transaction(tmp_path):
    with RunStore.open(tmp_path) as s:
        s.append_metrics(10, {"eval/a": 0.1, "eval/b": 0.2})
        s.flush()
        s.amend(replace=[("eval/a", 10)], metrics=[(10, "eval/a", 0.5, 0.0)], events=[(10, "eval", {"k": 1}, 0.0)],
                labels=[(10, "t", "1", "sound", "human", 0.0, None), (10, "t", "2", None, "human", 0.0, None)])
        assert s.series("eval/a") == ([10], [0.5])
        assert s.series("eval/b") == ([10], [0.2])
        assert [(e.kind, e.data) for e in s.events()] == [("eval", {"k": 1})]
        assert [(r.doc_id, r.label) for r in s.labels()] == [("1", "sound")]
        with pytest.raises(sqlite3.IntegrityError):  # a bad row: the whole amendment is rolled back
            s.amend(metrics=[(11, "eval/c", 1.0, 0.0)], labels=[(11, "t", "1", "sound", "human", None, None)])
        assert s.metric_keys("eval/") == ["eval/a", "eval/b"] and s.last_step() == 10


def test_open_without_create_refuses_a_missing_store(tmp_path):
    with pytest.raises(StoreError, match="no run store here"):
        RunStore.open(tmp_path / "r", create=False)
    assert not (tmp_path / "r").exists()


def test_a_labels_table_of_an_older_review_gets_its_answer_column(tmp_path):
    RunStore.open(tmp_path).close()
    con = sqlite3.connect(tmp_path / "run.db")
    con.execute("DROP TABLE labels")
    con.execute("CREATE TABLE labels (step INTEGER NOT NULL, task TEXT NOT NULL, doc_id TEXT NOT NULL, "
                "label TEXT NOT NULL, source TEXT NOT NULL, time REAL NOT NULL, PRIMARY KEY (step, task, doc_id, source))")
    con.execute("INSERT INTO labels VALUES (3, 't', '1', 'sound', 'human', 0.0)")
    con.commit()
    con.close()
    with RunStore.reader(tmp_path) as r:  # read as it is: no answer digest
        assert [(x.doc_id, x.label, x.answer) for x in r.labels()] == [("1", "sound", None)]
    with RunStore.open(tmp_path) as s:
        s.amend(labels=[(3, "t", "2", "unsound", "human", 0.0, "d2")])
        assert [(x.doc_id, x.answer) for x in s.labels()] == [("1", None), ("2", "d2")]


def test_store_docstring_names_methods_that_exist():
    from handhold.runstore import db as store

    text = store.__doc__ + (store.RunStore.__doc__ or "")
    named = set(re.findall(r"RunStore\.([a-z_]+)", text))
    missing = sorted(n for n in named if not hasattr(store.RunStore, n))
    assert named and missing == [], missing
