"""The stage table on hand-built stores with known numbers (no training)."""

from __future__ import annotations

from rich.console import Console

from handhold.store import RunStore
from handhold.summary import StageRow, format_stage_table, stage_table

# Held-out loss every 10 steps for sources a and b; stages (0, 30], (30, 60], (60, 90].
EVALS = {
    10: (4.0, 5.0), 20: (3.0, 4.5), 30: (2.5, 4.0),      # general: a learned
    40: (3.0, 3.5), 50: (2.75, 3.0), 60: (2.5, 2.0),     # physics: a jumps +0.5, back at 60
    70: (2.25, 3.0), 80: (2.0, 2.5), 90: (2.0, 2.25),    # mixed: b jumps +1.0, never back to 2.0
}
STAGES = [("general", 0, 30, "budget"), ("physics", 30, 60, "budget"), ("mixed", 60, 90, "plateau")]


def _build(tmp_path, stages=STAGES, last_step=90, ended=3, fit_end=True, evals=True):
    s = RunStore.open(tmp_path)
    s.set_meta("name", "demo")
    for step in range(1, last_step + 1):
        s.log_metrics(step, {"train/loss": 10.0 - step / 10, "train/tokens": 100.0 * step})
        if evals and step in EVALS:
            a, b = EVALS[step]
            s.log_metrics(step, {"eval/loss/a": a, "eval/loss/b": b})
    for i, (name, start, end, reason) in enumerate(stages):
        s.log_event(start, "stage_start", {"stage": name, "index": i, "mix": {"a": 1.0}})
        if i < ended:
            s.log_event(end, "stage_end", {"stage": name, "index": i, "steps": end - start,
                                           "tokens": 100 * (end - start), "reason": reason})
    if fit_end:
        s.log_event(last_step, "fit_end", {"status": "finished", "reason": "curriculum complete"})
    s.close()
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
    rows = stage_table(_build(tmp_path, last_step=45, ended=1, fit_end=False, stages=STAGES[:2]))
    assert len(rows) == 2
    r = rows[1]
    assert (r.start, r.end, r.steps, r.open, r.end_reason) == (30, 45, 15, True, "running")
    assert r.tokens == 1500  # from the cumulative train/tokens: 4500 - 3000
    assert r.final_loss == {"a": 3.0, "b": 3.5}  # the eval at 40; the one at 50 is not there yet
    assert r.jump == {"a": 0.5, "b": -0.5}
    assert r.recover_steps == {"a": None, "b": 0}  # not back *yet*


def test_open_stage_of_a_stopped_run_takes_the_fit_end_reason(tmp_path):
    store = _build(tmp_path, last_step=45, ended=1, fit_end=False, stages=STAGES[:2])
    w = RunStore.open(tmp_path)
    w.log_event(45, "fit_end", {"status": "finished", "reason": "max_steps=45 reached"})
    w.close()
    assert stage_table(store)[1].end_reason == "max_steps=45 reached"
    w = RunStore.open(tmp_path)
    w.log_event(45, "resume", {})
    w.close()
    assert stage_table(store)[1].end_reason == "running"


def test_without_eval_final_loss_falls_back_to_train_loss_tail(tmp_path):
    s = RunStore.open(tmp_path)
    s.log_event(0, "stage_start", {"stage": "only", "index": 0})
    for step in range(1, 21):
        s.log_metrics(step, {"train/loss/a": float(step)})
        if step % 2 == 0:  # b is in every other batch only
            s.log_metrics(step, {"train/loss/b": float(step)})
    s.log_metrics(20, {"train/loss/c": float("nan")})  # stored as NULL, ignored
    s.close()
    (row,) = stage_table(RunStore.reader(tmp_path))
    # last 10% of 20 steps = steps 19..20
    assert row.final_loss == {"a": 19.5, "b": 20.0}
    assert row.final_from == {"a": "train", "b": "train"}
    assert row.tokens is None and row.jump == {}


def test_empty_store_has_no_rows(tmp_path):
    RunStore.open(tmp_path).close()
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
    s = RunStore.open(tmp_path)
    s.log_event(0, "stage_start", {"stage": "one"})
    s.log_event(5, "stage_end", {"stage": "one", "reason": "budget"})
    s.log_event(5, "stage_start", {"stage": "two"})
    s.log_metrics(8, {"train/loss": 1.0})
    s.close()
    rows = stage_table(RunStore.reader(tmp_path))
    assert [(r.name, r.start, r.end, r.end_reason) for r in rows] == [
        ("one", 0, 5, "budget"), ("two", 5, 8, "running")]


def test_family_table_first_last_change(tmp_path):
    from handhold.summary import family_table

    with RunStore.open(tmp_path) as s:
        s.log_metrics(200, {"eval/family/reasoning": 0.25, "eval/family/standard": 0.10})
        s.log_metrics(400, {"eval/family/reasoning": 0.55, "eval/family/standard": 0.05})
    console = Console(width=120, record=True)
    console.print(family_table(RunStore.reader(tmp_path)))
    text = console.export_text()
    assert "reasoning" in text and "0.250 @ 200" in text and "0.550 @ 400" in text and "+0.300" in text
    assert "-0.050" in text
