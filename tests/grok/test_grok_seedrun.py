"""SeedRun, the per-seed bookkeeping both lab loops share: the curriculum as the stage tracker's
plan, the run's end as a RunStop with the lab's closing sentences, and the readiness cap judged
at eval checks only (as the lab always has)."""

import pytest

from handhold.grok.config import load_grok_config
from handhold.grok.curricula import build_stages
from handhold.grok.seedrun import run_stop, stage_plans
from handhold.grok.tasks import make_task
from handhold.grok.train import train_run
from handhold.rules import explain
from handhold.stages import StagePlan, StageTracker

BASE = {"task": {"ops": ["add"], "p": 7, "train_frac": 0.6}, "model": {"d_model": 16, "heads": 2, "d_mlp": 32},
        "train": {"budget": {"steps": 40}, "stop_at_val": None}, "eval": {"every": 5, "per_decade": 0},
        "measure": {"enabled": False}}


def spec(curriculum=None, **train):
    variant = {"name": "v", **({"curriculum": curriculum} if curriculum else {})}
    return load_grok_config(data={**BASE, "train": {**BASE["train"], **train}, "variants": [variant]}).runs()[0]


def test_fixed_switch_points_are_run_budgets_and_readiness_is_the_stages_rule():
    task = make_task("add", 7, 0.6, 0)
    fixed = spec({"kind": "easy_to_hard", "stages": 3, "switch": {"samples": [100, 300]}})
    plans = stage_plans(fixed, build_stages(fixed.curriculum, task, 0))
    assert [(p.name, dict(p.until), p.origin) for p in plans] == [
        ("easy", {"samples": 100}, "run"), ("medium", {"samples": 300}, "run"), ("hard", {}, "run")]
    assert plans[0].info["examples"] > 0
    ready = spec({"kind": "operand_subset", "switch": {"until": {"threshold": "grok/stage/acc", "value": 0.9,
                                                                                 "max_steps": 50}}})
    first, last = stage_plans(ready, build_stages(ready.curriculum, task, 0))
    assert (first.origin, first.until["threshold"], first.until["value"], last.until) == \
        ("stage", "grok/stage/acc", 0.9, {})


@pytest.mark.parametrize("train, totals, reason", [
    ({}, (40, 0), "budget spent (40 steps)"),
    ({"budget": {"steps": None, "samples": "4.8M"}}, (9, 4_800_000), "budget spent (4,800,000 samples)"),
])
def test_the_runs_budget_reads_as_the_lab_always_wrote_it(train, totals, reason):
    t = StageTracker([StagePlan("all")], stop=run_stop(spec(**train)))
    t.after_step(totals[0], samples=totals[1])
    assert explain(t.should_stop()) == reason


def test_the_stop_rule_waits_its_patience_and_names_the_step_it_first_held():
    t = StageTracker([StagePlan("all")], stop=run_stop(spec(stop_at_val=0.99, stop_patience=10)))
    t.after_eval(20, {"grok/val/acc": 0.995})
    t.after_step(29)
    assert t.should_stop() is None
    t.after_step(30)
    assert explain(t.should_stop()) == "validation accuracy >= 0.99 at step 20"


def test_the_readiness_cap_is_judged_at_eval_checks(tmp_path):
    never = {"kind": "random_subset", "switch": {"until": {"threshold": "grok/stage/acc", "value": 1.0,
                                                           "evals": 99, "max_steps": 27}}}
    r = train_run(spec(never), 0, tmp_path / "r")
    (switch,) = r.switches
    assert (switch["step"], switch["reason"]) == (30, "max_steps")  # the first check (every 5) past 27
    assert switch["evidence"]["max_steps"] == 27 and switch["evidence"]["global_step"] == 30
