"""Readiness: the online plateau rule, on its own and inside a real (tiny) training run."""

from __future__ import annotations

import math
import os

import pytest

from handhold.config import ConfigError, validate_config
from handhold.rules import PlateauDetector, PlateauRule
from handhold.train.events import Callback

os.environ.setdefault("OMP_NUM_THREADS", "1")


def replay(rule: PlateauRule, values: list[float], every: int = 10) -> int | None:
    """The stage step at which the detector first fires, feeding one eval at a time."""
    det = PlateauDetector(rule)
    for i, v in enumerate(values, start=1):
        if det.update(i * every, v).predict() is not None:
            return i * every
    return None


@pytest.mark.parametrize("noise", [0.0, 0.01])
def test_fires_within_patience_plus_one_eval_of_the_plateau(noise):
    import numpy as np

    rng = np.random.default_rng(0)
    plateau_at = 200  # accuracy rises until step 200, then stays put
    values = [min(s, plateau_at) / plateau_at * 0.9 + noise * rng.standard_normal()
              for s in range(10, 1001, 10)]
    fired = replay(PlateauRule("eval/acc", patience=3, min_delta=0.03), values)
    assert fired is not None and plateau_at < fired <= plateau_at + (3 + 1) * 10


def test_never_fires_on_a_still_rising_metric():
    rising = [1 - math.exp(-s / 3000) for s in range(10, 2001, 10)]  # slowing, but still rising
    assert replay(PlateauRule("eval/acc", patience=3), rising) is None
    falling = [5.0 / math.sqrt(s) for s in range(10, 2001, 10)]  # a power-law loss, still falling
    assert replay(PlateauRule("eval/loss/physics", patience=3), falling) is None


def test_min_steps_holds_the_rule_back_and_direction_comes_from_the_name():
    flat = [1.0] * 50
    assert replay(PlateauRule("eval/loss", patience=2, min_steps=300), flat) == 300
    assert PlateauDetector(PlateauRule("eval/loss")).direction == "lower"
    assert PlateauDetector(PlateauRule("eval/physics/answer_acc")).direction == "higher"
    with pytest.raises(ValueError, match="set mode: min or max"):
        PlateauDetector(PlateauRule("eval/widgets"))


def test_history_round_trips_so_a_resumed_run_decides_the_same():
    rule = PlateauRule("eval/loss", patience=2)
    values = [3.0, 2.0, 1.5, 1.49, 1.6, 1.55, 1.7]
    whole = PlateauDetector(rule)
    decisions = [whole.update(i, v).predict() for i, v in enumerate(values)]
    half = PlateauDetector(rule)
    for i, v in enumerate(values[:3]):
        half.update(i, v)
    resumed = PlateauDetector(rule)
    resumed.load_state_dict(__import__("json").loads(__import__("json").dumps(half.state_dict())))
    assert [resumed.update(i, v).predict() for i, v in enumerate(values) if i >= 3] == decisions[3:]


BASE = {"stages": [{"name": "a", "mix": {"general": 1}, "until": None}]}


@pytest.mark.parametrize("until, message", [
    ({"plateau": "eval/loss/general"}, "needs max_steps"),
    ({"plateau": "eval/widgets", "max_steps": 10}, "set mode: min or max"),
    ({"steps": 10, "patience": 2}, "patience: only used by a readiness rule"),
    ({"steps": 10, "plateau": "eval/loss/general", "max_steps": 10}, "give exactly one budget"),
    ({"plateau": "eval/loss/general", "max_steps": 10, "min_steps": 10}, "must be below max_steps"),
    ({"plateau": "eval/loss/general", "max_steps": 10, "patience": 0}, "greater than 0"),
])
def test_config_errors_name_the_rule(until, message):
    with pytest.raises(ConfigError) as err:
        validate_config({"stages": [{**BASE["stages"][0], "until": until}]})
    assert "stages[0].until" in str(err.value) and message in str(err.value)


def test_config_defaults_and_schedule_counts_max_steps():
    cfg = validate_config({"stages": [
        {"name": "a", "mix": {"general": 1}, "until": {"steps": 100}},
        {"name": "b", "mix": {"general": 1}, "until": {"plateau": "eval/x", "mode": "max", "max_steps": 500}}]})
    until = cfg.stages[1].until
    assert (until.patience, until.min_steps, until.min_delta, until.mode) == (3, 0, 0.0, "max")
    assert cfg.schedule_steps() == 600


# ------------------------------------------------------------------ real tiny runs
class Scripted(Callback):
    """Logs ``eval/scripted/acc`` at every eval: ``curve(stage step)`` — a metric whose plateau
    we know, measured by the real loop at its real eval points."""

    def __init__(self, curve):
        self.curve = curve

    def on_eval(self, state):
        state.log({"eval/scripted/acc": self.curve(state.curriculum.progress.steps)})


def tiny_run(tiny_config, tmp_path, curve, until):
    from handhold.config import load_config
    from handhold.runstore.db import RunStore
    from handhold.train.runner import start

    cfg = load_config(tiny_config(), ["stages.0.until=" + __import__("json").dumps(until),
                                      "stages.1.until.steps=4", "eval.every=4", "checkpoint.every=100"])
    start(cfg, tmp_path / "run", progress=False, callbacks=[Scripted(curve)])
    store = RunStore.reader(tmp_path / "run")
    return [e for e in store.events("stage_end")], store


def test_real_run_advances_on_plateau_at_the_right_time(tiny_config, tmp_path):
    plateau_at, patience, every = 24, 2, 4
    ends, store = tiny_run(tiny_config, tmp_path, lambda s: min(s, plateau_at) / plateau_at,
                           {"plateau": "eval/scripted/acc", "patience": patience, "max_steps": 200})
    first = ends[0]
    assert first.data["reason"] == "plateau"
    assert plateau_at < first.step <= plateau_at + (patience + 1) * every
    ev = first.data["evidence"]
    assert ev["best"] == 1.0 and ev["evals_since_best"] >= patience and ev["metric"] == "eval/scripted/acc"
    # the next stage started right there and ran its own 4 steps
    assert [e.step for e in store.events("stage_start")] == [0, first.step]
    assert ends[1].step == first.step + 4


def test_real_run_never_fires_on_a_rising_metric(tiny_config, tmp_path):
    ends, _ = tiny_run(tiny_config, tmp_path, lambda s: s / 1000,
                       {"plateau": "eval/scripted/acc", "patience": 2, "max_steps": 20})
    assert ends[0].data["reason"] == "max_steps" and ends[0].step == 20
    assert ends[0].data["evidence"]["evals_since_best"] == 0


def test_a_run_stopped_mid_stage_and_resumed_decides_identically(tiny_config, tmp_path):
    from handhold.config import load_config
    from handhold.runstore.db import RunStore
    from handhold.train.runner import resume, start

    until = {"plateau": "eval/scripted/acc", "patience": 3, "max_steps": 200}
    curve = lambda s: min(s, 20) / 20 + (0.001 if s % 8 == 0 else 0.0)  # noqa: E731 - a wobble on the plateau
    sets = ["stages.0.until=" + __import__("json").dumps(until), "stages.1.until.steps=4",
            "eval.every=4", "checkpoint.every=8"]
    start(load_config(tiny_config(), sets), tmp_path / "clean", progress=False, callbacks=[Scripted(curve)])
    # the same run, capped inside the readiness stage (after its best eval), then resumed to the end
    start(load_config(tiny_config(), [*sets, "train.max_steps=26"]), tmp_path / "cut", progress=False,
          callbacks=[Scripted(curve)])
    resume(tmp_path / "cut", progress=False, callbacks=[Scripted(curve)], overrides=["train.max_steps=null"])
    ends = [[(e.step, e.data["reason"], e.data["evidence"]) for e in RunStore.reader(tmp_path / r).events("stage_end")]
            for r in ("clean", "cut")]
    assert ends[0] == ends[1] and ends[0][0][1] == "plateau" and ends[0][0][0] > 26
