"""Lead time and false alarms of the leading indicator (handhold.phases.indicator) on lab runs.

Reads finished ``handhold grok`` experiment directories (every ``<variant>-s<seed>`` run store in
them), replays the indicator on each run's training-side signals (weight norm, embedding Gini:
the same ``indicator_entries`` that ``handhold analyze`` runs) and compares with validation
accuracy, which the indicator never sees:

- a run *generalized* when validation accuracy reached 95% within its budget; the **lead** is
  the steps from the announcement to that point (negative: announced late; missing: never
  announced); the lead over validation *starting to move* (10% of the way from its level at twice
  the memorization step to 1) is given too;
- on a run that never generalized, an announcement is a **false alarm**; the false alarms on runs
  whose validation never even started to move (no weight decay, too little data) are counted
  apart from those on runs still generalizing slowly when the budget ran out;
- a run that did not record the progress measures (``measure`` off, or a model without the
  embedding Gini) is left out and listed, not counted as a miss; with several directories the
  summary is given per directory (a grid cell) as well as per variant.

Usage (the runs come from ``handhold grok CONFIG -o DIR``)::

    python benchmarks/grok_indicator.py runs/ind/pos runs/ind/neg --exclude-seed 0 --out runs/ind/indicator.json

``--exclude-seed`` leaves out the seeds the thresholds were set on; ``--fit-seeds 0,1,2,3,4``
re-fits the thresholds on those seeds (the fewest misses and false alarms, then the longest
median lead, over a grid of thresholds) and reports the held-out seeds with the fitted rule::

    python benchmarks/grok_indicator.py runs/grok/map-nanda/add-p113-f0.3-full-adamw --fit-seeds 0,1,2,3,4
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import statistics
import sys
from pathlib import Path

from handhold.phases.indicator import IndicatorRule, indicator_entries
from handhold.runstore.db import RunStore

KEYS = ("grok/measure/weight_norm", "grok/measure/gini_embed", "grok/val/acc", "grok/train/acc")
RUN = re.compile(r"^(?P<variant>.+)-s(?P<seed>\d+)$")


def load_run(run_dir: Path) -> dict | None:
    """The run's training-side signals, validation accuracy and lab metadata (``None``: unfinished)."""
    with RunStore.reader(run_dir) as store:
        if store.get_meta("status") != "finished":
            return None
        return {"run": run_dir.name, "series": {k: store.series(k) for k in KEYS},
                "meta": store.get_meta("grok") or {}}


def measured(run: dict) -> bool:
    """Whether the run recorded the progress measures the indicator reads: a grid run with
    ``measure`` off cannot be announced, and counting it as a miss would blame the rule."""
    return all(len(run["series"][k][0]) > 0 for k in KEYS[:2])


def evaluate_run(run_dir: Path) -> dict:
    loaded = load_run(run_dir)
    return {} if loaded is None else evaluate(loaded)


def evaluate(loaded: dict, rule: IndicatorRule | None = None) -> dict:
    series, meta = loaded["series"], loaded["meta"]
    entries = indicator_entries(series, rule)
    announced = entries[0]["announced_at"] if entries else None
    val95 = entries[0].get("val_reached_at") if entries else None
    vs, vv = series["grok/val/acc"]
    mem = meta.get("memorization_step")
    moved = None
    if mem is not None:  # from its level at twice the memorization step, 10% of the way to 1
        base = next((v for s, v in zip(vs, vv) if s >= 2 * mem), None)
        if base is not None:
            moved = next((int(s) for s, v in zip(vs, vv) if s >= 2 * mem and v >= base + 0.1 * (1 - base)), None)
    return {"run": loaded["run"], "steps": meta.get("steps"), "final_val_acc": meta.get("final_val_acc"),
            "memorized_at": mem, "announced_at": announced,
            "val95_at": val95, "val_moved_at": moved,
            "lead": None if announced is None or val95 is None else val95 - announced,
            "lead_over_move": None if announced is None or moved is None else moved - announced}


# the thresholds a re-fit searches (the default rule is one of them)
GRID = {"norm_drop": (0.02, 0.03, 0.05, 0.08, 0.1, 0.15), "gini_rise": (0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2),
        "confirm": (1, 2, 3)}


def fit_rule(runs: list[dict]) -> tuple[IndicatorRule, dict]:
    """The thresholds with the fewest errors on ``runs`` (a generalizing run not announced before
    validation reached 95%, or an announcement on a run that never did), ties broken by the
    larger median lead: the re-fit a user would make on the seeds they have."""
    best = None
    for nd, gr, cf in itertools.product(*GRID.values()):
        rule = IndicatorRule(norm_drop=nd, gini_rise=gr, confirm=cf)
        rows = [evaluate(r, rule) for r in runs]
        s = summarize(rows)
        errors = s["missed_or_late"] + s["false_alarms"]
        key = (errors, -(s["lead_median"] or float("-inf")))
        if best is None or key < best[0]:
            best = (key, rule, s)
    assert best is not None
    return best[1], best[2]


def summarize(rows: list[dict]) -> dict:
    pos = [r for r in rows if r["val95_at"] is not None]
    neg = [r for r in rows if r["val95_at"] is None]
    leads = [r["lead"] for r in pos if r["lead"] is not None]
    early = [x for x in leads if x > 0]
    moves = [r["lead_over_move"] for r in pos if r["lead_over_move"] is not None]
    alarms = [r for r in neg if r["announced_at"] is not None]
    flat = [r for r in neg if r["val_moved_at"] is None]  # validation never even started to move
    return {
        "generalized_runs": len(pos), "announced_before_val95": len(early),
        "missed_or_late": len(pos) - len(early),
        "lead_median": statistics.median(leads) if leads else None,
        "lead_min": min(leads) if leads else None, "lead_max": max(leads) if leads else None,
        "lead_over_move_median": statistics.median(moves) if moves else None,
        "announced_before_val_moved": sum(1 for x in moves if x > 0),
        "never_generalized_runs": len(neg), "false_alarms": len(alarms),
        "false_alarm_rate": len(alarms) / len(neg) if neg else None,
        "false_alarm_runs": [(r["run"], r["announced_at"], r["steps"], r["final_val_acc"]) for r in alarms],
        "never_moved_runs": len(flat), "false_alarms_never_moved": sum(r["announced_at"] is not None for r in flat),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", type=Path, help="experiment directories (handhold grok -o DIR)")
    ap.add_argument("--exclude-seed", type=int, action="append", default=[], help="seeds to leave out")
    ap.add_argument("--out", type=Path, help="write the per-run rows and the summary as JSON")
    ap.add_argument("--fit-seeds", type=lambda v: {int(x) for x in v.split(",")}, default=set(),
                    help="re-fit the thresholds on these seeds (e.g. 0,1,2,3,4) and report the others")
    args = ap.parse_args(argv)
    loaded, rows, unmeasured = [], [], []
    for d in args.dirs:
        for run_dir in sorted(p for p in d.iterdir() if (p / "run.db").is_file()):
            m = RUN.match(run_dir.name)
            if m is None or int(m["seed"]) in args.exclude_seed:
                continue
            run = load_run(run_dir)
            if run is None:
                continue  # unfinished
            if not measured(run):
                unmeasured.append(f"{d.name}/{run_dir.name}")
                continue
            run.update(variant=m["variant"], seed=int(m["seed"]), experiment=d.name)
            loaded.append(run)
    if unmeasured:
        print(f"left out {len(unmeasured)} runs without progress measures (weight norm, embedding Gini), "
              f"e.g. {unmeasured[0]}")
    fitted = None
    if args.fit_seeds:
        fit_on = [r for r in loaded if r["seed"] in args.fit_seeds]
        loaded = [r for r in loaded if r["seed"] not in args.fit_seeds]
        if not fit_on or not loaded:
            print("--fit-seeds needs finished runs both among those seeds and outside them", file=sys.stderr)
            return 1
        fitted, fit_summary = fit_rule(fit_on)
        print(f"re-fit on seeds {sorted(args.fit_seeds)} ({len(fit_on)} runs): {fitted.to_dict()} "
              f"(default {IndicatorRule().to_dict()}); on those runs: {fit_summary['missed_or_late']} missed or "
              f"late, {fit_summary['false_alarms']} false alarms, median lead {fit_summary['lead_median']}")
        print(f"held-out seeds ({len(loaded)} runs), fitted rule:")
    for run in loaded:
        row = evaluate(run, fitted)
        row.update(variant=run["variant"], seed=run["seed"], experiment=run["experiment"])
        rows.append(row)
    if not rows:
        print("no finished runs found", file=sys.stderr)
        return 1
    print(f"{'run':<22}{'memorized':>10}{'announced':>11}{'val moved':>11}{'val 95%':>9}{'lead':>7}"
          f"{'steps':>7}{'final val':>10}")
    for r in rows:
        print(f"{r['experiment'] + '/' + r['run']:<22}{str(r['memorized_at']):>10}{str(r['announced_at']):>11}"
              f"{str(r['val_moved_at']):>11}{str(r['val95_at']):>9}{str(r['lead']):>7}{str(r['steps']):>7}"
              f"{r['final_val_acc'] or 0:>10.3f}")
    groups = {"all": rows}
    for v in sorted({r["variant"] for r in rows}):
        groups[v] = [r for r in rows if r["variant"] == v]
    if len({r["experiment"] for r in rows}) > 1:  # several cells: each cell's runs, all arms together
        for e in sorted({r["experiment"] for r in rows}):
            groups[f"cell {e}"] = [r for r in rows if r["experiment"] == e]
    summary = {name: summarize(g) for name, g in groups.items()}
    for name, s in summary.items():
        lead = ("–" if s["lead_median"] is None else
                f"median {s['lead_median']:,} steps (range {s['lead_min']:,} to {s['lead_max']:,})")
        fa = ("–" if s["false_alarm_rate"] is None else
              f"{s['false_alarms']}/{s['never_generalized_runs']} (on runs whose validation never started to "
              f"move: {s['false_alarms_never_moved']}/{s['never_moved_runs']})")
        print(f"{name}: generalized {s['generalized_runs']}, announced before val 95% on "
              f"{s['announced_before_val95']}/{s['generalized_runs']}, lead {lead}; "
              f"before val started to move on {s['announced_before_val_moved']}; false alarms {fa}")
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "summary": summary, "excluded_seeds": args.exclude_seed,
                                        "unmeasured_runs": unmeasured,
                                        "fit_seeds": sorted(args.fit_seeds),
                                        "rule": (fitted or IndicatorRule()).to_dict()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
