"""Variants x seeds: run every (variant, seed) into its own run store, then compare from the stores.

An experiment directory holds ``experiment.json`` (the resolved config and the comparison) and
one run directory per run, ``<variant>-s<seed>``, each a handhold run store (``handhold runs DIR``
lists them, ``handhold report DIR/<run>`` reports one). Runs go seed by seed (every variant at
seed 0, then seed 1, ...) so that a cut-short experiment still compares every variant. A finished
run whose spec and seed match is reused, so rerunning a command only trains what is missing.

Statistics per variant over seeds: the median of steps (and samples) to 95% and 99% validation
accuracy, with a percentile-bootstrap 95% interval of the median (seeds resampled 2000 times);
a run that never got there counts as +infinity (it is censored at the budget), so a median or
an interval end that is +infinity is reported as ``null``/"never".
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..store import RunStore, StoreError
from .config import GrokConfig, RunSpec
from .train import train_run

N_BOOT = 2000


def run_dir_for(exp_dir: Path, variant: str, seed: int) -> Path:
    return Path(exp_dir) / f"{variant}-s{seed}"


def _reusable(run_dir: Path, spec: RunSpec, seed: int) -> bool:
    try:
        with RunStore.reader(run_dir) as store:
            meta = store.meta()
    except StoreError:
        return False
    return (meta.get("status") == "finished" and meta.get("grok_seed") == seed
            and meta.get("grok_spec") == spec.model_dump(mode="json") and "grok" in meta)


def run_experiment(cfg: GrokConfig, exp_dir: str | Path, *, seeds: int | None = None,
                   only: list[str] | None = None, reuse: bool = True,
                   log: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Train (or reuse) every run, write ``experiment.json`` and return the comparison."""
    exp_dir = Path(exp_dir)
    specs = [s for s in cfg.runs() if only is None or s.variant in only]
    n_seeds = seeds or cfg.seeds
    exp_dir.mkdir(parents=True, exist_ok=True)
    total, done = len(specs) * n_seeds, 0
    for seed in range(n_seeds):
        for spec in specs:
            done += 1
            d = run_dir_for(exp_dir, spec.variant, seed)
            if reuse and _reusable(d, spec, seed):
                log(f"[{done}/{total}] {spec.variant} s{seed}: finished earlier, reused")
                continue
            if d.exists():
                shutil.rmtree(d)
            r = train_run(spec, seed, d)
            v99 = r.steps_to["val99"]
            log(f"[{done}/{total}] {spec.variant} s{seed}: "
                + (f"val 99% at step {v99:,} ({r.samples_to['val99']:,} samples)" if v99 is not None
                   else f"no val 99% within {r.steps:,} steps (final val acc {r.final_val_acc:.3f})")
                + f", memorised at {r.memorization_step}, {r.seconds:.1f} s")
    summary = summarize(exp_dir, specs, n_seeds)
    summary["config"] = cfg.model_dump(mode="json")
    (exp_dir / "experiment.json").write_text(json.dumps(summary, indent=1))
    return summary


def summarize(exp_dir: Path, specs: list[RunSpec], seeds: int) -> dict[str, Any]:
    """The comparison, read from the run stores (``meta['grok']`` of each finished run)."""
    variants = []
    for spec in specs:
        results = []
        for seed in range(seeds):
            d = run_dir_for(exp_dir, spec.variant, seed)
            with RunStore.reader(d) as store:
                results.append({**store.get_meta("grok"), "grokking": grokking_of_store(store)})
        variants.append(variant_stats(spec, list(range(seeds)), results))
    _speedups(variants)
    return {"name": specs[0].experiment if specs else "", "dir": str(exp_dir), "seeds": seeds,
            "targets": {"val95": 0.95, "val99": 0.99, "memorized_train_acc": 0.99}, "variants": variants}


def grokking_of_store(store: RunStore) -> dict[str, Any]:
    """Memorized / generalized / real delay of one run, by the definition ``handhold analyze`` uses
    (:mod:`handhold.phases.grokking`) on the same curves."""
    from ..phases.grokking import GrokkingDetector

    names = ("grok/train/acc", "grok/val/acc")
    det = GrokkingDetector("higher", accuracy=True, names=names)
    return det.fit(*store.series(names[0]), *store.series(names[1])).predict().to_dict()


def variant_stats(spec: RunSpec, seeds: list[int], results: list[dict[str, Any]]) -> dict[str, Any]:
    def col(f: Callable[[dict], Any]) -> list[Any]:
        return [f(r) for r in results]

    v99, v95 = col(lambda r: r["steps_to"]["val99"]), col(lambda r: r["steps_to"]["val95"])
    s99 = col(lambda r: r["samples_to"]["val99"])
    mem = col(lambda r: r["memorization_step"])
    delay = [None if a is None or m is None else a - m for a, m in zip(v99, mem)]
    med99, ci99 = median_ci(v99)
    med95, ci95_95 = median_ci(v95)
    meds99, cis99 = median_ci(s99)
    return {
        "name": spec.variant, "description": spec.description,
        "task": {"ops": spec.task.ops, "p": spec.task.p, "train_frac": spec.task.train_frac},
        "curriculum": spec.curriculum.kind if spec.curriculum else None,
        "switch": (None if spec.curriculum is None else "ready" if spec.curriculum.switch.ready else "fixed"),
        "grokfast": spec.grokfast.kind if spec.grokfast else None,
        "seeds": seeds,
        "steps_to_val99": v99, "median_steps_to_val99": med99, "ci95": ci99,
        "steps_to_val95": v95, "median_steps_to_val95": med95, "ci95_val95": ci95_95,
        "samples_to_val99": s99, "median_samples_to_val99": meds99, "ci95_samples": cis99,
        "generalized": sum(v is not None for v in v99) / len(v99) if v99 else 0.0,
        "memorization_step": mem, "median_memorization_step": median_ci(mem, n_boot=0)[0],
        "delay": delay, "median_delay": median_ci(delay, n_boot=0)[0],
        "grokked": col(lambda r: (r.get("grokking") or {}).get("grokked")),
        "steps": col(lambda r: r["steps"]), "samples": col(lambda r: r["samples"]),
        "final_val_acc": col(lambda r: r["final_val_acc"]),
        "seconds": round(sum(col(lambda r: r["seconds"])), 1),
    }


def median_ci(values: list[int | float | None], n_boot: int = N_BOOT, level: float = 0.95,
              seed: int = 0) -> tuple[float | None, list[float | None]]:
    """Median and percentile-bootstrap interval; ``None`` values count as +infinity.

    >>> median_ci([10, 20, None], n_boot=0)
    (20.0, [None, None])
    >>> median_ci([10, None, None], n_boot=0)[0] is None
    True
    """
    if not values:
        return None, [None, None]
    x = np.array([np.inf if v is None else float(v) for v in values])
    med = _finite(np.median(x))
    if n_boot <= 0:
        return med, [None, None]
    rng = np.random.default_rng(seed)
    boots = np.median(x[rng.integers(0, len(x), size=(n_boot, len(x)))], axis=1)
    lo = np.quantile(boots, (1 - level) / 2, method="lower")
    hi = np.quantile(boots, 1 - (1 - level) / 2, method="higher")
    return med, [_finite(lo), _finite(hi)]


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _speedups(variants: list[dict[str, Any]]) -> None:
    """``vs_baseline``: the plain variant on the same task, and the ratio of the medians
    (baseline / variant: above 1 is faster than the baseline). ``faster_seeds``: on how many seeds
    the variant reached 99% in fewer steps than the baseline did at the same seed (same split,
    same initialisation: a paired comparison; never counts as infinite, so never vs never is a tie)."""
    plain = {}
    for v in variants:
        if v["curriculum"] is None and v["grokfast"] is None:
            plain.setdefault(json.dumps(v["task"], sort_keys=True), v)
    for v in variants:
        base = plain.get(json.dumps(v["task"], sort_keys=True))
        v["vs_baseline"] = None if base is None or base is v else base["name"]
        a, b = (base or {}).get("median_steps_to_val99"), v["median_steps_to_val99"]
        v["speedup_steps"] = None if v["vs_baseline"] is None or not a or not b else round(a / b, 3)
        a, b = (base or {}).get("median_samples_to_val99"), v["median_samples_to_val99"]
        v["speedup_samples"] = None if v["vs_baseline"] is None or not a or not b else round(a / b, 3)
        v["faster_seeds"] = None if v["vs_baseline"] is None else sum(
            _inf(x) < _inf(y) for x, y in zip(v["steps_to_val99"], base["steps_to_val99"]))


def _inf(v: float | None) -> float:
    return float("inf") if v is None else v
