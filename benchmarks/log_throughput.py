"""Throughput of ``run.log`` (20 scalars per step) against bare SQLite (targets: ratio >= 0.8 and
>= 200,000 scalars/s).

    PYTHONPATH=src python benchmarks/log_throughput.py [--steps 50000] [--repeat 3]

The baseline, timed in the same run, writes the same rows into the same schema with one bare
``executemany`` per flush (same flush size, same WAL settings), building the row tuples in the
loop as a hand-written logger would. Both include the final flush. The best of ``--repeat``
runs of each is compared (the machine is shared).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from handhold.runstore.live import Run  # noqa: E402
from handhold.runstore.db import _SCHEMA  # noqa: E402

KEYS = [f"train/metric_{i:02d}" for i in range(20)]
FLUSH = 4096


def steps_data(n: int) -> list[dict[str, float]]:
    return [{k: 1.0 / (s + i + 1) for i, k in enumerate(KEYS)} for s in range(n)]


def with_run(data: list[dict[str, float]], folder: Path) -> float:
    t0 = time.perf_counter()
    run = Run(folder, flush_every=FLUSH)
    for step, values in enumerate(data):
        run.log(values, step=step)
    run.finish()
    return time.perf_counter() - t0


def bare(data: list[dict[str, float]], folder: Path) -> float:
    t0 = time.perf_counter()
    folder.mkdir(parents=True)
    conn = sqlite3.connect(folder / "run.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_SCHEMA)
    rows: list[tuple[int, str, float, float]] = []

    def flush() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        rows.clear()

    for step, values in enumerate(data):
        t = time.time()
        rows.extend((step, k, v, t) for k, v in values.items())
        if len(rows) >= FLUSH:
            flush()
    flush()
    conn.close()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    data = steps_data(a.steps)
    scalars = a.steps * len(KEYS)
    best_run = best_bare = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.repeat):
            best_bare = min(best_bare, bare(data, Path(tmp) / f"bare{r}"))
            best_run = min(best_run, with_run(data, Path(tmp) / f"run{r}"))
    ratio = best_bare / best_run
    rate = scalars / best_run
    print(f"{a.steps:,} steps x {len(KEYS)} scalars = {scalars:,} rows (best of {a.repeat})")
    print(f"bare executemany per flush: {best_bare:.3f} s  ({scalars / best_bare:,.0f} scalars/s)")
    print(f"run.log:                    {best_run:.3f} s  ({rate:,.0f} scalars/s)")
    print(f"throughput ratio run.log / bare = {ratio:.2f}  (target >= 0.8: {'met' if ratio >= 0.8 else 'MISSED'}; "
          f">= 200k scalars/s: {'met' if rate >= 200_000 else 'MISSED'})")


if __name__ == "__main__":
    main()
