"""Time ``analyze`` on a 1,000,000-point series (target: under a second), against a baseline.

    PYTHONPATH=src python benchmarks/analyze_speed.py [--points 1000000] [--repeat 5]

The series is a noisy power-law loss with a stage switch, a shift shock and a slingshot spike.
The baseline, timed in the same run, is one ``np.sort`` of the same values: the machine is
shared, so the ratio is the figure to compare across runs; the absolute time answers the target.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402

from handhold.phases.analyze import analyze  # noqa: E402


def series(n: int) -> tuple[np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(0)
    t = np.arange(n, dtype=np.float64)
    y = 2 + 3 * (t / (n / 1000) + 1) ** -0.5 + 0.05 * rng.standard_normal(n)
    switch = int(0.6 * n)
    y[switch + 1:] += 0.8 * ((t[switch + 1:] - switch) / (n / 500) + 1) ** -0.7
    y[int(0.3 * n): int(0.3 * n) + n // 500] += 3.0
    return t, y, switch


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    t, y, switch = series(args.points)
    analyze({"train/loss": (t, y)}, stage_switches=[switch])  # warm-up: imports, caches
    took = best_of(lambda: analyze({"train/loss": (t, y)}, stage_switches=[switch]), args.repeat)
    base = best_of(lambda: np.sort(y), args.repeat)
    doc = analyze({"train/loss": (t, y)}, stage_switches=[switch])["metrics"]["train/loss"]
    print(f"analyze on {args.points:,} points: {took:.3f} s (best of {args.repeat}); "
          f"np.sort of the same values: {base:.3f} s; ratio {took / base:.1f}x")
    print(f"found: change points {doc['changepoints']}, shocks "
          f"{[(s['kind'], s['step']) for s in doc['shocks']]}, trends {[s['trend'] for s in doc['segments']]}")
    print(f"target (under 1 s): {'met' if took < 1.0 else 'MISSED'}")


if __name__ == "__main__":
    main()
