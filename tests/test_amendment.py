"""The amend door (``handhold.amend``): writes into an existing run at past steps, beside a live
trainer, one transaction per block, amend writers in turn, the live run's checks."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

import handhold
from handhold.runstore.amend import LOCK_NAME, Amend, AmendError
from handhold.runstore.db import RunStore, StoreError


def _run(run_dir, steps=20):
    with handhold.init(run_dir) as run:
        for step in range(1, steps + 1):
            run.log({"train/loss": 1.0 / step}, step=step)
    return run_dir


def test_amend_writes_at_past_steps(tmp_path):
    run = _run(tmp_path / "r")
    with handhold.amend(run) as later:
        assert isinstance(later, Amend)
        later.log({"eval": {"acc": 0.5}}, step=10)  # nested dicts become a/b keys, as run.log
        later.event("eval", step=10, checkpoint="step_0000010")
        later.sample("chat", "hi", "hello", step=5)
        later.label(10, "arc_easy", "3", "sound", answer="d1")
    with RunStore.reader(run) as store:
        assert store.series("eval/acc") == ([10], [0.5]) and "eval/acc" in store.metric_keys()
        assert [(e.step, e.data) for e in store.events("eval")] == [(10, {"checkpoint": "step_0000010"})]
        assert [(s.step, s.kind, s.prompt, s.text) for s in store.samples("chat")] == [(5, "chat", "hi", "hello")]
        assert [(r.step, r.task, r.doc_id, r.label, r.source, r.answer) for r in store.labels()] == [
            (10, "arc_easy", "3", "sound", "human", "d1")]
        assert store.last_step() == 20 and store.get_meta("status") == "finished"  # the run's end and status stay


def test_replace_keeps_one_row_per_key_and_step(tmp_path):
    run = _run(tmp_path / "r")
    with handhold.amend(run) as later:
        later.log({"eval/a": 0.1, "eval/b": 0.2}, step=10)
    with handhold.amend(run) as later:  # the checkpoint scored again
        later.replace({"eval/a": 0.5}, step=10)
        later.replace({"eval/a": float("nan")}, step=15)  # NaN: a gap (NULL), as run.log
    with RunStore.reader(run) as store:
        assert store.series("eval/a") == ([10, 15], [0.5, None])
        assert store.series("eval/b") == ([10], [0.2])


def test_labels_are_replaced_and_cleared(tmp_path):
    run = _run(tmp_path / "r")
    with handhold.amend(run) as later:
        later.label(10, "t", "1", "sound")
        later.label(10, "t", "1", "unsound")  # the same item and source: one row
        later.label(10, "t", "2", "sound", source="auto")
    with handhold.amend(run) as later:
        later.label(10, "t", "2", None, source="auto")
    with RunStore.reader(run) as store:
        assert [(r.doc_id, r.label, r.source) for r in store.labels()] == [("1", "unsound", "human")]
        assert store.labels("auto") == []


def test_a_block_that_fails_writes_nothing_and_a_refused_call_adds_nothing(tmp_path):
    run = _run(tmp_path / "r")
    with pytest.raises(KeyError):
        with handhold.amend(run) as later:
            later.log({"eval/a": 1.0}, step=3)
            raise KeyError("scoring failed")
    with handhold.amend(run) as later:
        later.log({"eval/b": 1.0}, step=3)
        with pytest.raises(TypeError):
            later.log({"eval/c": 2.0, "eval/d": "text"}, step=3)
    with RunStore.reader(run) as store:
        assert store.metric_keys("eval/") == ["eval/b"]


@pytest.mark.parametrize("call, error, says", [
    (lambda a: a.log({"bad key": 1.0}, step=1), ValueError, "amend.log: key 'bad key' has the character(s) ' '"),
    (lambda a: a.replace({"x": "1"}, step=1), TypeError, "amend.replace: 'x' is str '1', not a number"),
    (lambda a: a.log({"x": 1.0}, step=1.5), TypeError, "step must be an integer"),
    (lambda a: a.log({"x": 1.0}, step=-1), ValueError, "step must be >= 0"),
    (lambda a: a.log([1.0], step=1), TypeError, "expected a dict of metrics"),
    (lambda a: a.event("stage_end", step=1, reason="budget"), ValueError, "written by the live run"),
    (lambda a: a.event("eval", step=1, model=object()), TypeError, "'model' cannot be stored"),
    (lambda a: a.sample("chat", "hi", None, step=1), TypeError, "prompt and text must be strings"),
    (lambda a: a.label(1, "t", "", "sound"), TypeError, "doc_id must be a non-empty string"),
])
def test_writes_are_checked_as_the_live_run_checks_them(tmp_path, call, error, says):
    run = _run(tmp_path / "r")
    with handhold.amend(run) as later:
        with pytest.raises(error, match=says.replace("(", r"\(").replace(")", r"\)")):
            call(later)


def test_the_same_key_is_refused_by_both_doors_with_the_same_reason(tmp_path):
    run = _run(tmp_path / "r")
    with handhold.amend(run) as later, pytest.raises(ValueError) as by_amend:
        later.log({"a//b": 1.0}, step=1)
    with handhold.init(tmp_path / "live") as live, pytest.raises(ValueError) as by_run:
        live.log({"a//b": 1.0}, step=1)
    assert str(by_amend.value).split(": ", 1)[1] == str(by_run.value).split(": ", 1)[1]


def test_amend_needs_an_existing_run_and_creates_nothing(tmp_path):
    with pytest.raises(StoreError, match="no run store here"):
        handhold.amend(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()


def test_a_closed_block_refuses_writes(tmp_path):
    run = _run(tmp_path / "r")
    with handhold.amend(run) as later:
        pass
    with pytest.raises(AmendError, match="closed"):
        later.log({"x": 1.0}, step=1)
    later.close()  # harmless twice


def test_amend_beside_a_live_trainer(tmp_path):
    """A trainer holds the run lock and writes on; an amend block writes at a past step without
    the lock; neither waits long for the other, and every row of both is there."""
    run = tmp_path / "r"
    live = handhold.init(run, flush_every=10, flush_seconds=0.01)
    live.log({"train/loss": 1.0}, step=0)
    live.flush()
    flush_times: list[float] = []
    done = threading.Event()

    def train():
        for step in range(1, 1001):
            t = time.perf_counter()
            live.log({"train/loss": 1.0 / step}, step=step)
            flush_times.append(time.perf_counter() - t)
        done.set()

    trainer = threading.Thread(target=train)
    trainer.start()
    amended = 0
    try:
        while not done.is_set() or amended < 5:
            t = time.perf_counter()
            with handhold.amend(run, timeout=10) as later:
                later.replace({"eval/acc": amended / 10}, step=amended)
                later.sample("chat", f"hi {amended}", "hello", step=amended)
            assert time.perf_counter() - t < 5.0
            amended += 1
    finally:
        trainer.join()
        live.finish()
    assert max(flush_times) < 2.0  # the trainer was never held up for long
    with RunStore.reader(run) as store:
        steps, values = store.series("train/loss")
        assert steps == list(range(0, 1001))
        assert store.series("eval/acc") == (list(range(amended)), [i / 10 for i in range(amended)])
        assert len(list(store.samples("chat"))) == amended
        assert store.query("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_amend_writers_take_turns(tmp_path):
    run = _run(tmp_path / "r")
    order: list[str] = []
    first = handhold.amend(run)
    assert (run / LOCK_NAME).is_file()

    def second():
        with handhold.amend(run, timeout=10) as later:
            order.append("second in")
            later.log({"b": 1.0}, step=2)

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.3)
    order.append("first out")
    first.log({"a": 1.0}, step=1)
    first.close()
    thread.join()
    assert order == ["first out", "second in"]
    held = handhold.amend(run)
    try:
        with pytest.raises(AmendError, match="another amend writer"):
            handhold.amend(run, timeout=0.1)
    finally:
        held.close()


def test_an_open_block_does_not_hold_the_database(tmp_path):
    """Until a block ends it writes nothing, so the live run's flushes never wait on it."""
    run = tmp_path / "r"
    live = handhold.init(run, flush_every=1)
    live.log({"x": 1.0}, step=1)
    with handhold.amend(run) as later:
        later.log({"eval/a": 1.0}, step=1)
        t = time.perf_counter()
        live.log({"x": 2.0}, step=2)
        live.flush()
        assert time.perf_counter() - t < 0.5
        with sqlite3.connect(f"file:{run / 'run.db'}?mode=ro", uri=True) as con:
            assert con.execute("SELECT COUNT(*) FROM metrics WHERE key = 'eval/a'").fetchone()[0] == 0
    live.finish()
    with RunStore.reader(run) as store:
        assert store.series("eval/a") == ([1], [1.0]) and store.series("x") == ([1, 2], [1.0, 2.0])
