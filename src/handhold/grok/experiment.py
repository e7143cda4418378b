"""Variants x seeds: run every (variant, seed) into its own run store, then compare from the stores.

An experiment directory holds ``experiment.json`` (the resolved config and the comparison) and
one run directory per run, ``<variant>-s<seed>``, each a handhold run store (``handhold runs DIR``
lists them, ``handhold report DIR/<run>`` reports one). Runs go seed by seed (every variant at
seed 0, then seed 1, ...) so that a cut-short experiment still compares every variant. A finished
run whose spec, seed and code version match is reused, so rerunning a command only trains what is
missing; each row of the comparison names the code version behind it (``lineage``).

Statistics per variant over seeds: the median of steps (and samples) to 95% and 99% validation
accuracy, with a percentile-bootstrap 95% interval of the median (seeds resampled 2000 times);
a run that never got there counts as +infinity (it is censored at the budget), so a median or
an interval end that is +infinity is reported as ``null``/"never".
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np

from ..provenance import code_version
from ..runstore.db import RunStore
from .batched import batched_unsupported
from .config import GrokConfig, RunSpec
from .lineage import Verdict, reuse_verdict, versions_label
from .mechanisms import used
from .sweep import Unit, execute

N_BOOT = 2000


def run_dir_for(exp_dir: Path, variant: str, seed: int) -> Path:
    return Path(exp_dir) / f"{variant}-s{seed}"


def run_experiment(cfg: GrokConfig, exp_dir: str | Path, *, seeds: int | None = None,
                   only: list[str] | None = None, reuse: bool = True,
                   log: Callable[[str], None] = lambda line: None, jobs: int = 1, executor: Any = None,
                   batched: bool = False, allow_other_code: bool = False) -> dict[str, Any]:
    """Train (or reuse) every run, write ``experiment.json`` and return the comparison.

    ``jobs`` > 1 trains on a local process pool, ``executor`` (a submitit executor) through submitit;
    ``batched`` trains the seeds of a variant together where the batched path supports it
    (``handhold.grok.batched``). A finished run is reused when its config, seed and code version
    match (``lineage.reuse_verdict``); ``allow_other_code`` also reuses runs of other code (flagged).
    """
    exp_dir = Path(exp_dir)
    specs = [s for s in cfg.runs() if only is None or s.variant in only]
    n_seeds = seeds or cfg.seeds
    exp_dir.mkdir(parents=True, exist_ok=True)
    total, done = len(specs) * n_seeds, 0
    code = code_version()
    todo: dict[str, list[int]] = {}
    for seed in range(n_seeds):  # seed by seed: a sweep cut short still compares every variant
        for spec in specs:
            d = run_dir_for(exp_dir, spec.variant, seed)
            verdict = reuse_verdict(d, spec.model_dump(mode="json"), seed, code,
                                    allow_other_code=allow_other_code) if reuse else Verdict(False, "--fresh")
            if verdict.reuse:
                done += 1
                log(f"[{done}/{total}] {spec.variant} s{seed}: finished earlier, reused"
                    + (f" ({verdict.reason})" if verdict.reason else ""))
                continue
            if verdict.reason.startswith("made by code"):
                log(f"{spec.variant} s{seed}: {verdict.reason}: retrained (--reuse-other-code keeps it)")
            todo.setdefault(spec.variant, []).append(seed)
    by_name = {s.variant: s for s in specs}
    units = plan_units(by_name, todo, exp_dir, batched=batched, log=log)
    for d in (d for u in units for d in u.run_dirs):
        if d.exists():
            shutil.rmtree(d)
    errors: list[BaseException] = []
    for unit, results, exc in execute(units, jobs=jobs, executor=executor):
        if exc is not None:
            errors.append(exc)
            log(f"{unit.label}: failed: {type(exc).__name__}: {exc}")
            continue
        for r in results or []:
            done += 1
            v99 = r["steps_to"]["val99"]
            log(f"[{done}/{total}] {r['variant']} s{r['seed']}: "
                + (f"val 99% at step {v99:,} ({r['samples_to']['val99']:,} samples)" if v99 is not None
                   else f"no val 99% within {r['steps']:,} steps (final val acc {r['final_val_acc']:.3f})")
                + f", memorised at {r['memorization_step']}, {r['seconds']:.1f} s")
    if errors:
        raise errors[0]
    summary = summarize(exp_dir, specs, n_seeds, baselines=cfg.baselines())
    summary["config"] = cfg.model_dump(mode="json")
    (exp_dir / "experiment.json").write_text(json.dumps(summary, indent=1))
    return summary


def plan_units(specs: dict[str, RunSpec], todo: dict[str, list[int]], exp_dir: Path, *, batched: bool,
               log: Callable[[str], None] = lambda line: None) -> list[Unit]:
    """One unit per run; with ``batched``, one unit per variant holding all its seeds when the
    batched path supports the variant (else one per run, and the log says why)."""
    units: list[Unit] = []
    for name, seeds in todo.items():
        spec = specs[name]
        why = batched_unsupported(spec) if batched and len(seeds) > 1 else "one seed"
        if batched and len(seeds) > 1 and why:
            log(f"{name}: seeds run one by one ({why})")
        if batched and len(seeds) > 1 and not why:
            units.append(Unit(spec.model_dump(mode="json"), seeds, [run_dir_for(exp_dir, name, s) for s in seeds],
                              f"{name} s{seeds[0]}..s{seeds[-1]} (batched)"))
        else:
            units += [Unit(spec.model_dump(mode="json"), [s], [run_dir_for(exp_dir, name, s)], f"{name} s{s}")
                      for s in seeds]
    units.sort(key=lambda u: u.seeds[0])  # seed-major, as before
    return units


def summarize(exp_dir: Path, specs: list[RunSpec], seeds: int, *, baselines: Collection[str] = ()) -> dict[str, Any]:
    """The comparison, read from the run stores (``meta['grok']`` of each finished run); each
    variant is compared with the baseline of its task among ``baselines`` (``GrokConfig.baselines``)."""
    variants = []
    all_codes = []
    for spec in specs:
        results, codes = [], []
        for seed in range(seeds):
            d = run_dir_for(exp_dir, spec.variant, seed)
            with RunStore.reader(d) as store:
                results.append({**store.get_meta("grok"), "grokking": grokking_of_store(store)})
                codes.append(store.get_meta("code_version"))
        variants.append(variant_stats(spec, list(range(seeds)), results))
        variants[-1]["baseline"] = spec.variant in baselines
        variants[-1]["code"] = versions_label(codes)  # the code behind the row ("mixed: ..." if several)
        all_codes += codes
    _speedups(variants)
    return {"name": specs[0].experiment if specs else "", "dir": str(exp_dir), "seeds": seeds,
            "code": versions_label(all_codes) if all_codes else None,
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
    s95 = col(lambda r: r["samples_to"]["val95"])
    mem = col(lambda r: r["memorization_step"])
    delay = [None if a is None or m is None else a - m for a, m in zip(v99, mem)]
    med99, ci99 = median_ci(v99)
    med95, ci95_95 = median_ci(v95)
    meds99, cis99 = median_ci(s99)
    meds95, cis95 = median_ci(s95)
    return {
        "name": spec.variant, "description": spec.description,
        "task": {"ops": spec.task.ops, "p": spec.task.p, "train_frac": spec.task.train_frac},
        "curriculum": spec.curriculum.kind if spec.curriculum else None,
        "switch": (None if spec.curriculum is None else "ready" if spec.curriculum.switch.until else "fixed"),
        "grokfast": spec.grokfast.kind if spec.grokfast else None,
        "mechanisms": [m.key for m in used(spec)],
        "seeds": seeds,
        "steps_to_val99": v99, "median_steps_to_val99": med99, "ci95": ci99,
        "steps_to_val95": v95, "median_steps_to_val95": med95, "ci95_val95": ci95_95,
        "samples_to_val99": s99, "median_samples_to_val99": meds99, "ci95_samples": cis99,
        "samples_to_val95": s95, "median_samples_to_val95": meds95, "ci95_samples_val95": cis95,
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
    """``vs_baseline``: the declared baseline on the same task (the row with ``baseline`` true),
    and the ratio of the medians (baseline / variant: above 1 is faster than the baseline).
    ``faster_seeds``: on how many seeds the variant reached 99% in fewer steps than the baseline
    did at the same seed (same split, same initialisation: a paired comparison; never counts as
    infinite, so never vs never is a tie)."""
    plain = {}
    for v in variants:
        if v["baseline"]:
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
