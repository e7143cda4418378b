"""The stage tracker: budgets in each unit and origin, readiness evidence, caps, the run's stop
rule, and a state_dict that resumes mid-stage with the same decisions."""

from __future__ import annotations

import pytest

from handhold.rules import RunStop, ThresholdRule, explain
from handhold.stages import StagePlan, StageTracker


def test_stage_budgets_count_from_the_stage_start():
    t = StageTracker([StagePlan("a", {"steps": 3}), StagePlan("b", {"tokens": 100}), StagePlan("c")])
    assert [t.after_step(s) for s in (1, 2)] == [None, None]
    d = t.after_step(3)
    assert (d.reason, d.evidence) == ("budget", {"steps": 3})
    assert t.advance(3).name == "b" and t.needs("tokens") and not t.needs("samples")
    assert t.after_step(4, tokens=60) is None  # the stage's tokens count from its start (0 here)
    d = t.after_step(5, tokens=100)
    assert d.evidence == {"tokens": 100}
    t.advance(5, tokens=100)
    assert t.stage.name == "c" and t.describe() == {"index": 2, "until": {}}
    assert t.after_step(10_000, tokens=10**9) is None  # no rule: the last stage never ends itself
    assert t.advance(10_000) is None and t.finished and t.after_step(10_001) is None


def test_run_origin_budgets_are_switch_points_on_the_totals():
    t = StageTracker([StagePlan("half", {"samples": 1000}, origin="run"), StagePlan("all")])
    assert t.after_step(1, samples=600) is None
    d = t.after_step(2, samples=1200)
    assert d.evidence == {"switch_samples": 1000, "samples": 1200}


def test_readiness_evidence_carries_global_steps_and_the_cap_fires_without_an_eval():
    t = StageTracker([StagePlan("warm", {"steps": 10}),
                      StagePlan("focus", {"plateau": "eval/loss", "patience": 2, "max_steps": 100})])
    t.after_step(10)
    t.advance(10)
    assert t.metric == "eval/loss"
    seen = [t.after_eval(s, {"eval/loss": v}) for s, v in [(20, 3.0), (30, 2.0), (40, 2.1)]]
    assert seen == [None, None, None]
    assert t.after_eval(45, {"other": 1.0}) is None  # the rule's metric missing: no evidence
    d = t.after_eval(50, {"eval/loss": 2.05})
    assert d.reason == "plateau" and d.evidence["global_step"] == 50
    assert d.evidence["best_step"] == 20 and d.evidence["best_global_step"] == 30
    cap = StageTracker([StagePlan("x", {"threshold": "val/acc", "value": 0.9, "max_steps": 5})])
    assert cap.after_step(4) is None and cap.after_step(5).reason == "max_steps"


@pytest.mark.parametrize("cut", [1, 2, 3, 4])
def test_state_dict_resumes_with_the_same_decisions(cut):
    plans = [StagePlan("a", {"threshold": "acc", "value": 0.5, "evals": 2}), StagePlan("b", {"steps": 2})]
    evals = [(1, 0.6), (2, 0.4), (3, 0.7), (4, 0.8), (5, 0.1)]

    def play(t, items):
        out = []
        for step, acc in items:
            d = t.after_step(step) or t.after_eval(step, {"acc": acc})
            out.append(None if d is None else (d.reason, d.evidence.get("global_step")))
            if d is not None:
                t.advance(step)
        return out

    whole = play(StageTracker(plans), evals)
    first = StageTracker(plans)
    head = play(first, evals[:cut])
    resumed = StageTracker(plans)
    resumed.load_state_dict(first.state_dict())
    assert head + play(resumed, evals[cut:]) == whole
    assert whole[3] == ("threshold", 4) and whole[4] is None


def test_run_stop_budget_first_then_the_rule_after_its_patience():
    stop = RunStop(steps=100, rule=ThresholdRule("grok/val/acc", 0.99, direction="higher"), after_steps=5,
                   label="validation accuracy")
    t = StageTracker([StagePlan("only")], stop=stop)
    t.after_step(10)
    t.after_eval(10, {"grok/val/acc": 0.995})
    t.after_step(14)
    assert t.should_stop() is None
    t.after_eval(14, {"grok/val/acc": 0.2})  # a later dip does not undo "reached at step 10"
    t.after_step(15)
    d = t.should_stop()
    assert explain(d) == "validation accuracy >= 0.99 at step 10"
    b = StageTracker([StagePlan("only")], stop=RunStop(samples=512))
    b.after_step(3, samples=512)
    assert explain(b.should_stop()) == "budget spent (512 samples)"


def test_a_state_made_from_its_parts_resumes_mid_stage_with_the_detector():
    from handhold.stages import Counts, tracker_state

    plans = [StagePlan("a", {"steps": 4}), StagePlan("b", {"threshold": "acc", "value": 0.5, "evals": 2}),
             StagePlan("c", {"tokens": 100})]
    t = StageTracker(plans)
    t.load_state_dict(tracker_state(1, Counts(4, 40), detector={"history": [[2, 0.9]]}))
    assert t.stage.name == "b" and t.after_eval(7, {"acc": 0.8}).evidence["first_step"] == 2
    t.advance(7, tokens=70)
    assert t.after_step(8, tokens=169) is None and t.after_step(9, tokens=170).evidence == {"tokens": 100}
    done = StageTracker(plans)
    done.load_state_dict(tracker_state(3, Counts(9, 170)))
    assert done.finished and done.after_step(10, tokens=10**6) is None


def test_an_eval_at_the_step_a_later_stage_started_is_no_evidence_for_it():
    """A framework that evaluates after its step hook ended the previous stage hands the tracker
    that eval; the new stage decides as if it came before the switch (handhold's loop order)."""
    def play(eval_at_switch):
        t = StageTracker([StagePlan("a", {"steps": 8}), StagePlan("b", {"plateau": "acc", "patience": 1})])
        out = []
        for step in range(1, 25):
            d = t.after_step(step)
            if d is None and step % 4 == 0:
                d = t.after_eval(step, {"acc": min(step, 12) / 12})
            if d is not None:
                out.append((step, d.reason, d.evidence.get("evals")))
                t.advance(step)
                if eval_at_switch and step % 4 == 0:
                    assert t.after_eval(step, {"acc": step / 12}) is None
        return out

    assert play(True) == play(False) == [(8, "budget", None), (16, "plateau", 2)]
    first = StageTracker([StagePlan("a", {"threshold": "acc", "value": 0.5})])
    assert first.after_eval(0, {"acc": 0.9}).reason == "threshold"  # the first stage: an eval before any step counts


def test_cap_on_eval_judges_max_steps_at_the_rules_evals_after_the_rule():
    plan = [StagePlan("x", {"threshold": "acc", "value": 0.9, "max_steps": 7}), StagePlan("y")]
    t = StageTracker(plan, cap_on_eval=True)
    assert t.after_step(8) is None  # past the cap, but no eval yet: the stage goes on
    d = t.after_eval(10, {"acc": 0.5})
    assert (d.reason, d.evidence["max_steps"], d.evidence["global_step"]) == ("max_steps", 7, 10)
    both = StageTracker(plan, cap_on_eval=True)
    assert both.after_eval(10, {"acc": 0.95}).reason == "threshold"  # the rule first, where both hold
    assert StageTracker(plan, cap_on_eval=True).after_eval(10, {"other": 1.0}) is None  # no evidence, no cap
