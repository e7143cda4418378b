"""Score the phase detectors on the labeled synthetic suite and print the figures.

    PYTHONPATH=src python benchmarks/phases_suite.py [--seed 0] [--per-cell 2] [--margin 0.03]

- change points: precision / recall / F1 within ``margin`` (a share of the curve's length, at
  least 2 steps), matched one to one, micro-averaged over all curves (known stage switches are
  given to the detector and not counted);
- null curves (flat, straight, power-law, logarithmic; nothing to find): share with no change point;
- spiky curves: share of injected spikes reported as shocks, and of curves left unsplit;
- trend labels: share of true phases whose midpoint falls in a detected segment of the same trend;
- grokking: share of memorized/generalized steps within the margin, and of non-grokking pairs
  reported as not generalized.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402

from handhold.phases.analyze import analyze_metric  # noqa: E402
from handhold.phases.grokking import GrokkingDetector  # noqa: E402
from handhold.phases.synthetic import f1, grokking_suite, labeled_suite, match  # noqa: E402


def share_table(title: str, what: str, table: dict[str, list[int]], summary: str) -> float:
    """Print (hits, of) per family and the total; return the overall share."""
    print(f"\n{title:<22}{what:>8}{'of':>6}")
    for fam in sorted(table):
        print(f"  {fam:<20}{table[fam][0]:>8}{table[fam][1]:>6}")
    hits, total = (sum(v[i] for v in table.values()) for i in (0, 1))
    share = hits / total if total else 1.0
    print(f"  {'ALL':<20}{hits:>8}{total:>6}   {summary} {share:.1%}")
    return share


def score(seed: int, per_cell: int, margin_share: float) -> dict[str, float]:
    curves = labeled_suite(seed=seed, per_cell=per_cell)
    counts = defaultdict(lambda: [0, 0, 0])  # family -> tp, fp, fn
    by_len = defaultdict(lambda: [0, 0, 0])
    trend_ok = defaultdict(lambda: [0, 0])
    nulls = defaultdict(lambda: [0, 0])  # family -> clean, total
    spikes_found = spikes_total = 0
    switch_shocks = [0, 0, 0]
    t0 = time.perf_counter()
    for c in curves:
        margin = max(2.0, margin_share * c.length)
        res = analyze_metric(c.name, c.steps, c.values, switches=c.switches, direction=c.direction)
        found = [s for s in res.changepoints if s not in c.switches]
        tp = match(c.breaks, found, margin)
        for table, key in ((counts, c.family), (by_len, len(c.steps))):
            table[key][0] += tp
            table[key][1] += len(found) - tp
            table[key][2] += len(c.breaks) - tp
        if c.family.startswith("null"):
            nulls[c.family][0] += not found
            nulls[c.family][1] += 1
        for start, end, trend in c.phases:
            mid = (start + end) / 2
            seg = next((s for s in res.segments if s.start <= mid <= s.end), None)
            trend_ok[c.family][0] += seg is not None and seg.trend == trend
            trend_ok[c.family][1] += 1
        if c.spikes:
            shock_steps = [s.step for s in res.shocks if s.kind == "spike"]
            spikes_found += match(c.spikes, shock_steps, margin)
            spikes_total += len(c.spikes)
        if c.switches:
            shock = next((s for s in res.shocks if s.kind == "switch" and s.step == c.switches[0]), None)
            switch_shocks[0] += shock is not None
            switch_shocks[1] += 1
            if shock is not None and c.recovered_at is not None and shock.recovered_at is not None:
                switch_shocks[2] += abs(shock.recovered_at - c.recovered_at) <= margin
    elapsed = time.perf_counter() - t0

    print(f"labeled suite: {len(curves)} curves, lengths {sorted({len(c.steps) for c in curves})}, "
          f"noise {sorted({c.noise for c in curves})} x range, margin {margin_share:.0%} of length "
          f"(>= 2 steps), seed {seed}, {elapsed:.1f} s")
    print(f"\n{'change points':<22}{'tp':>6}{'fp':>6}{'fn':>6}{'prec':>8}{'recall':>8}{'F1':>8}")
    tot = [0, 0, 0]
    for fam in sorted(counts):
        tp, fp, fn = counts[fam]
        tot = [a + b for a, b in zip(tot, counts[fam])]
        print(f"  {fam:<20}{tp:>6}{fp:>6}{fn:>6}" + "".join(f"{v:>8.3f}" for v in f1(tp, fp, fn)))
    print(f"  {'by length':<20}")
    for n in sorted(by_len):
        tp, fp, fn = by_len[n]
        print(f"    n={n:<16}{tp:>6}{fp:>6}{fn:>6}" + "".join(f"{v:>8.3f}" for v in f1(tp, fp, fn)))
    cp_p, cp_r, cp_f1 = f1(*tot)
    print(f"  {'ALL':<20}{tot[0]:>6}{tot[1]:>6}{tot[2]:>6}{cp_p:>8.3f}{cp_r:>8.3f}{cp_f1:>8.3f}")

    null_rate = share_table("null curves", "clean", nulls, "no change point on")
    trend_acc = share_table("trend labels", "right", trend_ok, "accuracy")
    spike_rate = spikes_found / spikes_total if spikes_total else 1.0
    print(f"\nspikes reported as shocks: {spikes_found}/{spikes_total} ({spike_rate:.1%}); "
          f"switch shocks found: {switch_shocks[0]}/{switch_shocks[1]}, recovery step within the "
          f"margin: {switch_shocks[2]}/{switch_shocks[1]}")

    pairs = grokking_suite(seed=seed)
    within = total_steps = none_ok = none_total = 0
    errors = []
    for g in pairs:
        margin = max(2.0, margin_share * float(g.steps[-1] - g.steps[0]))
        got = GrokkingDetector("lower" if g.kind == "loss" else "higher").fit(
            g.steps, g.train, g.steps, g.val).predict()
        for truth, est in ((g.memorized_at, got.memorized_at), (g.generalized_at, got.generalized_at)):
            if truth is None:
                none_total += 1
                none_ok += est is None
                continue
            total_steps += 1
            if est is not None:
                errors.append(abs(est - truth) / (g.steps[-1] - g.steps[0]))
                within += abs(est - truth) <= margin
    grok_rate = within / total_steps
    print(f"\ngrokking: {len(pairs)} train/val pairs (acc and loss, with and without grokking, "
          f"with spikes), lengths {sorted({len(g.steps) for g in pairs})}")
    print(f"  steps within margin: {within}/{total_steps} ({grok_rate:.1%}); median error "
          f"{np.median(errors):.2%} of length, max {np.max(errors):.2%}")
    print(f"  no-grokking pairs reported as not generalized: {none_ok}/{none_total}")

    targets = {"change-point F1 >= 0.9": cp_f1 >= 0.9, "trend accuracy >= 0.9": trend_acc >= 0.9,
               "no change point on >= 90% of null curves": null_rate >= 0.9,
               "grokking steps within margin": grok_rate >= 0.9 and none_ok == none_total}
    print("\ntargets: " + "; ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in targets.items()))
    return {"cp_f1": cp_f1, "trend_acc": trend_acc, "null_rate": null_rate, "grok_rate": grok_rate,
            "spike_rate": spike_rate}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-cell", type=int, default=2)
    ap.add_argument("--margin", type=float, default=0.03, help="share of the curve's length")
    args = ap.parse_args()
    score(args.seed, args.per_cell, args.margin)


if __name__ == "__main__":
    main()
