"""One suite per curve: ``handhold eval --benchmarks`` on a run whose procedural suite already
draws ``eval/family/*`` writes its scores as their own series (never joined to the run's, never
overwriting a training-time value), and the analysis reports no divergence from a join."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

import handhold

from handhold.cli import app
from handhold.config import load_config
from handhold.doc_scores import EVENT, read_events
from handhold.evals.suite_clash import SuiteClash, Target, choose_target
from handhold.phases import analyze_store
from handhold.runstore.db import RunStore
from handhold.train.runner import start

EVALS = {"tasks": [{"name": "g", "source": "general", "examples": 2, "metrics": ["exact_match"]},
                   {"name": "p", "source": "physics", "examples": 2, "metrics": ["answer_acc", "format"]}],
         "every": 4}


def _suite(tmp_path):
    mc = tmp_path / "bench" / "mc.json"
    mc.parent.mkdir()
    mc.write_text(json.dumps({"name": "toy_mc", "metrics": ["multiple_choice_grade"], "examples": [
        {"input": f"{a}+{a}?", "target_scores": {str(2 * a): 1, str(2 * a + 1): 0, str(a): 0}} for a in range(6)]}))
    gen = tmp_path / "bench" / "gen.json"
    gen.write_text(json.dumps({"name": "toy_gen", "examples": [
        {"input": f"Say {w}.", "target": [w]} for w in ("red", "blue", "green", "gold")]}))
    suite = tmp_path / "bench" / "toy.yaml"
    suite.write_text(yaml.safe_dump({"families": {"reasoning": ["mc.json"], "standard": ["gen.json"]}}))
    return suite


def test_eval_benchmarks_never_joins_the_procedural_family_curve(tiny_config, tmp_path):
    run = tmp_path / "run"
    assert start(load_config(tiny_config(evals=EVALS)), run, progress=False).status == "finished"
    with RunStore.reader(run) as store:
        before = {k: store.series(k) for k in ("eval/family/reasoning", "eval/family/standard")}
        # the procedural suite leaves its examples' scores too: they rebuild its family curves
        own = read_events(store.events(EVENT))
        assert own and {d.suite["name"] for d in own} == {"procedural"}
        for key, (steps, values) in before.items():
            for d in own:
                assert abs(d.value(key) - values[steps.index(d.step)]) < 1e-9
            lo, hi = own[-1].band(key)
            assert lo <= own[-1].value(key) <= hi
    assert all(len(s) >= 3 for s, _ in before.values())
    suite = _suite(tmp_path)
    runner = CliRunner()
    out = runner.invoke(app, ["eval", str(run), "--step", "20", "--benchmarks", str(suite)])
    assert out.exit_code == 0, out.output
    said = " ".join(out.output.split())
    assert "written as its own series under eval/toy/" in said and "--as NAME" in said  # renamed, and it says so
    with RunStore.reader(run) as store:
        # the run's own family curves are untouched: same steps, same values
        assert {k: store.series(k) for k in before} == before
        steps, values = store.series("eval/toy/family/reasoning")
        assert steps == [20] and values[0] is not None
        docs = [e for e in store.events(EVENT) if e.step == 20 and e.data["suite"]["name"] != "procedural"]
        assert len(docs) == 1 and docs[0].data["prefix"] == "eval/toy/"
        assert docs[0].data["suite"]["digest"] and docs[0].data["tasks"]["bigbench_toy_mc"]["ids"]
        doc = analyze_store(store)
    keys = {k for d in doc["divergences"] for k in (d["a"], d["b"])}
    assert not any(k.startswith("eval/toy/") for k in keys)  # no divergence drawn from the join
    # again at the same step, with the same suite: a re-score of that eval, still its own series
    again = runner.invoke(app, ["eval", str(run), "--step", "20", "--benchmarks", str(suite)])
    assert again.exit_code == 0, again.output
    with RunStore.reader(run) as store:
        assert store.series("eval/toy/family/reasoning")[0] == [20]


def _training_time_scores(tmp_path, digest="d1"):
    run = tmp_path / "live"
    with handhold.init(run) as live:  # a run whose in-loop benchmarks scored step 20
        for step, v in ((10, 0.1), (20, 0.3)):
            live.log({"eval/family/reasoning": v}, step=step)
            live.event(EVENT, step=step, suite={"name": "seed", "digest": digest}, prefix="eval/",
                       tasks={"arc": {"family": "reasoning", "ids": ["1", "2"], "scores": {"acc": [1, 0]},
                                      "members": [["acc", 0.25, "mean"]]}})
    return run


def test_same_suite_at_a_training_time_step_is_refused_never_overwritten(tmp_path):
    run = _training_time_scores(tmp_path)
    new = {"eval/family/reasoning": 0.9}
    with RunStore.reader(run) as store:
        with pytest.raises(SuiteClash, match=r"step 20 already has 1 score\(s\) of suite 'seed'.*--as NAME"):
            choose_target(store, new, 20, {"name": "seed", "digest": "d1"})
        # another step of the same suite continues its curve; --as keeps a clashing eval apart
        assert choose_target(store, new, 30, {"name": "seed", "digest": "d1"}) == Target("eval/", None)
        assert choose_target(store, new, 20, {"name": "seed", "digest": "d1"}, "again").prefix == "eval/again/"
        # another suite (other documents) on the same keys: renamed to its own name, and said
        target = choose_target(store, new, 30, {"name": "seed", "digest": "d2"})
        assert target.prefix == "eval/seed/" and "own series" in target.note
        with pytest.raises(SuiteClash, match="give a name"):
            choose_target(store, new, 30, {"name": "seed", "digest": "d2"}, " / ")
