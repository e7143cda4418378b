"""Print a grid study's table as Markdown (the README's map table) from its ``grid.json``.

    python benchmarks/grok_map_table.py runs/grok-map-cpu/grid.json
"""

import json
import sys

from handhold.grok.grid import GRID_COLUMNS, grid_rows

KEEP = ["cell", "seeds", "baseline →99% [95% CI]", "baseline delay", "arm", "arm →95%", "arm →99% [95% CI]",
        "arm →99% samples [95% CI]", "speed-up →99% [95% CI]", "Wilcoxon p", "verdict (paired by seed)", "code"]


def main(path: str) -> None:
    doc = json.load(open(path))
    cols = [GRID_COLUMNS.index(k) for k in KEEP]
    print("| " + " | ".join(KEEP) + " |")
    print("|" + "---|" * len(KEEP))
    for row in grid_rows(doc):
        print("| " + " | ".join(row[i].replace("|", "/") for i in cols) + " |")
    base = doc["cells"][0]["arms"][0] if doc["cells"] else None
    if base:
        print(f"\nbaseline →95%: {base.get('median_steps_to_val95')}")
    print("\n" + doc["prediction"]["sentence"])
    if doc["not_run"]:
        print("not run: " + ", ".join(f"{c['id']} ({c['seeds']} seeds)" for c in doc["not_run"]))


if __name__ == "__main__":
    main(sys.argv[1])
