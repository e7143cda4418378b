"""Fewer points, same picture: what the report and the dashboard send to plotly.

A curve of a million steps drawn on a page a few thousand pixels wide needs a few thousand
points, provided the spikes survive. Both paths here keep the minimum and the maximum of each
bucket (the "min/max per bucket" reduction that plotly-resampler and tsdownsample call MinMax):

- :func:`~handhold.plotting.downsample` reduces arrays already in memory, keeping each extreme
  at its exact step;
- :func:`read_series` reads one metric from the run store and, for a long series, lets SQLite
  do the bucketing (one pass over the index, no million Python tuples), which is what keeps the
  dashboard's metrics call under a second on a 1,000,000-point run. There the bucket's min and
  max are both placed at the bucket's middle step: exact to within one bucket (1/``buckets`` of
  the range asked for), and a zoom asks again for the visible range at full resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..plotting import downsample
from ..runstore.db import RunStore

EXACT_LIMIT = 20_000  # up to this many rows, reduce in numpy with exact positions


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


NUMERIC = "typeof(value) IN ('real', 'integer')"  # NULL (NaN/inf) and damaged text rows are no points


def read_series(store: RunStore, key: str, *, max_points: int = 4000,
                since: int | None = None, start: int | None = None,
                end: int | None = None) -> Series:
    """Metric ``key`` at steps ``>= since`` within ``[start, end]``, at most ``max_points`` points.

    ``since`` is inclusive so that a poller asking from the last step it saw also gets rows of
    that step flushed after its previous read. Rows without a value (NaN/inf, stored as NULL)
    are left out, and so are values a damaged file holds as text (a curve of numbers or none)."""
    span, args = "key = ?", [key]
    for clause, bound in (("step >= ?", since), ("step >= ?", start), ("step <= ?", end)):
        if bound is not None:
            span += f" AND {clause}"
            args.append(bound)
    # the (key, step) index answers this without touching the rows (n counts missing values too)
    n, lo, hi = store.query(f"SELECT COUNT(*), MIN(step), MAX(step) FROM metrics WHERE {span}",
                             args).fetchone()
    where = span + f" AND {NUMERIC}"
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
        f"FROM metrics WHERE key = ?4 AND {NUMERIC} AND step >= s AND step < s + ?2 "
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
