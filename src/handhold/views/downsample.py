"""Fewer points, same picture: what the report and the dashboard send to plotly.

A curve of a million steps drawn on a page a few thousand pixels wide needs a few thousand
points, provided the spikes survive. Both paths here keep the minimum and the maximum of each
bucket (the "min/max per bucket" reduction that plotly-resampler and tsdownsample call MinMax):

- :func:`downsample` reduces arrays already in memory, keeping each extreme at its exact step;
- :func:`read_series` reads one metric from the run store and, for a long series, lets SQLite
  do the bucketing (one pass over the index, no million Python tuples), which is what keeps the
  dashboard's metrics call under a second on a 1,000,000-point run. There the bucket's min and
  max are both placed at the bucket's middle step: exact to within one bucket (1/``buckets`` of
  the range asked for), and a zoom asks again for the visible range at full resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..store import RunStore

MAX_POINTS = 5000  # per series, default for the report
EXACT_LIMIT = 20_000  # up to this many rows, reduce in numpy with exact positions


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


@dataclass(frozen=True)
class Series:
    """One metric as sent to a page: ``rows`` is how many logged rows it stands for (for a
    downsampled long series, missing values included)."""

    steps: list[int]
    values: list[float]
    rows: int
    downsampled: bool

    def to_dict(self) -> dict:
        return {"steps": self.steps, "values": self.values, "rows": self.rows,
                "downsampled": self.downsampled}


def read_series(store: RunStore, key: str, *, max_points: int = 4000,
                since: int | None = None, start: int | None = None,
                end: int | None = None) -> Series:
    """Metric ``key`` at steps ``>= since`` within ``[start, end]``, at most ``max_points`` points.

    ``since`` is inclusive so that a poller asking from the last step it saw also gets rows of
    that step flushed after its previous read. Rows without a value (NaN/inf, stored as NULL)
    are left out."""
    span, args = "key = ?", [key]
    for clause, bound in (("step >= ?", since), ("step >= ?", start), ("step <= ?", end)):
        if bound is not None:
            span += f" AND {clause}"
            args.append(bound)
    # the (key, step) index answers this without touching the rows (n counts missing values too)
    n, lo, hi = store.query(f"SELECT COUNT(*), MIN(step), MAX(step) FROM metrics WHERE {span}",
                             args).fetchone()
    where = span + " AND value IS NOT NULL"
    if n <= max(max_points, EXACT_LIMIT):
        rows = store.query(f"SELECT step, value FROM metrics WHERE {where} ORDER BY step, rowid",
                            args).fetchall()
        n = len(rows)
        if n <= max_points:
            return Series([r[0] for r in rows], [r[1] for r in rows], n, False)
        x, y = downsample([r[0] for r in rows], [r[1] for r in rows], max_points)
        return Series(x.tolist(), y.tolist(), n, True)
    buckets = max(1, max_points // 2)
    width = max(1, math.ceil((hi - lo + 1) / buckets))
    # One correlated lookup per bucket over the (key, step) index: a GROUP BY on a step
    # expression would sort every row in a temporary b-tree first (~1.5x slower here).
    # printf('%!.17g') carries the doubles exactly through the one-column subquery.
    rows = store.query(
        "WITH RECURSIVE b(s) AS (SELECT ?1 UNION ALL SELECT s + ?2 FROM b WHERE s + ?2 <= ?3) "
        "SELECT (SELECT CASE WHEN COUNT(*) THEN printf('%!.17g %!.17g %d %d', MIN(value), MAX(value), "
        "MIN(step), MAX(step)) END "
        "FROM metrics WHERE key = ?4 AND value IS NOT NULL AND step >= s AND step < s + ?2 "
        "AND step <= ?3) FROM b", (lo, width, hi, key)).fetchall()
    steps: list[int] = []
    values: list[float] = []
    for (packed,) in rows:
        if packed is None:  # a bucket with no rows (a gap in the steps)
            continue
        mn_s, mx_s, first, last = packed.split()
        mn, mx = float(mn_s), float(mx_s)
        mid = (int(first) + int(last)) // 2
        # draw the bucket as a vertical stroke, entered from the end nearer the previous point
        pair = (mn, mx) if not values or abs(values[-1] - mn) <= abs(values[-1] - mx) else (mx, mn)
        steps += [mid, mid] if mn != mx else [mid]
        values += list(pair) if mn != mx else [mn]
    return Series(steps, values, n, True)
