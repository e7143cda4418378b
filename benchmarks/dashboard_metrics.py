"""Time of the dashboard's metrics call on a synthetic 1,000,000-point run.

Two runs of 1,000,000 metric rows each, written through the ordinary ``RunStore`` writer:
one series of 1,000,000 steps, and ten series of 100,000 steps. For each, in this one process:

- baseline: reading every row through the store (``RunStore.metrics()``), which is what a page
  without server-side downsampling would need before it could draw anything;
- ``GET /api/runs/<run>/metrics`` (all keys, default ``max_points``=4000) through FastAPI's
  in-process test client, JSON encoding included: the call the page makes when it opens;
- a live poll (``since`` = the last step): the call the page makes every 1.5 s.

Each is the median of ``--repeats`` runs. Target: the metrics call under 1 s.

    python benchmarks/dashboard_metrics.py [--repeats 3] [--points 1000000]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from handhold.runstore.db import RunStore
from handhold.views.dashboard import create_app


def write_run(run_dir: Path, steps: int, keys: list[str]) -> None:
    store = RunStore.open(run_dir, flush_every=200_000)
    store.set_meta("name", run_dir.name)
    for step in range(1, steps + 1):
        v = math.sin(step / 997.0) + (5.0 if step % 99_991 == 0 else 0.0)
        store.append_metrics(step, {k: v + i for i, k in enumerate(keys)}, t=0.0)
    store.close()


def median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--points", type=int, default=1_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shapes = {"one-series": (args.points, ["train/loss"]),
                  "ten-series": (args.points // 10, [f"train/m{i}" for i in range(10)])}
        t = time.perf_counter()
        for name, (steps, keys) in shapes.items():
            write_run(root / name, steps, keys)
        print(f"wrote 2 runs of {args.points:,} metric rows in {time.perf_counter() - t:.1f} s")
        client = TestClient(create_app(root))
        print(f"{'run':<12} {'baseline: all rows':>19} {'metrics call':>13} {'ratio':>7} "
              f"{'points sent':>12} {'JSON':>9} {'live poll':>10}")
        for name, (steps, keys) in shapes.items():
            def baseline(name=name):
                with RunStore.reader(root / name) as store:
                    return store.metrics()

            def call(name=name, **params):
                res = client.get(f"/api/runs/{name}/metrics", params=params)
                assert res.status_code == 200, res.text
                return res

            base, rows = median_time(baseline, args.repeats)
            assert sum(len(s) for s, _ in rows.values()) == args.points
            api, res = median_time(call, args.repeats)
            live, _ = median_time(lambda: call(since=steps), args.repeats)
            sent = sum(len(s["steps"]) for s in res.json()["series"].values())
            print(f"{name:<12} {base:>17.3f} s {api:>11.3f} s {base / api:>6.1f}x "
                  f"{sent:>12,} {len(res.content) / 1e6:>7.2f} MB {live * 1000:>7.1f} ms")
        print("target: metrics call < 1 s on a 1,000,000-point run")


if __name__ == "__main__":
    main()
