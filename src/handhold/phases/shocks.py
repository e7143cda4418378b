"""Shocks: a stage switch or a jump that knocks a metric back, and slingshot spikes.

For each: the pre-shock level (``baseline``), the worst value reached (``peak``) and the first
step at which the metric is back at the baseline (``recovered_at``, ``None`` if it never is).
Worse means higher for a metric where lower is better; for a metric of unknown direction, a
jump counts in the direction it goes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import median_filter

from .prepare import Prepared, min_phase
from .segment import Segmentation, _as_step

SIGNIFICANT_SIGMAS = 3.0
SIGNIFICANT_SHARE = 0.02
JUMP_SIGMAS = 5.0


@dataclass
class Shock:
    step: int | float
    peak: float
    baseline: float
    recovered_at: int | float | None
    kind: str  # "switch", "jump" or "spike"

    @property
    def height(self) -> float:
        return self.peak - self.baseline

    def to_dict(self) -> dict:
        return asdict(self)


def _sign(direction: str | None, jump: float) -> float:
    """+1 when up is worse, -1 when down is worse."""
    if direction == "lower":
        return 1.0
    if direction == "higher":
        return -1.0
    return 1.0 if jump >= 0 else -1.0


def _tolerance(prep: Prepared) -> float:
    return max(SIGNIFICANT_SIGMAS * prep.sigma, SIGNIFICANT_SHARE * float(np.ptp(prep.clean)))


def _edge_level(x: np.ndarray, y: np.ndarray, at: float) -> float:
    """A straight line through a few points, read at ``at`` (the level at a segment's edge)."""
    if len(x) < 2 or np.ptp(x) == 0:
        return float(np.mean(y))
    slope, icept = np.polyfit(x, y, 1)
    return float(slope * at + icept)


def break_shocks(seg: Segmentation, direction: str | None) -> list[Shock]:
    """A shock at each stage switch where the metric then gets worse than its pre-switch level,
    and at each detected break where the level jumps the wrong way (a kink is no shock). For a
    metric of unknown direction, a switch too needs a jump: drifting on is no shock."""
    prep = seg.prepared
    tol = _tolerance(prep)
    fixed = set(seg.fixed)
    bounds = seg.bounds()
    # a light median within each segment (never across a break, which would clip the peak)
    smooth = np.concatenate([median_filter(prep.clean[a:b], size=3, mode="nearest") if b - a >= 3
                             else prep.clean[a:b] for a, b in bounds]) if prep.n else prep.clean
    m = min_phase(prep.n)
    # a jump must stand out from the error of two straight lines read at their ends
    jump_tol = max(tol, JUMP_SIGMAS * prep.sigma * np.sqrt(2 * (4 * m - 2) / (m * (m + 1))))
    out = []
    for k, i in enumerate(seg.breaks, start=1):
        (a, _), (_, end) = bounds[k - 1], bounds[k]
        left = slice(max(a, i - m), i)
        right = slice(i, min(end, i + m))
        baseline = _edge_level(prep.x[left], prep.clean[left], prep.x[i - 1])
        jump = _edge_level(prep.x[right], prep.clean[right], prep.x[i]) - baseline
        sign = _sign(direction, jump)
        if (i not in fixed or direction is None) and sign * jump <= jump_tol:
            continue
        worse = sign * (smooth[i:end] - baseline)
        back = np.flatnonzero(worse <= 0)
        stop = i + int(back[0]) if len(back) else end
        j = i + int(np.argmax(worse[: max(stop - i, 1)]))
        if sign * (smooth[j] - baseline) <= tol:
            continue
        later = np.flatnonzero(sign * (smooth[j:] - baseline) <= 0)
        rec = _as_step(prep.first[j + int(later[0])]) if len(later) else None
        out.append(Shock(_as_step(prep.last[i - 1]), float(smooth[j]), baseline, rec,
                         "switch" if i in fixed else "jump"))
    return out


def spike_shocks(prep: Prepared, direction: str | None, raw: tuple[np.ndarray, np.ndarray] | None = None
                 ) -> list[Shock]:
    """The spikes cut out before segmenting, with their raw peak when the raw series is given."""
    out = []
    tol = _tolerance(prep)
    for a, b in prep.spikes:
        baseline = float(np.mean(prep.clean[a:b]))
        jump = float(np.mean(prep.y[a:b])) - baseline
        sign = _sign(direction, jump)
        if sign * jump <= 0:
            continue  # a spike the good way is cleaned out, but it is no shock
        peak = float((prep.y[a:b] * sign).max() * sign)
        if raw is not None:
            steps, values = raw
            lo, hi = np.searchsorted(steps, [prep.first[a], prep.last[b - 1]], side="left")
            hi = np.searchsorted(steps, prep.last[b - 1], side="right")
            if hi > lo:
                peak = float((values[lo:hi] * sign).max() * sign)
        back = np.flatnonzero(np.abs(prep.y[b:] - prep.clean[b:]) <= tol)
        rec = _as_step(prep.first[b + int(back[0])]) if len(back) else None
        step = _as_step(prep.last[a - 1]) if a > 0 else _as_step(prep.first[a])
        out.append(Shock(step, peak, baseline, rec, "spike"))
    return out
