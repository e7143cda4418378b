"""The leading indicator's re-fit (benchmarks/grok_indicator.py --fit-seeds): thresholds chosen on
some seeds' runs, judged on the others. Synthetic runs with a known truth: generalizing runs whose
embedding concentrates strongly (Gini +0.3) after the weight norm falls, and runs that never
generalize whose Gini creeps up by 0.05 while decay shrinks the norm."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

from handhold.runstore.db import RunStore

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "grok_indicator.py"


def _script():
    spec = importlib.util.spec_from_file_location("grok_indicator", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(seed: int, generalizes: bool) -> dict:
    rng = np.random.default_rng(seed)
    steps = np.arange(0, 5001, 100, dtype=float)
    peak = 1000 + 100 * rng.integers(0, 5)
    norm = np.where(steps <= peak, 30 + 10 * steps / peak, 40 - 8 * np.minimum(1, (steps - peak) / 1500))
    rise = 0.3 if generalizes else 0.05
    gini = 0.1 + rise * np.clip((steps - peak) / 1000, 0, 1) + rng.normal(0, 0.002, steps.size)
    grok = peak + 1800
    val = np.where(steps >= grok, 1.0, 0.05) if generalizes else np.full(steps.size, 0.05)
    series = {"grok/measure/weight_norm": (steps, norm), "grok/measure/gini_embed": (steps, gini),
              "grok/val/acc": (steps, val), "grok/train/acc": (steps, np.ones(steps.size))}
    return {"run": f"{'pos' if generalizes else 'neg'}-s{seed}", "series": series, "seed": seed,
            "meta": {"memorization_step": 200, "steps": 5000, "final_val_acc": float(val[-1])}}


def test_refit_avoids_the_false_alarms_its_seeds_show_and_keeps_them_off_held_out_seeds():
    mod = _script()
    runs = [_run(s, g) for s in range(10) for g in (True, False)]
    loose = mod.IndicatorRule(norm_drop=0.02, gini_rise=0.02, confirm=1)
    assert mod.summarize([mod.evaluate(r, loose) for r in runs])["false_alarms"] == 10  # a bad rule alarms
    rule, on_fit = mod.fit_rule([r for r in runs if r["seed"] < 5])
    assert on_fit["false_alarms"] == 0 and on_fit["missed_or_late"] == 0
    assert rule.gini_rise > 0.05  # above what the never-generalizing runs reach
    held = mod.summarize([mod.evaluate(r, rule) for r in runs if r["seed"] >= 5])
    assert held["false_alarms"] == 0 and held["announced_before_val95"] == 5
    assert held["lead_median"] > 0


def _store(run_dir: Path, run: dict, with_measures: bool) -> None:
    with RunStore.open(run_dir) as store:
        for key, (steps, values) in run["series"].items():
            if with_measures or not key.startswith("grok/measure/"):
                store.append_metric_rows([(int(s), key, float(v), 0.0) for s, v in zip(steps, values)])
        store.set_meta("grok", run["meta"])
        store.set_meta("status", "finished")


def test_runs_without_progress_measures_are_left_out_not_counted_as_misses(tmp_path):
    mod = _script()
    cell = tmp_path / "cell"
    for seed in range(4):  # seeds 0-1 recorded the measures, seeds 2-3 ran with measure off
        _store(cell / f"baseline-s{seed}", _run(seed, True), with_measures=seed < 2)
    out = tmp_path / "indicator.json"
    assert mod.main([str(cell), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert sorted(result["unmeasured_runs"]) == ["cell/baseline-s2", "cell/baseline-s3"]
    assert [r["run"] for r in result["rows"]] == ["baseline-s0", "baseline-s1"]
    assert result["summary"]["all"]["missed_or_late"] == 0  # the unmeasured runs are not misses
