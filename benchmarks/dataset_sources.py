"""Dataset sources at a million rows: time to open, time per train draw, held-out set, peak RSS.

    PYTHONPATH=src python benchmarks/dataset_sources.py DIR [--rows 1000000]

The first call writes DIR/big (``save_to_disk``) and DIR/big.parquet and stops, so the data
building does not count in the measuring process's memory. The next call opens each as a
source (the Parquet one converted to Arrow into DIR/cache the first time, mapped after that),
draws 20,000 train rows and the 64-row held-out set, and writes DIR/figures.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import datasets

from handhold.config import validate_config
from handhold.data.sources import build_sources


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=Path)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--draws", type=int, default=20_000)
    args = ap.parse_args()
    root = args.dir
    if not (root / "big").exists():
        root.mkdir(parents=True, exist_ok=True)
        ds = datasets.Dataset.from_dict({"text": [f"row {i}: " + "lorem ipsum dolor sit amet " * 4
                                                  for i in range(args.rows)]})
        ds.save_to_disk(str(root / "big"))
        ds.to_parquet(str(root / "big.parquet"))
        print("data written; run again to measure")
        return
    out = {}
    for kind, spec in (("hf_dataset", {"path": str(root / "big")}),
                       ("parquet", {"path": str(root / "big.parquet"), "cache_dir": str(root / "cache")})):
        cfg = validate_config({"sources": {"s": {"type": kind, **spec}},
                               "stages": [{"name": "a", "mix": {"s": 1}, "until": {"steps": 1}}]})
        t = time.perf_counter()
        src = build_sources(cfg)["s"]
        opened = time.perf_counter() - t
        t, cursor = time.perf_counter(), 0
        for _ in range(args.draws):
            _, cursor = src.draw("train", cursor)
        per_draw = (time.perf_counter() - t) / args.draws
        t = time.perf_counter()
        src.heldout(64)
        held = time.perf_counter() - t
        out[kind] = {"rows": src.n, "open_s": round(opened, 3), "train_draw_us": round(per_draw * 1e6, 1),
                     "heldout64_s": round(held, 3),
                     "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
        print(kind, out[kind], flush=True)
    (root / "figures.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
