"""What every handhold page hands to plotly: curves of any length reduced to a few thousand
points, and the figure config.

Both reductions work on arrays in memory and keep the picture: :func:`downsample` keeps the
minimum and the maximum of each bucket at their exact steps (spikes survive), :func:`smooth`
gives noisy train curves a light EMA. The run report, the dashboard and the grokking lab's
report all draw with these (numpy only: any layer may use them).
"""

from __future__ import annotations

import math

import numpy as np

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
MAX_POINTS = 5000  # per series, default for the report


def finite(steps: list[int], values: list[float | None]) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) as arrays, rows without a finite value dropped."""
    x = np.asarray(steps, dtype=np.int64)
    y = np.asarray(values, dtype=float)  # None -> nan
    ok = np.isfinite(y)
    return x[ok], y[ok]


def downsample(steps: list[int], values: list[float | None],
               max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points: the min and the max of equal buckets, in step order, so
    spikes (a grad-norm blow-up) survive. Missing values are dropped."""
    x, y = finite(steps, values)
    n = len(x)
    if n <= max_points:
        return x, y
    buckets = max(1, max_points // 2)
    size = math.ceil(n / buckets)
    grid = np.pad(y, (0, buckets * size - n), mode="edge").reshape(buckets, size)
    base = np.arange(buckets) * size
    idx = np.unique(np.minimum(np.concatenate([base + grid.argmin(1), base + grid.argmax(1)]), n - 1))
    return x[idx], y[idx]


def smooth(steps: list[int], values: list[float | None],
           max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """A light EMA for noisy train curves: bucket means down to ``max_points``, then an EMA whose
    window is ~1% of the points (at least 2), started at the first value so it is not biased."""
    x, y = finite(steps, values)
    n = len(x)
    if n > max_points:
        edges = np.linspace(0, n, max_points + 1).astype(np.int64)
        edges = np.unique(edges[:-1])
        counts = np.diff(np.append(edges, n))
        y = np.add.reduceat(y, edges) / counts
        x = x[edges + counts // 2]
    if len(y) == 0:
        return x, y
    alpha = 2 / (max(2, len(y) // 100) + 1)
    out = np.empty_like(y)
    acc = y[0]
    for i, v in enumerate(y):
        acc += alpha * (v - acc)
        out[i] = acc
    return x, out
