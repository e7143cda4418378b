"""One rule sequence through the four loops that train stages — handhold's trainer, the Hugging Face
Trainer callback, the Lightning callback and the grokking lab's use of the tracker — ends every
stage at the same step, for the same reason, with the same evidence.

The metric is scripted (a function of the step), so only handhold's own trainer trains (a tiny
model, for its real loop and eval points); the Trainer and Lightning callbacks get their hooks
called as their frameworks call them, with the metric in each framework's naming, and the lab
drives a :class:`~handhold.stages.StageTracker` as its loop does. Each run's store is read back.
"""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest

from handhold.runstore.db import RunStore

os.environ.setdefault("OMP_NUM_THREADS", "1")

EVERY = 4  # an eval every 4 steps, in every loop
METRIC = "eval/physics/acc"
STAGES = [
    {"name": "warm", "mix": {"general": 1.0}, "until": {"steps": 8}},
    {"name": "plateau", "mix": {"general": 0.5, "physics": 0.5},
     "until": {"plateau": METRIC, "patience": 2, "max_steps": 100}},
    {"name": "threshold", "mix": {"physics": 1.0},
     "until": {"threshold": METRIC, "value": 0.9, "evals": 2, "max_steps": 100}},
    {"name": "capped", "mix": {"physics": 1.0}, "until": {"threshold": METRIC, "value": 2.0, "max_steps": 6}},
    {"name": "tail", "mix": {"general": 1.0}, "until": {"steps": 3}},
]
# warm: 8 steps, ending where an eval falls (the Trainer and Lightning evaluate after their step
# hook ended it: that eval is no evidence for the next stage, as in handhold's loop, which evaluates
# first). plateau: the metric climbs to 0.5 at step 20 and stays: 2 evals later (28) it ends.
# threshold: 0.9 at step 32, 1.0 at 36: two evals in a row. capped: never 2.0, ends at 36 + 6 = 42.
# tail: 3 steps, and the last stage's end ends training at 45.
EXPECTED = [(8, "warm", "budget"), (28, "plateau", "plateau"), (36, "threshold", "threshold"),
            (42, "capped", "max_steps"), (45, "tail", "budget")]
MAX_STEPS = 60


def acc(step: int) -> float:
    if step <= 20:
        return step / 40
    if step <= 28:
        return 0.5
    return min(1.0, 0.5 + (step - 28) / 10)


def decisions(run_dir):
    store = RunStore.reader(run_dir)
    ends = [(e.step, e.data["stage"], e.data["reason"], e.data["evidence"]) for e in store.events("stage_end")]
    starts = [(e.step, e.data["stage"], e.data["index"], e.data["mix"], e.data["until"])
              for e in store.events("stage_start")]
    return ends, starts


def dataset():
    from handhold.integrations.dataset import CurriculumDataset
    from handhold.models import char_tokenizer

    return CurriculumDataset({"name": "four-loops", "seed": 0, "stages": STAGES, "train": {"seq_len": 64}},
                             char_tokenizer())


def handhold_trainer(tmp_path, tiny_config):
    from handhold.config import load_config
    from handhold.train.events import Callback
    from handhold.train.runner import start

    class Scripted(Callback):
        def on_eval(self, state):
            state.log({METRIC: acc(state.step)})

    cfg = load_config(tiny_config(), [f"stages={json.dumps(STAGES)}", f"eval.every={EVERY}",
                                      "checkpoint.every=1000", "checkpoint.keep=1"])
    start(cfg, tmp_path / "handhold", progress=False, callbacks=[Scripted()])
    return tmp_path / "handhold"


def hf_trainer(tmp_path):
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from handhold.integrations.hf import HandholdTrainerCallback

    args = TrainingArguments(output_dir=str(tmp_path / "hf-trainer"), max_steps=MAX_STEPS, per_device_train_batch_size=4,
                             logging_steps=2, report_to="none", use_cpu=True, dataloader_num_workers=0)
    state, control = TrainerState(), TrainerControl()
    cb = HandholdTrainerCallback(tmp_path / "hf", curriculum=dataset())
    cb.on_train_begin(args, state, control)
    for step in range(1, MAX_STEPS + 1):
        state.global_step = step
        cb.on_step_end(args, state, control)
        if step % EVERY == 0:  # the Trainer evaluates after on_step_end; its metrics are eval_-prefixed
            cb.on_evaluate(args, state, control, metrics={"eval_physics_acc": acc(step), "epoch": 0.0})
        if control.should_training_stop:
            break
    cb.on_train_end(args, state, control)
    return tmp_path / "hf", state.global_step


def lightning_trainer(tmp_path):
    pytest.importorskip("pytorch_lightning")
    from handhold.integrations.lightning import HandholdLightningCallback

    trainer = SimpleNamespace(global_step=0, world_size=1, log_every_n_steps=2, callback_metrics={},
                              sanity_checking=False, is_global_zero=True, should_stop=False)
    cb = HandholdLightningCallback(tmp_path / "pl", curriculum=dataset())
    cb.on_fit_start(trainer, None)
    for step in range(1, MAX_STEPS + 1):
        trainer.global_step = step
        trainer.callback_metrics = {**trainer.callback_metrics, "train_loss": 1.0 / step}
        cb.on_train_batch_end(trainer, None, None, {"input_ids": [[0]] * 4}, step - 1)
        if step % EVERY == 0:  # val_check_interval: validation after the training batch
            cb.on_validation_start(trainer, None)
            trainer.callback_metrics = {**trainer.callback_metrics, METRIC: acc(step)}
            cb.on_validation_end(trainer, None)
        if trainer.should_stop:
            break
    cb.on_fit_end(trainer, None)
    return tmp_path / "pl", trainer.global_step


def lab(tmp_path):
    """The lab's loop: per step a sample count, an eval every few steps, the tracker decides."""
    from handhold.config import validate_config
    from handhold.runstore.live import Run
    from handhold.stages import StagePlan, StageTracker

    tracker = StageTracker([StagePlan.of(s) for s in validate_config({"stages": STAGES}).stages])
    run = Run(tmp_path / "lab", name="lab", stages=[p.name for p in tracker.plans])
    run.stage(tracker.stage.name, step=0, **tracker.describe())
    for step in range(1, MAX_STEPS + 1):
        decision = tracker.after_step(step, samples=4 * step)
        if step % EVERY == 0:
            decision = decision or tracker.after_eval(step, {METRIC: acc(step), "grok/val/acc": 0.1})
        if decision is not None:
            run.stage_end(decision.reason, step=step, **decision.evidence)
            tracker.advance(step, samples=4 * step)
            if tracker.finished:
                break
            run.stage(tracker.stage.name, step=step, **tracker.describe())
    run.finish("finished")
    return tmp_path / "lab", step


def test_the_four_loops_end_every_stage_alike(tmp_path, tiny_config):
    hf, hf_steps = hf_trainer(tmp_path)
    pl, pl_steps = lightning_trainer(tmp_path)
    grok, lab_steps = lab(tmp_path)
    own = handhold_trainer(tmp_path, tiny_config)
    runs = {name: decisions(d) for name, d in [("handhold", own), ("hf", hf), ("lightning", pl), ("lab", grok)]}
    ends, starts = runs["handhold"]
    assert [(step, stage, reason) for step, stage, reason, _ in ends] == EXPECTED
    assert ends[1][3]["best_global_step"] == 20 and ends[1][3]["evals"] == 5  # 12 .. 28
    assert ends[2][3]["first_step"] == 32 - 28
    for name, (other_ends, other_starts) in runs.items():
        assert other_ends == ends, name
        assert other_starts == starts, name
    assert hf_steps == pl_steps == lab_steps == 45  # the last stage's end stopped each loop
    for d in (own, hf, pl):
        assert RunStore.reader(d).get_meta("stop_reason") == "curriculum complete"
