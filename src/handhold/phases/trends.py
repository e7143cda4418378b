"""Trend labels for segments: what the value does (``rising``/``plateau``/``declining``), with
the slope and its standard error, and whether a plateau is *mastery* (it follows improvement,
where improvement depends on which way is better for the metric)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

PLATEAU_SHARE = 0.05  # a phase that moves less than this share of the curve's range is flat
SIGNIFICANCE = 2.0  # ... or whose slope is within this many standard errors of zero


@dataclass
class Segment:
    start: int | float  # first step of the phase (the break it starts at)
    end: int | float  # last step of the phase
    trend: str
    slope: float  # per step, least squares over the phase
    slope_stderr: float
    change: float  # fitted value at the end minus at the start
    mastery: bool = False
    noise: dict | None = None  # a benchmark key's paired test of the change (phases/noise.py)

    def to_dict(self) -> dict:
        return asdict(self)


def slope_fit(x: np.ndarray, y: np.ndarray, sigma: float) -> tuple[float, float]:
    """Least-squares slope and its standard error (at least the noise level's share)."""
    if len(x) < 2:
        return 0.0, float("inf")
    xc = x - x.mean()
    sxx = float(xc @ xc)
    if sxx <= 0:
        return 0.0, float("inf")
    slope = float(xc @ (y - y.mean())) / sxx
    resid = y - y.mean() - slope * xc
    dof = max(len(x) - 2, 1)
    var = max(float(resid @ resid) / dof, sigma ** 2)
    return slope, float(np.sqrt(var / sxx))


def label(x: np.ndarray, y: np.ndarray, fit: np.ndarray, sigma: float, spread: float) -> tuple[str, float, float, float]:
    """(trend, slope, stderr, change) of one phase's bins ``x``, ``y`` and fitted trend ``fit``."""
    slope, se = slope_fit(x, y, sigma)
    change = float(fit[-1] - fit[0]) if len(fit) else 0.0
    span = float(x[-1] - x[0]) if len(x) > 1 else 0.0
    # <=: a perfectly constant phase (no change, no noise) is flat, not "declining"
    flat = abs(change) <= PLATEAU_SHARE * spread or abs(slope) <= SIGNIFICANCE * se or span == 0
    trend = "plateau" if flat else ("rising" if change > 0 else "declining")
    return trend, slope, se, change


def improving(trend: str, direction: str | None) -> bool | None:
    if direction is None:
        return None
    return trend == ("declining" if direction == "lower" else "rising")


def mark_mastery(segments: list[Segment], direction: str | None) -> None:
    """A plateau right after an improving phase is mastery (needs a known direction)."""
    for prev, seg in zip(segments, segments[1:]):
        seg.mastery = seg.trend == "plateau" and bool(improving(prev.trend, direction))
