"""Exit rules: threshold on its own, both rules' shared decision shape, and threshold in a real run."""

from __future__ import annotations

import json

import pytest

from handhold.config import ConfigError, validate_config
from handhold.rules import (REASONS, PlateauDetector, PlateauRule, ThresholdDetector, ThresholdRule, cap,
                            detector, rule_from_until)


def first_fire(det, values, every=10):
    for i, v in enumerate(values, start=1):
        d = det.update(i * every, v).decide()
        if d is not None:
            return i * every, d
    return None, None


def test_threshold_needs_n_evals_in_a_row_and_reads_direction_from_the_name():
    acc = [0.5, 0.95, 0.7, 0.92, 0.93, 0.96, 0.99]
    step, d = first_fire(ThresholdDetector(ThresholdRule("eval/acc", 0.9, evals=3)), acc)
    assert step == 60 and d.reason == "threshold" and d.reason in REASONS
    assert (d.evidence["op"], d.evidence["streak"], d.evidence["first_step"], d.evidence["last"]) == (">=", 3, 40, 0.96)
    loss = [3.0, 1.0, 0.4, 0.3]
    step, d = first_fire(ThresholdDetector(ThresholdRule("eval/loss/x", 0.5)), loss)
    assert step == 30 and d.evidence["op"] == "<="
    step, _ = first_fire(ThresholdDetector(ThresholdRule("eval/acc", 0.9, min_steps=55)), [0.95] * 10)
    assert step == 60
    assert first_fire(ThresholdDetector(ThresholdRule("eval/acc", 0.9, evals=2)), [0.95, float("nan"), 0.2]) == (None, None)


def test_both_rules_checkpoint_and_cap_the_same_way():
    for rule, values in [(ThresholdRule("eval/acc", 0.9, evals=2, max_steps=40), [0.95, 0.5, 0.95, 0.96]),
                         (PlateauRule("eval/loss", patience=2, max_steps=40), [3.0, 2.0, 2.1, 2.05])]:
        whole = detector(rule)
        decisions = [whole.update(i, v).decide() for i, v in enumerate(values)]
        half = detector(rule)
        for i, v in enumerate(values[:2]):
            half.update(i, v)
        resumed = detector(rule)
        resumed.load_state_dict(json.loads(json.dumps(half.state_dict())))
        assert [resumed.update(i, v).decide() for i, v in enumerate(values) if i >= 2] == decisions[2:]
        assert decisions[-1] is not None and decisions[-2] is None
        assert cap(half, 39) is None
        capped = cap(half, 40)
        assert capped.reason == "max_steps" and capped.evidence["rule"] == rule.__class__.__name__[:-4].lower()


def test_until_mappings_become_rules():
    r = rule_from_until({"threshold": "grok/stage/acc", "value": 0.99, "evals": 3, "max_steps": 100})
    assert r == ThresholdRule("grok/stage/acc", 0.99, evals=3, max_steps=100)
    assert isinstance(detector(rule_from_until({"plateau": "eval/loss", "max_steps": 5})), PlateauDetector)
    assert rule_from_until({"steps": 4}) is None


BASE = {"name": "a", "mix": {"general": 1}}


@pytest.mark.parametrize("until, message", [
    ({"threshold": "eval/acc", "max_steps": 10}, "needs value"),
    ({"threshold": "eval/acc", "value": 0.9}, "needs max_steps"),
    ({"steps": 10, "value": 0.9}, "value: only used by a readiness rule (threshold: METRIC)"),
    ({"plateau": "eval/acc", "evals": 2, "max_steps": 10}, "evals: only used by a readiness rule"),
    ({"threshold": "eval/widgets", "value": 1, "max_steps": 10}, "set mode: min or max"),
])
def test_threshold_config_errors_name_the_rule(until, message):
    with pytest.raises(ConfigError) as err:
        validate_config({"stages": [{**BASE, "until": until}]})
    assert "stages[0].until" in str(err.value) and message in str(err.value)


def test_threshold_config_defaults_and_schedule():
    cfg = validate_config({"stages": [{**BASE, "until": {"threshold": "eval/acc", "value": 0.9, "max_steps": 70}}]})
    u = cfg.stages[0].until
    assert (u.evals, u.min_steps, u.mode) == (1, 0, "auto") and cfg.schedule_steps() == 70


def test_real_run_ends_a_stage_on_threshold(tiny_config, tmp_path):
    from handhold.config import load_config
    from handhold.runstore.db import RunStore
    from handhold.train.events import Callback
    from handhold.train.runner import start

    class Scripted(Callback):
        def on_eval(self, state):
            state.log({"eval/scripted/acc": state.curriculum.progress.steps / 20})

    until = {"threshold": "eval/scripted/acc", "value": 0.5, "evals": 2, "max_steps": 40}
    cfg = load_config(tiny_config(), ["stages.0.until=" + json.dumps(until), "stages.1.until.steps=4",
                                      "eval.every=4", "checkpoint.every=100"])
    start(cfg, tmp_path / "run", progress=False, callbacks=[Scripted()])
    ends = RunStore.reader(tmp_path / "run").events("stage_end")
    # acc = steps/20 reaches 0.5 at step 12 (eval at 12 and 16): fires at the second eval
    assert (ends[0].step, ends[0].data["reason"]) == (16, "threshold")
    assert ends[0].data["evidence"]["streak"] == 2 and ends[0].data["evidence"]["global_step"] == 16
