"""Change points: where a curve stops being one phase.

A *phase* is a stretch a single decelerating trend explains: ``a + b * (t + h) ** p`` with
``p <= 1`` (``p = 0`` meaning ``log``), time ``t`` counted from the phase's start. That family
holds flat, straight, logarithmic and power-law curves — learning curves slow down — so a smooth
power-law loss is one phase. A kink, a jump, a take-off (a curve that speeds up) or a turn
(up, then down) is not explained by one member, and splitting there pays.

The cost (:class:`DeceleratingCost`) is a ruptures cost, kept separate from the search as in
ruptures; the search is ruptures' binary segmentation with a BIC-like penalty in units of the
estimated noise, plus a floor so that noise-free curves are not split over rounding-level
misfits. Known stage switches are fixed break points: each stage is segmented on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ruptures as rpt
from ruptures.base import BaseCost
from ruptures.exceptions import BadSegmentationParameters

from .prepare import MAX_POINTS, Prepared, min_phase, noise_sigma, prepare
from .prepare import as_step as _as_step

POWERS = (1.0, 0.75, 0.5, 0.25, 0.0, -0.25, -0.5, -0.75, -1.0, -1.5, -2.0, -3.0)
PENALTY = 4.0  # BIC multiplier: a split must remove penalty * sigma^2 * log(n) of squared error
OVERSPLIT = 4.0  # the greedy pass splits at a quarter of the penalty
FLOOR = 0.015  # ... and at least (FLOOR * range)^2 per point of the stretch it splits


class DeceleratingCost(BaseCost):
    """Squared error of the best ``a + b * g(t)`` on a segment, over a grid of decelerating
    shapes ``g(t) = (t + h) ** p`` (``log(t + h)`` for ``p = 0``), ``t`` in points from the
    segment start. Prefix sums make the shape sums O(1); only ``sum(g * y)`` costs O(length)."""

    model = "decelerating"

    def __init__(self, powers: tuple[float, ...] = POWERS, min_size: int = 3) -> None:
        self.powers = powers
        self.min_size = min_size
        self.signal: np.ndarray | None = None

    def fit(self, signal: np.ndarray) -> DeceleratingCost:
        y = np.asarray(signal, dtype=np.float64).reshape(len(signal), -1)[:, 0]
        self.signal = y
        n = len(y)
        j = np.arange(n, dtype=np.float64)
        offsets = 2.0 ** np.arange(-1, max(1, int(np.ceil(np.log2(max(n, 2)))) + 1))
        rows = [j + 1.0]  # p = 1: the offset does not matter
        for p in self.powers:
            if p == 1.0:
                continue
            for h in offsets:
                g = np.log(j + h) if p == 0.0 else (j + h) ** p
                top = np.max(np.abs(g))
                # log(j + 1) on a single point is 0 everywhere: a flat shape, left unscaled
                # (error() skips shapes without variance), never divided by its zero maximum
                rows.append(g / top if top > 0 else g)
        self.table = np.vstack(rows)  # (K, n)
        zero = np.zeros((len(rows), 1))
        self.s1 = np.hstack([zero, np.cumsum(self.table, axis=1)])
        self.s2 = np.hstack([zero, np.cumsum(self.table ** 2, axis=1)])
        self.y1 = np.concatenate([[0.0], np.cumsum(y)])
        self.y2 = np.concatenate([[0.0], np.cumsum(y ** 2)])
        return self

    def error(self, start: int, end: int) -> float:
        L = end - start
        if L < 2:
            return 0.0
        sy = self.y1[end] - self.y1[start]
        vy = (self.y2[end] - self.y2[start]) - sy * sy / L
        sg, sgg = self.s1[:, L], self.s2[:, L]
        vg = sgg - sg * sg / L
        cgy = self.table[:, :L] @ self.signal[start:end] - sg * sy / L
        ok = vg > 1e-12 * np.maximum(sgg, 1e-300)
        explained = np.max(np.where(ok, cgy * cgy / np.where(ok, vg, 1.0), 0.0))
        return float(max(vy - explained, 0.0))

    def fitted(self, start: int, end: int) -> np.ndarray:
        """The best trend's values on ``[start, end)`` (for levels at boundaries and shocks)."""
        y = self.signal[start:end]
        L = end - start
        if L < 3:
            return np.full(L, float(np.mean(y)))
        g = self.table[:, :L]
        gc = g - g.mean(axis=1, keepdims=True)
        yc = y - y.mean()
        vg = np.einsum("ij,ij->i", gc, gc)
        ok = vg > 1e-12
        cgy = gc @ yc
        score = np.where(ok, cgy * cgy / np.where(ok, vg, 1.0), -1.0)
        k = int(np.argmax(score))
        if score[k] <= 0:
            return np.full(L, float(y.mean()))
        return y.mean() + gc[k] * (cgy[k] / vg[k])


@dataclass
class Segmentation:
    """Break points as bin indices into a :class:`Prepared` series (each a segment's start)."""

    prepared: Prepared
    breaks: list[int]  # bin indices where a new segment starts, sorted, excluding 0
    fixed: list[int]  # the subset that are known stage switches
    fits: list[np.ndarray]  # fitted trend per segment (standardised back to value units)

    def bounds(self) -> list[tuple[int, int]]:
        edges = [0, *self.breaks, self.prepared.n]
        return list(zip(edges[:-1], edges[1:]))


class Segmenter:
    """Change-point estimator: ``fit(steps, values, switches=()) -> self``, ``predict() -> [step]``.

    ``penalty`` scales the BIC-like price of a break (higher: fewer breaks); ``switches`` are
    known stage switches (steps), used as fixed break points. ``update(step, value)`` appends
    a point for online use; ``predict()`` then re-reads everything seen so far.
    """

    def __init__(self, *, penalty: float = PENALTY, floor: float = FLOOR,
                 max_points: int = MAX_POINTS) -> None:
        self.penalty = penalty
        self.floor = floor
        self.max_points = max_points
        self._steps: list[float] = []
        self._values: list[float] = []
        self._switches: tuple[float, ...] = ()
        self.result: Segmentation | None = None

    def fit(self, steps: object, values: object, switches: object = ()) -> Segmenter:
        self._steps, self._values = list(np.asarray(steps, float)), list(np.asarray(values, float))
        self._switches = tuple(float(s) for s in switches)
        self.result = segment(prepare(self._steps, self._values, self._switches, self.max_points),
                              penalty=self.penalty, floor=self.floor)
        return self

    def update(self, step: float, value: float) -> Segmenter:
        self._steps.append(float(step))
        self._values.append(float(value))
        self.result = None
        return self

    def predict(self) -> list[int | float]:
        """Change points as steps: the last step of the phase that ends there."""
        if self.result is None:
            self.fit(self._steps, self._values, self._switches)
        return changepoint_steps(self.result)


def segment(prep: Prepared, *, penalty: float = PENALTY, floor: float = FLOOR) -> Segmentation:
    """Segment each stage of ``prep.clean`` with binary segmentation on :class:`DeceleratingCost`."""
    n = prep.n
    y = prep.clean
    center = float(np.mean(y)) if n else 0.0
    scale = float(np.std(y)) or 1.0
    z = (y - center) / scale
    sigma = prep.sigma / scale
    spread = float(np.ptp(z)) if n else 0.0
    min_size = min_phase(n)
    breaks = set(prep.fixed)
    for a, b in prep.stages():
        # each stage its own noise level: a stage that samples a source less is noisier on it
        local = noise_sigma(prep.clean[a:b]) / scale if b - a >= 3 * min_size else sigma
        breaks.update(a + i for i in _split(z[a:b], local, spread, n, min_size, penalty, floor))
    ordered = sorted(breaks)
    cost = DeceleratingCost().fit(z) if n else None
    fits = [cost.fitted(a, b) * scale + center if cost is not None else np.array([])
            for a, b in zip([0, *ordered], [*ordered, n])]
    return Segmentation(prepared=prep, breaks=ordered, fixed=list(prep.fixed), fits=fits)


def _split(z: np.ndarray, sigma: float, spread: float, n_total: int, min_size: int,
           penalty: float, floor: float) -> list[int]:
    n = len(z)
    if n < 2 * min_size:
        return []
    pen = max(penalty * sigma ** 2 * np.log(max(n_total, 3)), (floor * spread) ** 2 * n)
    if pen <= 0:
        pen = 1e-12
    cost = DeceleratingCost(min_size=min_size)
    algo = rpt.Binseg(custom_cost=cost, min_size=min_size, jump=1 if n <= 100 else 2)
    try:  # over-segment greedily, then merge back what does not pay (bottom-up beats top-down)
        bkps = algo.fit(z).predict(pen=pen / OVERSPLIT)
    except BadSegmentationParameters:
        return []
    return _prune(cost, [0, *bkps], pen, min_size) if len(bkps) > 1 else []


def _prune(cost: DeceleratingCost, edges: list[int], pen: float, min_size: int) -> list[int]:
    """The best penalised partition whose breaks lie near the greedy pass's breaks (exact over
    those candidates): it drops breaks that do not pay and moves the rest to their best place,
    together, which one-at-a-time moves cannot (two breaks hugging one jump)."""
    n = edges[-1]
    reach = max(1, min_size // 2)
    cands = sorted({c for b in edges[1:-1] for c in range(b - reach, b + reach + 1)
                    if min_size <= c <= n - min_size} | {0, n})
    best = {0: (0.0, -1)}
    for j in cands[1:]:
        options = [(best[i][0] + cost.error(i, j) + pen, i) for i in cands
                   if i in best and j - i >= min_size]
        if options:
            best[j] = min(options)
    out, j = [], n
    while j > 0:
        j = best[j][1]
        if j > 0:
            out.append(j)
    return sorted(out)


def changepoint_steps(seg: Segmentation) -> list[int | float]:
    """Each break as the last raw step of the phase before it (a stage switch's own step)."""
    return [_as_step(seg.prepared.last[i - 1]) for i in seg.breaks]
