"""Print grid studies' tables as Markdown (the README's map table) from their ``grid.json``.

    python benchmarks/grok_map_table.py runs/grok/map-nanda/grid.json
    python benchmarks/grok_map_table.py A/grid.json B/grid.json --plot docs/speedup_vs_delay.html

Several files (grids run apart, e.g. the CPU part of the map and its headline cell) are read as
one map: their cells in one table, and the speed-up-vs-delay prediction tested across all of
their cells (``--plot`` writes its plotly figure).
"""

import argparse
import json
from pathlib import Path

from handhold.grok.grid import GRID_COLUMNS, delay_prediction, grid_rows, write_prediction_plot

KEEP = ["cell", "seeds", "baseline →99% [95% CI]", "baseline delay", "arm", "arm →95% [95% CI]", "arm →99% [95% CI]",
        "arm →99% samples [95% CI]", "speed-up →99% [95% CI]", "Wilcoxon p", "verdict (paired by seed)", "code"]


def merged(paths: list[Path]) -> dict:
    docs = [json.loads(p.read_text()) for p in paths]
    doc = {**docs[0], "cells": [c for d in docs for c in d["cells"]],
           "not_run": [c for d in docs for c in d["not_run"]]}
    doc["prediction"] = delay_prediction(doc)
    return doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("grids", nargs="+", type=Path, help="grid.json files")
    ap.add_argument("--plot", type=Path, help="write the speed-up-vs-delay figure (HTML) here")
    args = ap.parse_args()
    doc = merged(args.grids)
    cols = [GRID_COLUMNS.index(k) for k in KEEP]
    print("| " + " | ".join(KEEP) + " |")
    print("|" + "---|" * len(KEEP))
    for row in grid_rows(doc):
        print("| " + " | ".join(row[i].replace("|", "/") for i in cols) + " |")
    print("\n" + doc["prediction"]["sentence"])
    if doc["not_run"]:
        print("not run: " + ", ".join(f"{c['id']} ({c['seeds']} seeds)" for c in doc["not_run"]))
    if args.plot:
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        made = write_prediction_plot(args.plot.parent, doc["prediction"])
        if made != args.plot:
            made.replace(args.plot)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
