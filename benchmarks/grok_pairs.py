"""Every variant of a finished ``handhold grok`` experiment against a reference variant of your
choice, seed by seed: the comparison the experiment's own table makes only against a declared
baseline (a baseline uses no mechanism, so "does the curriculum add to Grokfast?" needs this).

For each variant: seeds finished in both, median steps to 95% / 99% validation with bootstrap 95%
intervals, the paired speed-up (reference median / variant median) with its interval, the sign
test and Wilcoxon p, and how many seeds reached 99% in fewer than ``--under`` steps.

    python benchmarks/grok_pairs.py runs/grok/grokfast-task --reference grokfast-ema --under 950
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from handhold.grok.experiment import median_ci
from handhold.grok.grid import paired_test, speedup_ci


def _n(v: float | None) -> str:
    return "never" if v is None else f"{v:,.0f}"


def _ci(m: tuple) -> str:
    return f"{_n(m[0])} [{_n(m[1][0])}, {_n(m[1][1])}]"


def _x(v: float | None) -> str:
    return "∞" if v is None else f"{v:.2f}"


def compare(doc: dict, reference: str, under: int | None) -> list[dict]:
    by = {v["name"]: v for v in doc["variants"]}
    if reference not in by:
        raise SystemExit(f"no variant {reference!r} in {doc['dir']} (have: {', '.join(by)})")
    ref = by[reference]
    rows = []
    for v in doc["variants"]:
        seeds = [s for s in v["seeds"] if s in ref["seeds"]]
        pick = lambda arm, key: [arm[key][arm["seeds"].index(s)] for s in seeds]  # noqa: E731
        a95, a99, r99 = pick(v, "steps_to_val95"), pick(v, "steps_to_val99"), pick(ref, "steps_to_val99")
        row = {"variant": v["name"], "seeds": len(seeds), "to95": median_ci(a95), "to99": median_ci(a99),
               "under": None if under is None else sum(x is not None and x < under for x in a99),
               "code": v.get("code")}
        if v["name"] != reference:
            row["speedup"] = speedup_ci(r99, a99)
            row["test"] = paired_test(r99, a99)
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("experiment", type=Path)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--under", type=int, default=None, help="count seeds reaching 99%% in fewer steps")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    doc = json.loads((args.experiment / "experiment.json").read_text())
    rows = compare(doc, args.reference, args.under)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    head = ["variant", "seeds", "→95% [95% CI]", "→99% [95% CI]", f"<{args.under} to 99%", "speed-up vs ref",
            "sign test", "Wilcoxon p", "code"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        sp, t = r.get("speedup"), r.get("test")
        if sp is None:
            spd = "reference"
        elif sp[0] is None:
            spd = "–"
        else:
            spd = f"{sp[0]:.2f}× [{_x(sp[1][0])}, {_x(sp[1][1])}]"
        sign = "" if t is None else (f"{t['wins']} faster, {t['losses']} slower, {t['ties']} tied; "
                                     f"p {t['sign_p']:.3g} ({t['verdict']})")
        wil = "" if t is None or t["wilcoxon_p"] is None else f"{t['wilcoxon_p']:.3g}"
        under = "" if r["under"] is None else f"{r['under']}/{r['seeds']}"
        print(f"| {r['variant']} | {r['seeds']} | {_ci(r['to95'])} | {_ci(r['to99'])} | {under} | {spd} | "
              f"{sign} | {wil} | {r['code']} |")

if __name__ == "__main__":
    main()
