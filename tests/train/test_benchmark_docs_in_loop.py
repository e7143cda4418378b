"""Benchmarks in the loop leave their documents behind: every eval writes a ``benchmark_docs``
event naming its suite (the same digest at every eval: the same documents), so the analysis
tests changes paired, the report draws a 95% band under each benchmark curve and prints the
per-stage changes and the essay's table."""

from __future__ import annotations

import json

import yaml

from handhold.config import load_config
from handhold.doc_scores import EVENT, by_key, read_events
from handhold.phases import analyze_store
from handhold.runstore.db import RunStore
from handhold.train.runner import start
from handhold.views.report import build_figures, write_report


def _suite(tmp_path):
    mc = tmp_path / "bench" / "mc.json"
    mc.parent.mkdir()
    mc.write_text(json.dumps({"name": "toy_mc", "metrics": ["multiple_choice_grade"], "examples": [
        {"input": f"{a}+{a}?", "target_scores": {str(2 * a): 1, str(2 * a + 1): 0}} for a in range(10)]}))
    gen = tmp_path / "bench" / "gen.json"
    gen.write_text(json.dumps({"name": "toy_gen", "examples": [
        {"input": f"Say {w}.", "target": [w]} for w in ("red", "blue", "green", "gold", "pink")]}))
    suite = tmp_path / "bench" / "toy.yaml"
    suite.write_text(yaml.safe_dump({"families": {"reasoning": ["mc.json"], "standard": ["gen.json"]}}))
    return suite


def test_every_benchmark_eval_records_its_suite_and_documents(tiny_config, tmp_path):
    stages = [{"name": "general", "mix": {"general": 1.0}, "until": {"steps": 12}},
              {"name": "physics", "mix": {"physics": 0.75, "general": 0.25}, "until": {"steps": 12}},
              {"name": "general-again", "mix": {"general": 1.0}, "until": {"steps": 8}}]  # the essay's shape
    cfg = load_config(tiny_config(stages=stages, evals={"benchmarks": {"tasks": str(_suite(tmp_path)), "limit": 8,
                                                                       "every": 4, "cot_limit": 0}}))
    run = tmp_path / "run"
    assert start(cfg, run, progress=False).status == "finished"
    with RunStore.reader(run) as store:
        docs = read_events(store.events(EVENT))
        assert len(docs) >= 4 and len({d.suite["digest"] for d in docs}) == 1  # one suite, the same documents
        first = docs[0]
        assert first.tasks["bigbench_toy_mc"].n == 8 and first.tasks["bigbench_toy_gen"].n == 5
        # the stored documents rebuild the stored means exactly
        for key in ("eval/family/reasoning", "eval/bigbench_toy_mc/acc_raw", "eval/category/standard/bigbench_toy_gen"):
            steps, values = store.series(key)
            assert abs(first.value(key) - values[steps.index(first.step)]) < 1e-9
            lo, hi = first.band(key)
            assert lo <= first.value(key) <= hi
        assert "eval/family/reasoning" in by_key(docs)
        doc = analyze_store(store)
        figures = build_figures(store)
    changes = [c for c in doc["benchmark_changes"] if c["key"] == "eval/family/reasoning"]
    assert [c["stage"] for c in changes] == ["general", "physics", "general-again"]
    assert all(c["n_docs"] == 8 for c in changes)
    assert [e["row"] for e in doc["essay"]] == ["mastery", "shock", "families", "self_report"]
    bands = [t for f in figures for t in f.data if (t.name or "").endswith("95% band")]
    assert any(t.name.startswith("eval/family/reasoning") for t in bands)
    page = write_report(run).read_text(encoding="utf-8")
    assert "<h2>Readings</h2>" in page and "the essay&#x27;s quick reference" in page
