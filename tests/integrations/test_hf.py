"""The Hugging Face integration with a real tiny Trainer: stages end on readiness mid-train(),
per-source losses, and a killed + resumed run that matches an uninterrupted one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from handhold.runstore.db import RunStore

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import tiny_trainer  # noqa: E402


def test_a_stage_ends_on_readiness_during_train(tmp_path):
    trainer, cb = tiny_trainer.build(str(tmp_path), save_steps=100)
    trainer.train()
    s = RunStore.reader(tmp_path / "run")
    ends = [(e.step, e.data["stage"], e.data["reason"]) for e in s.events("stage_end")]
    assert ends == [(8, "general", "threshold"), (16, "physics", "budget")]
    assert s.events("stage_end")[0].data["evidence"]["streak"] == 2
    assert trainer.state.global_step == 16  # the curriculum ended the training, not max_steps=40
    assert s.get_meta("status") == "finished" and s.get_meta("stop_reason") == "curriculum complete"
    # per-source training loss: physics rows only after the switch; the eval loss per source is stored
    # in handhold's naming, so the stage table reads it
    assert s.series("train/loss/general")[0][0] == 2 and min(s.series("train/loss/physics")[0]) > 8
    assert s.series("eval/loss/general")[0] == [4, 8, 12, 16] and s.series("train/loss")[0][:2] == [2, 4]
    from handhold.summary import stage_table

    rows = stage_table(s)
    assert [(r.name, r.end_reason, r.steps) for r in rows] == [("general", "threshold", 8), ("physics", "budget", 8)]


def test_a_rule_on_a_metric_the_trainer_never_reports_is_a_clear_error(tmp_path):
    stages = [{**tiny_trainer.STAGES_READY[0], "until": {"threshold": "eval_widget_acc", "value": 0.5,
                                                          "max_steps": 30}}]
    trainer, _ = tiny_trainer.build(str(tmp_path), stages=stages, save_steps=100)
    with pytest.raises(ValueError, match="ends on 'eval_widget_acc', which the evaluate at step 4 did not "
                                         "report .it reported: epoch, eval_general_loss"):
        trainer.train()
    s = RunStore.reader(tmp_path / "run")
    assert s.get_meta("status") == "failed" and s.series("train/loss")[0] == [2, 4]  # nothing lost


def test_bad_trainer_arguments_are_named(tmp_path):
    trainer, _ = tiny_trainer.build(str(tmp_path))
    trainer.args.dataloader_num_workers = 2
    with pytest.raises(ValueError, match="dataloader_num_workers=2"):
        trainer.train()


@pytest.mark.slow
def test_a_killed_and_resumed_trainer_matches_an_uninterrupted_one(tmp_path):
    clean, _ = tiny_trainer.build(str(tmp_path / "clean"))
    clean.train()
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[1] / "src"), "OMP_NUM_THREADS": "1"}
    killed = subprocess.run([sys.executable, str(HERE / "tiny_trainer.py"), str(tmp_path / "cut"), "--kill-at", "12"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    from handhold.runstore.listing import run_info

    assert run_info(tmp_path / "cut" / "run").status == "crashed"
    resumed, _ = tiny_trainer.build(str(tmp_path / "cut"))
    resumed.train(resume_from_checkpoint=True)  # the latest checkpoint: step 10, in the second stage
    a, b = RunStore.reader(tmp_path / "clean" / "run"), RunStore.reader(tmp_path / "cut" / "run")
    for key in ("train/loss/general", "train/loss/physics", "eval/loss/physics", "train/loss"):
        sa, sb = a.series(key), b.series(key)
        assert sa[0] == sb[0] and sa[1] == pytest.approx(sb[1], rel=1e-5), key
    assert [(e.step, e.data["reason"]) for e in a.events("stage_end")] == \
           [(e.step, e.data["reason"]) for e in b.events("stage_end")]
    assert b.get_meta("status") == "finished" and [e.step for e in b.events("resume")] == [10]


def test_a_checkpoint_holding_the_callbacks_stage_numbers_still_resumes(tmp_path):
    """Trainer checkpoints whose curriculum file holds the callback's own stage numbers (``stage``,
    ``stage_step``, ``stage_tokens``, ``detector``, ``done``) resume in the same stage."""
    import json

    first, _ = tiny_trainer.build(str(tmp_path), max_steps=10)
    first.train()
    path = tmp_path / "trainer" / "checkpoint-10" / "handhold_curriculum.json"
    saved = json.loads(path.read_text())
    tracker = saved["tracker"]
    assert (tracker["index"], tracker["start"]["steps"]) == (1, 8)  # in the physics stage, since step 8
    path.write_text(json.dumps({"dataset": saved["dataset"], "callback": {
        "stage": 1, "stage_step": 8, "stage_tokens": tracker["start"]["tokens"], "detector": None, "done": False}}))
    resumed, _ = tiny_trainer.build(str(tmp_path))
    resumed.train(resume_from_checkpoint=True)
    s = RunStore.reader(tmp_path / "run")
    assert [(e.step, e.data["stage"], e.data["reason"]) for e in s.events("stage_end")] == [
        (8, "general", "threshold"), (16, "physics", "budget")]  # 8 steps of physics, counted from step 8
    assert resumed.state.global_step == 16 and [e.step for e in s.events("resume")] == [10]


def test_the_old_callback_name_still_works_and_warns_once(monkeypatch):
    import warnings

    from handhold.integrations import hf

    from handhold.integrations.stage_driver import renamed_callback

    monkeypatch.setattr(hf, "__getattr__", renamed_callback(hf.__name__, hf.HandholdTrainerCallback))  # not yet warned
    with pytest.warns(DeprecationWarning, match="use HandholdTrainerCallback"):
        assert hf.HandholdCallback is hf.HandholdTrainerCallback
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        from handhold.integrations.hf import HandholdCallback  # noqa: F401
    assert seen == []
    with pytest.raises(AttributeError):
        hf.NoSuchCallback


def _dataset(**kw):
    from handhold.integrations.hf import CurriculumDataset
    from handhold.models import char_tokenizer

    return CurriculumDataset({"seed": 3, "stages": tiny_trainer.STAGES_READY, "train": {"seq_len": 64}},
                             char_tokenizer(), **kw)


def test_dataset_state_round_trips_with_a_pending_stage_switch():
    a = _dataset()
    stream = iter(a)
    first = [next(stream) for _ in range(18)]
    a.advance()  # the switch takes effect from row 18, after a checkpoint at row 16
    rest = [next(stream) for _ in range(22)]
    assert {r["source"] for r in first} == {"general"} and "physics" in {r["source"] for r in rest}
    saved = a.state_at(16)
    b = _dataset()
    b.load_state_dict(__import__("json").loads(__import__("json").dumps(saved)))
    again = iter(b)
    assert [next(again) for _ in range(24)] == first[16:] + rest
    assert a.tokens_at(16) == sum(len(r["input_ids"]) for r in first[:16])


def test_dataset_shards_by_rank_like_the_main_loop():
    whole = iter(_dataset())
    rows = [next(whole) for _ in range(12)]
    shards = [iter(_dataset(rank=r, world_size=2)) for r in (0, 1)]
    assert [next(shards[0]) for _ in range(6)] == rows[0::2]
    assert [next(shards[1]) for _ in range(6)] == rows[1::2]
