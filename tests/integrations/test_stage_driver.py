"""The stage driver the Trainer and Lightning callbacks share: token budgets counted on the rows
trained, stage changes from the next row drawn, and checkpoints in both of its formats."""

from __future__ import annotations

import json

from handhold.integrations.dataset import CurriculumDataset
from handhold.integrations.stage_driver import StageDriver, tracker_state_of_callback
from handhold.models import char_tokenizer

STAGES = [{"name": "a", "mix": {"general": 1.0}, "until": {"tokens": 300}},
          {"name": "b", "mix": {"physics": 1.0},
           "until": {"threshold": "eval/acc", "value": 0.5, "evals": 2, "max_steps": 50}},
          {"name": "c", "mix": {"general": 1.0}, "until": {"steps": 4}}]


def driver():
    return StageDriver(CurriculumDataset({"seed": 1, "stages": STAGES, "train": {"seq_len": 64}}, char_tokenizer()))


def test_a_token_budget_counts_the_rows_trained_and_the_next_stage_starts_at_the_next_row():
    d = driver()
    rows = iter(d.dataset)
    drawn = [next(rows) for _ in range(40)]  # the loader draws ahead of training
    trained = next(n for n in range(1, 41) if d.dataset.tokens_at(n) is not None and d.dataset.tokens_at(n) >= 300)
    assert not d.after_step(1, trained - 1)
    assert not d.after_step(2, trained)
    assert d.tracker.stage.name == "b" and d.tracker.start.tokens == d.dataset.tokens_at(trained)
    assert {r["source"] for r in drawn} == {"general"}
    assert next(rows)["source"] == "physics"  # the switch applies from the next row drawn


def test_callback_stage_numbers_convert_to_the_trackers_state():
    state = tracker_state_of_callback({"stage": 1, "stage_step": 8, "stage_tokens": 900,
                                       "detector": {"history": [[2, 0.7]]}, "done": False}, 3)
    d = driver()
    d.tracker.load_state_dict(state)
    assert (d.tracker.stage.name, d.tracker.start.steps, d.tracker.start.tokens) == ("b", 8, 900)
    assert d.after_eval(12, {"eval/acc": 0.6}, 0) is False and d.tracker.stage.name == "c"  # streak of 2
    done = tracker_state_of_callback({"stage": 2, "stage_step": 20, "stage_tokens": 0, "detector": None,
                                      "done": True}, 3)
    d.tracker.load_state_dict(done)
    assert d.tracker.finished and d.after_step(30, 0) is False


def test_the_driver_restores_both_of_its_checkpoint_formats():
    a = driver()
    rows = iter(a.dataset)
    for _ in range(8):
        next(rows)
    assert a.dataset.tokens_at(8) >= 300 and not a.after_step(1, 8)  # stage a's tokens are spent: b from row 8
    saved = json.loads(json.dumps(a.state_dict(8)))
    expected = [next(rows) for _ in range(4)]
    assert {r["source"] for r in expected} == {"physics"}
    old = {"dataset": saved["dataset"], "callback": {"stage": 1, "stage_step": 1, "stage_tokens": a.dataset.tokens_at(8),
                                                      "detector": None, "done": False}}
    for form in (saved, old):
        b = driver()
        b.load_state_dict(form)
        assert (b.tracker.stage.name, b.tracker.start) == ("b", a.tracker.start) and b.dataset.row == 8
        again = iter(b.dataset)
        assert [next(again) for _ in range(4)] == expected
