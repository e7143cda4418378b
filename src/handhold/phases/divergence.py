"""Divergence: the same measurement on two families of data moving apart.

Two keys of at least three path parts (a split, a measurement, a family) form a *family
pair* when they differ in exactly one part that is not a train/validation split (``eval/loss/physics`` and ``eval/loss/general``;
``eval/family/reasoning`` and ``eval/family/standard``). Over each stretch where both
segmentations hold one trend, each curve is *improving*, *flat* or *worsening* (by its
direction; by rising/falling when the direction is unknown). Where the two differ they move
apart; the gap is how much further one improved than the other over the stretch, in the
metric's own units.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import combinations
from typing import TypedDict, Union

import numpy as np

from .grokking import split_role

from .spec import Context

GAP_SHARE = 0.05  # a gap smaller than this share of the larger range is not reported
GAP_SIGMAS = 3.0


class DivergenceDoc(TypedDict):
    """One entry of the document's ``divergences`` section."""
    a: str
    b: str
    start: Union[int, float]
    end: Union[int, float]
    gap: float


@dataclass
class Divergence:
    a: str  # the one that pulled ahead (improved more)
    b: str
    start: int | float
    end: int | float
    gap: float  # a's improvement minus b's over [start, end], in the metric's units

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Track:
    """What divergence needs of one analysed metric."""

    name: str
    direction: str | None
    bounds: list[tuple[float, float, str]]  # (start step, end step, trend) per segment
    x: np.ndarray  # step of each bin
    fit: np.ndarray  # fitted trend value of each bin
    sigma: float
    spread: float

    def value(self, step: float) -> float:
        return float(np.interp(step, self.x, self.fit))

    def trend_at(self, step: float) -> str:
        for start, end, trend in self.bounds:
            if start <= step <= end:
                return trend
        return "plateau"

    def goodness(self, trend: str) -> int:
        move = {"rising": 1, "plateau": 0, "declining": -1}[trend]
        return -move if self.direction == "lower" else move

    def sign(self) -> float:
        return -1.0 if self.direction == "lower" else 1.0


def family_pairs(keys: list[str], directions: dict[str, str | None]) -> list[tuple[str, str]]:
    """Keys of 3+ parts that differ in one part (not a train/val split) and share a direction
    (``internal/weight_norm`` and ``internal/update_ratio`` are two measurements, not families)."""
    out = []
    for a, b in combinations(sorted(keys), 2):
        pa, pb = a.split("/"), b.split("/")
        if len(pa) != len(pb) or len(pa) < 3 or directions.get(a) != directions.get(b):
            continue
        diff = [i for i, (x, y) in enumerate(zip(pa, pb)) if x != y]
        if len(diff) != 1:
            continue
        i = diff[0]
        if split_role(pa[i]) or split_role(pb[i]):
            continue
        out.append((a, b))
    return out


def divergences(ta: Track, tb: Track) -> list[Divergence]:
    lo = max(ta.bounds[0][0], tb.bounds[0][0])
    hi = min(ta.bounds[-1][1], tb.bounds[-1][1])
    if hi <= lo:
        return []
    cuts = sorted({lo, hi} | {s for s, _, _ in ta.bounds + tb.bounds if lo < s < hi})
    spans: list[tuple[float, float, int]] = []  # (start, end, +1 if a leads, -1 if b leads)
    for u, v in zip(cuts[:-1], cuts[1:]):
        mid = (u + v) / 2
        ga, gb = ta.goodness(ta.trend_at(mid)), tb.goodness(tb.trend_at(mid))
        if ga == gb:
            continue
        lead = 1 if ga > gb else -1
        if spans and spans[-1][1] == u and spans[-1][2] == lead:
            spans[-1] = (spans[-1][0], v, lead)
        else:
            spans.append((u, v, lead))
    threshold = max(GAP_SHARE * max(ta.spread, tb.spread), GAP_SIGMAS * (ta.sigma + tb.sigma))
    out = []
    for u, v, lead in spans:
        da = ta.sign() * (ta.value(v) - ta.value(u))
        db = tb.sign() * (tb.value(v) - tb.value(u))
        gap = da - db
        if gap * lead <= 0 or abs(gap) < threshold:
            continue
        first, second = (ta, tb) if gap > 0 else (tb, ta)
        out.append(Divergence(first.name, second.name, _num(u), _num(v), float(abs(gap))))
    return out


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def divergence_pairs(context: Context) -> list[tuple[str, str]]:
    """The family pairs among the metrics with a trend (what the detector needs)."""
    return family_pairs(list(context.usable), context.directions)


def divergence_entries(context: Context, pair: tuple[str, ...]) -> list[dict]:
    """The pair's divergences; between benchmark curves, only those whose gap clears the paired
    sampling noise of both and that join no two suites (:func:`.noise.divergence_clears`)."""
    from .noise import divergence_clears

    a, b = (context.usable[k] for k in pair)
    docs = context.options.get("docs") or {}
    found = divergences(a.track(), b.track())
    if any(k in docs for k in pair):
        found = [d for d in found if divergence_clears(docs, d.a, d.b, d.start, d.end, d.gap)]
    return [d.to_dict() for d in found]
