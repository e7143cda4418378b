"""Sampling noise against a known truth: synthetic benchmark histories over the same documents,
one with a real 10-point paired improvement and one with pure resampling noise, at 32 and 500
documents. A change is called "rising" only where the truth is a rise, and the 95% intervals
(Wilson for an accuracy, the paired bootstrap for a change, the bootstrap for a centred family)
cover the truth at about their nominal rate. Seeded; 200+ draws each, a few seconds in all."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from handhold.doc_scores import DocScores, paired
from handhold.phases.analyze import analyze
from handhold.phases.noise import change_over
from handhold.stats import mcnemar, paired_mean_change, wilson

SIMS = 200
# joint probabilities of (correct before, correct after) for one document
REAL = {(1, 1): 0.55, (0, 1): 0.15, (1, 0): 0.05, (0, 0): 0.25}  # 0.60 -> 0.70: a real +10 points
NOISE = {(1, 1): 0.50, (0, 1): 0.10, (1, 0): 0.10, (0, 0): 0.30}  # 0.60 -> 0.60: resampling only
TRUTH = {"real": 0.10, "noise": 0.0}


def _pairs(rng, joint, n):
    cells = list(joint)
    pick = rng.choice(len(cells), size=n, p=[joint[c] for c in cells])
    arr = np.asarray(cells)[pick]
    return arr[:, 0].astype(float), arr[:, 1].astype(float)


def _event(step, tasks, digest="same"):
    """A ``benchmark_docs`` event: tasks = {name: (family, scores)} (4-way multiple choice)."""
    return DocScores(step, {"suite": {"name": "synthetic", "digest": digest}, "prefix": "eval/", "tasks": {
        name: {"family": fam, "ids": [str(i) for i in range(len(v))], "scores": {"acc": list(v)},
               "members": [["acc", 0.25, "mean"]]} for name, (fam, v) in tasks.items()}})


def reading(change) -> str:
    return ("rising" if change.change > 0 else "declining") if change.clears else "within noise"


@pytest.mark.parametrize("n", [32, 500])
@pytest.mark.parametrize("truth", ["real", "noise"])
def test_paired_change_says_rising_only_for_a_real_rise_and_covers_the_truth(truth, n):
    rng = np.random.default_rng(1000 + n + (truth == "real"))
    joint = REAL if truth == "real" else NOISE
    words, covered, family_covered = [], 0, 0
    for _ in range(SIMS):
        (b1, a1), (b2, a2) = _pairs(rng, joint, n), _pairs(rng, joint, n)
        before = _event(0, {"t1": ("reasoning", b1), "t2": ("reasoning", b2)})
        after = _event(10, {"t1": ("reasoning", a1), "t2": ("reasoning", a2)})
        task = paired(before, after, "eval/t1/acc", draws=400, seed=int(rng.integers(1 << 30)))
        words.append(reading(task))
        covered += task.lo <= TRUTH[truth] <= task.hi
        fam = paired(before, after, "eval/family/reasoning", draws=400, seed=int(rng.integers(1 << 30)))
        # the family is the mean of two tasks' centred scores: a change of d in accuracy is d / 0.75
        family_covered += fam.lo <= TRUTH[truth] / 0.75 <= fam.hi
    rising = words.count("rising") / SIMS
    if truth == "noise":
        assert rising <= 0.06, f"{rising:.1%} of pure-noise histories read as rising at {n} documents"
    else:
        assert words.count("declining") == 0
        if n == 500:
            assert rising >= 0.95  # 500 paired documents see 10 points nearly always
    assert 0.90 <= covered / SIMS <= 0.99, f"task interval covered the truth {covered / SIMS:.1%}"
    assert 0.90 <= family_covered / SIMS <= 0.99, f"family interval covered the truth {family_covered / SIMS:.1%}"


@pytest.mark.parametrize("n", [32, 500])
def test_wilson_band_covers_the_true_accuracy(n):
    rng = np.random.default_rng(n)
    hits = 0
    for _ in range(SIMS):
        k = int(rng.binomial(n, 0.6))
        lo, hi = wilson(k, n)
        hits += lo <= 0.6 <= hi
    assert 0.92 <= hits / SIMS <= 0.99
    assert wilson(16, 32)[1] - wilson(16, 32)[0] == pytest.approx(0.33, abs=0.01)  # ±17 points at 32


def test_paired_is_far_tighter_than_two_independent_intervals():
    rng = np.random.default_rng(3)
    b, a = _pairs(rng, REAL, 500)
    change = paired_mean_change(b, a, seed=1)
    lo_b, hi_b = wilson(b.sum(), 500)
    lo_a, hi_a = wilson(a.sum(), 500)
    assert change.clears and change.hi - change.lo < 0.8 * ((hi_b - lo_b) + (hi_a - lo_a)) / 2 * 2 ** 0.5
    assert mcnemar(b, a) < 0.01 and mcnemar(b, b) == 1.0


def _history(rng, n, start, end, evals=6):
    """One task's documents scored at ``evals`` evals: document i has a fixed ability z_i; the
    accuracy moves from ``start`` to ``end`` linearly; each eval adds its own per-document noise."""
    z = rng.standard_normal(n)
    scale = np.sqrt(1 + 0.6 ** 2)
    out = []
    for t, p in enumerate(np.linspace(start, end, evals)):
        e = rng.standard_normal(n)
        out.append((z + 0.6 * e > norm.ppf(1 - p) * scale).astype(float))
    return out


@pytest.mark.parametrize("n", [32, 500])
def test_analyze_labels_a_family_rising_only_where_it_rose(n):
    """The whole path: ``analyze`` with per-document scores states a rise only where it clears."""
    rng = np.random.default_rng(7 + n)
    false_rises = real_rises = 0
    sims = 40
    for _ in range(sims):
        for truth, (p0, p1) in (("noise", (0.6, 0.6)), ("real", (0.6, 0.7))):
            hist = _history(rng, n, p0, p1)
            docs = [_event(10 * t, {"t": ("reasoning", v)}) for t, v in enumerate(hist)]
            key = "eval/family/reasoning"
            steps = [d.step for d in docs]
            values = [d.value(key) for d in docs]
            doc = analyze({key: (steps, values)}, docs={key: docs})
            rose = any(s["trend"] == "rising" for s in doc["metrics"][key]["segments"])
            if truth == "noise":
                false_rises += rose
            else:
                real_rises += rose
                whole = change_over(docs, key, 0, 50)
                if rose:
                    assert whole.change > 0
    assert false_rises / sims <= 0.1
    if n == 500:
        assert real_rises / sims >= 0.8


def _ramp(n, before, after, flat):
    """Reasoning: from ``before`` of ``n`` documents right to ``after`` (the same documents plus
    the next ones), a steady ramp over 12 evals; standard: ``flat`` right at every eval."""
    docs = []
    for t in range(12):
        k = round(before + (after - before) * t / 11)
        docs.append(_event(10 * t, {"r": ("reasoning", (np.arange(n) < k).astype(float)),
                                    "s": ("standard", (np.arange(n) < flat).astype(float))}))
    keys = ("eval/family/reasoning", "eval/family/standard")
    return {k: ([d.step for d in docs], [d.value(k) for d in docs]) for k in keys}, {k: docs for k in keys}


def test_a_divergence_is_stated_only_where_the_gap_clears_the_paired_noise():
    # three of 32 documents flip: the curves alone read as moving apart; their documents say noise
    series, docs = _ramp(32, 18, 21, 20)
    assert analyze(series)["divergences"]
    assert analyze(series, docs=docs)["divergences"] == []
    # fifty of 500 flip: a real 10-point move, stated with or without the documents
    series, docs = _ramp(500, 300, 350, 300)
    assert analyze(series)["divergences"] and analyze(series, docs=docs)["divergences"]
