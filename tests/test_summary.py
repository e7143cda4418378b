"""The stage table on runs with known numbers, written through the Run API (no training)."""

from __future__ import annotations

import sqlite3

from rich.console import Console

import handhold
from handhold.runstore.db import RunStore
from handhold.summary import StageRow, format_stage_table, stage_table

# Held-out loss every 10 steps for sources a and b; stages (0, 30], (30, 60], (60, 90].
EVALS = {
    10: (4.0, 5.0), 20: (3.0, 4.5), 30: (2.5, 4.0),      # general: a learned
    40: (3.0, 3.5), 50: (2.75, 3.0), 60: (2.5, 2.0),     # physics: a jumps +0.5, back at 60
    70: (2.25, 3.0), 80: (2.0, 2.5), 90: (2.0, 2.25),    # mixed: b jumps +1.0, never back to 2.0
}
STAGES = [("general", 0, 30, "budget"), ("physics", 30, 60, "budget"), ("mixed", 60, 90, "plateau")]


def _write(run, stages=STAGES, last_step=90, ended=3, evals=True):
    """Train loss and cumulative tokens every step, held-out loss at ``EVALS``; the first ``ended``
    stages end on their reason."""
    starts = {start: (i, name) for i, (name, start, _, _) in enumerate(stages)}
    ends = {end: reason for i, (_, _, end, reason) in enumerate(stages) if i < ended}
    for step in range(0, last_step + 1):
        if step:
            run.log({"train/loss": 10.0 - step / 10, "train/tokens": 100.0 * step}, step=step)
            if evals and step in EVALS:
                a, b = EVALS[step]
                run.log({"eval/loss/a": a, "eval/loss/b": b}, step=step)
        if step in ends:
            run.stage_end(ends[step], step=step)
        if step in starts:
            run.stage(starts[step][1], step=step, mix={"a": 1.0})


def _build(tmp_path, **kw):
    """A finished run of :func:`_write` (the curriculum complete), as a reader."""
    with handhold.init(tmp_path, name="demo") as run:
        _write(run, **kw)
        run.finish("finished", "curriculum complete")
    return RunStore.reader(tmp_path)


def test_three_stages_jump_and_recovery(tmp_path):
    rows = stage_table(_build(tmp_path))
    assert [(r.name, r.index, r.start, r.end, r.steps, r.tokens, r.end_reason, r.open) for r in rows] == [
        ("general", 0, 0, 30, 30, 3000, "budget", False),
        ("physics", 1, 30, 60, 30, 3000, "budget", False),
        ("mixed", 2, 60, 90, 30, 3000, "plateau", False),
    ]
    assert [r.final_loss for r in rows] == [{"a": 2.5, "b": 4.0}, {"a": 2.5, "b": 2.0}, {"a": 2.0, "b": 2.25}]
    assert all(set(r.final_from.values()) == {"eval"} for r in rows)
    # first stage: no switch into it
    assert rows[0].jump == {} and rows[0].recover_steps == {}
    # switch at 30: a jumps 2.5 -> 3.0, is back at 2.5 at step 60 (30 steps); b drops: no shock
    assert rows[1].jump == {"a": 0.5, "b": -0.5}
    assert rows[1].recover_steps == {"a": 30, "b": 0}
    # switch at 60: b jumps 2.0 -> 3.0 and is never back at 2.0 within the stage
    assert rows[2].jump == {"a": -0.25, "b": 1.0}
    assert rows[2].recover_steps == {"a": 0, "b": None}


def test_still_running_run_ends_open_stage_at_last_logged_step(tmp_path):
    with handhold.init(tmp_path) as live:
        _write(live, last_step=45, ended=1, stages=STAGES[:2])
        live.flush()
        rows = stage_table(RunStore.reader(tmp_path))
    assert len(rows) == 2
    r = rows[1]
    assert (r.start, r.end, r.steps, r.open, r.end_reason) == (30, 45, 15, True, "running")
    assert r.tokens == 1500  # from the cumulative train/tokens: 4500 - 3000
    assert r.final_loss == {"a": 3.0, "b": 3.5}  # the eval at 40; the one at 50 is not there yet
    assert r.jump == {"a": 0.5, "b": -0.5}
    assert r.recover_steps == {"a": None, "b": 0}  # not back *yet*


def test_open_stage_of_a_stopped_run_takes_the_fit_end_reason(tmp_path):
    with handhold.init(tmp_path) as live:
        _write(live, last_step=45, ended=1, stages=STAGES[:2])
        live.finish("finished", "max_steps=45 reached")
    store = RunStore.reader(tmp_path)
    assert stage_table(store)[1].end_reason == "max_steps=45 reached"
    with handhold.init(tmp_path, resume=True) as resumed:  # writes a resume event at step 45
        resumed.flush()
        assert stage_table(store)[1].end_reason == "running"


def test_without_eval_final_loss_falls_back_to_train_loss_tail(tmp_path):
    with handhold.init(tmp_path) as run:
        run.stage("only", step=0)
        for step in range(1, 21):
            run.log({"train/loss/a": float(step)}, step=step)
            if step % 2 == 0:  # b is in every other batch only
                run.log({"train/loss/b": float(step)}, step=step)
        run.log({"train/loss/c": float("nan")}, step=20)  # stored as NULL, ignored
    (row,) = stage_table(RunStore.reader(tmp_path))
    # last 10% of 20 steps = steps 19..20
    assert row.final_loss == {"a": 19.5, "b": 20.0}
    assert row.final_from == {"a": "train", "b": "train"}
    assert row.tokens is None and row.jump == {}


def test_empty_store_has_no_rows(tmp_path):
    handhold.init(tmp_path).finish()
    assert stage_table(RunStore.reader(tmp_path)) == []


def test_to_dict_and_terminal_table(tmp_path):
    rows = stage_table(_build(tmp_path))
    d = rows[2].to_dict()
    assert d["recover_steps"] == {"a": 0, "b": None} and d["name"] == "mixed"
    assert StageRow(**d) == rows[2]
    console = Console(width=120, record=True)
    console.print(format_stage_table(rows))
    text = console.export_text()
    for needle in ("general", "physics", "mixed", "plateau", "+0.500", "-0.250", "never", "2.250"):
        assert needle in text


def test_terminal_table_does_not_interpret_markup_in_store_text():
    row = StageRow(name="[bold]x[/bold]", index=0, start=0, end=1, steps=1, tokens=None,
                   end_reason="[red]why", final_loss={"a": 1.0}, final_from={"a": "train"})
    console = Console(width=120, record=True)
    console.print(format_stage_table([row]))
    text = console.export_text()
    assert "[bold]x[/bold]" in text and "[red]why" in text and "1.000*" in text


def test_stage_events_without_index_use_order(tmp_path):
    """Stage events of stores written before they carried an ``index`` are read in order."""
    with handhold.init(tmp_path) as live:  # still running: the second stage is open
        live.stage("one", step=0)
        live.stage_end("budget", step=5)
        live.stage("two", step=5)
        live.log({"train/loss": 1.0}, step=8)
        live.flush()
        con = sqlite3.connect(tmp_path / "run.db")  # as an older handhold wrote them
        con.execute("UPDATE events SET data = json_remove(data, '$.index') WHERE kind IN ('stage_start', 'stage_end')")
        con.commit()
        con.close()
        rows = stage_table(RunStore.reader(tmp_path))
    assert [(r.name, r.start, r.end, r.end_reason) for r in rows] == [
        ("one", 0, 5, "budget"), ("two", 5, 8, "running")]


def test_family_table_first_last_change(tmp_path):
    from handhold.summary import family_table

    with handhold.init(tmp_path) as run:
        run.log({"eval/family/reasoning": 0.25, "eval/family/standard": 0.10}, step=200)
        run.log({"eval/family/reasoning": 0.55, "eval/family/standard": 0.05}, step=400)
    console = Console(width=120, record=True)
    console.print(family_table(RunStore.reader(tmp_path)))
    text = console.export_text()
    assert "reasoning" in text and "0.250 @ 200" in text and "0.550 @ 400" in text and "+0.300" in text
    assert "-0.050" in text
