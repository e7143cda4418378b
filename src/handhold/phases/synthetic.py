"""Labeled synthetic curves: known break points, trends, shocks and grokking steps.

Used by the tests and by ``benchmarks/phases_suite.py`` to score the detectors the way ruptures
scores its own (precision/recall of break points within a margin). Every curve is reproducible
from its seed. Noise is Gaussian with a standard deviation given as a share of the clean
curve's range. The truths are defined on the clean curve:

- a *break* is the last step of the phase before it;
- *trend* of a phase is ``plateau`` for a zero slope, else ``rising``/``declining``;
- grokking steps are where each clean accuracy first reaches 0.99, and where each clean loss first
  reaches 90% of its own improvement (a validation loss that improves less than half as much as
  train not generalizing) — the definition (:mod:`handhold.phases.grokking`) the detector applies
  to noisy data; co-moving pairs (train and validation improving together) are not grokking.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TRENDS = ("rising", "plateau", "declining")


@dataclass
class Curve:
    name: str
    family: str
    steps: np.ndarray
    values: np.ndarray
    breaks: list[float]  # true change points, not counting known switches
    phases: list[tuple[float, float, str]]  # (start, end, trend) of each true phase
    switches: list[float] = field(default_factory=list)  # known stage switches (given)
    spikes: list[float] = field(default_factory=list)  # steps where a spike was injected
    noise: float = 0.0
    direction: str | None = None
    recovered_at: float | None = None  # for a switch: first step back at the pre-switch level

    @property
    def length(self) -> float:
        return float(self.steps[-1] - self.steps[0])


@dataclass
class GrokPair:
    name: str
    steps: np.ndarray
    train: np.ndarray
    val: np.ndarray
    memorized_at: float
    generalized_at: float | None
    kind: str  # "acc" or "loss"
    spikes: list[float] = field(default_factory=list)


def _noisy(rng: np.random.Generator, clean: np.ndarray, noise: float) -> np.ndarray:
    scale = float(np.ptp(clean)) or 1.0
    return clean + noise * scale * rng.standard_normal(len(clean))


def piecewise(rng: np.random.Generator, n: int, noise: float, *, jumps: bool = False) -> Curve:
    """2-4 straight phases, each a different trend from the one before, joined by kinks (or,
    with ``jumps``, by level shifts of at least 40% of the range)."""
    k = int(rng.integers(2, 5))
    shares = rng.dirichlet(np.full(k, 4.0))
    while shares.min() < 0.15:
        shares = rng.dirichlet(np.full(k, 4.0))
    ends = np.round(np.cumsum(shares) * n).astype(int)
    ends[-1] = n
    trends = [str(rng.choice(TRENDS))]
    for _ in range(k - 1):
        trends.append(str(rng.choice([t for t in TRENDS if t != trends[-1] or jumps])))
    t = np.arange(n, dtype=np.float64)
    y = np.empty(n)
    level, start, phases, breaks = 0.0, 0, [], []
    for i, (end, trend) in enumerate(zip(ends, trends)):
        if i and jumps:
            level += float(rng.choice([-1, 1]) * rng.uniform(0.4, 1.0))
        change = {"rising": 1.0, "plateau": 0.0, "declining": -1.0}[trend] * rng.uniform(0.5, 1.0)
        y[start:end] = level + change * (t[start:end] - start + (0 if jumps or i == 0 else 1)) / (end - start)
        level = y[end - 1]
        phases.append((float(start), float(end - 1), trend))
        if i < k - 1:
            breaks.append(float(end - 1))
        start = end
    family = "jumps" if jumps else "kinks"
    return Curve(f"{family}-n{n}-s{noise}", family, t, _noisy(rng, y, noise), breaks, phases, noise=noise)


def null_curve(rng: np.random.Generator, n: int, noise: float, kind: str) -> Curve:
    """One phase, nothing to find: ``flat``, ``linear``, ``power`` (a learning curve) or ``log``."""
    t = np.arange(n, dtype=np.float64)
    sign = float(rng.choice([-1, 1]))
    if kind == "flat":
        y, trend = np.full(n, float(rng.uniform(0.5, 2))), "plateau"
    elif kind == "linear":
        y = sign * t / n
        trend = "rising" if sign > 0 else "declining"
    elif kind == "power":
        b, h = rng.uniform(0.2, 1.5), n * 10 ** rng.uniform(-3, -0.5)
        y = 2.0 + sign * 3.0 * (t + h) ** -b / h ** -b
        trend = "declining" if sign > 0 else "rising"
    elif kind == "log":
        y = sign * np.log1p(t / (n * 10 ** rng.uniform(-3, -1)))
        trend = "rising" if sign > 0 else "declining"
    else:
        raise ValueError(kind)
    return Curve(f"null-{kind}-n{n}-s{noise}", f"null-{kind}", t, _noisy(rng, y, noise), [],
                 [(0.0, float(n - 1), trend)], noise=noise)


def with_spikes(rng: np.random.Generator, curve: Curve, count: int = 2) -> Curve:
    """Add slingshot-style spikes (0.5% of the length, 1-2 ranges high): shocks, not phases."""
    n = len(curve.values)
    width = max(1, n // 200)
    y = curve.values.copy()
    scale = float(np.ptp(y)) or 1.0
    where = []
    for pos in np.sort(rng.choice(np.arange(n // 10, n - n // 10 - width), size=count, replace=False)):
        if where and pos - where[-1] < n // 10:
            continue
        y[pos:pos + width] += rng.uniform(1.0, 2.0) * scale
        where.append(int(pos))
    return Curve(curve.name + "-spiky", curve.family + "+spikes", curve.steps, y, curve.breaks,
                 curve.phases, curve.switches, [float(curve.steps[p]) for p in where], curve.noise,
                 curve.direction)


def switch_curve(rng: np.random.Generator, n: int, noise: float) -> Curve:
    """A loss through a known stage switch: power-law decay, a jump up, then a decay that gets
    back below the pre-switch level (``recovered_at``) on its way to a lower floor."""
    t = np.arange(n, dtype=np.float64)
    s = int(n * rng.uniform(0.35, 0.65))
    y = 1.0 + 3.0 * (t + n / 100) ** -0.5 / (n / 100) ** -0.5
    jump, h = rng.uniform(0.5, 1.5), n / 200
    pre, floor = y[s], y[s] - 0.3 * jump
    after = t > s
    y[after] = floor + (pre + jump - floor) * ((t[after] - s) / h + 1) ** -0.7
    back = t[after][y[after] <= pre]
    phases = [(0.0, float(s), "declining"), (float(s), float(n - 1), "declining")]
    return Curve(f"switch-n{n}-s{noise}", "switch", t, _noisy(rng, y, noise), [], phases,
                 switches=[float(s)], noise=noise, direction="lower",
                 recovered_at=float(back[0]) if len(back) else None)


def labeled_suite(seed: int = 0, lengths: tuple[int, ...] = (50, 200, 1000, 10_000, 100_000),
                  noises: tuple[float, ...] = (0.01, 0.03, 0.06), per_cell: int = 2) -> list[Curve]:
    """Every family at every length and noise level, ``per_cell`` curves each."""
    rng = np.random.default_rng(seed)
    out: list[Curve] = []
    for n in lengths:
        for noise in noises:
            for _ in range(per_cell):
                out.append(piecewise(rng, n, noise))
                out.append(piecewise(rng, n, noise, jumps=True))
                for kind in ("flat", "linear", "power", "log"):
                    out.append(null_curve(rng, n, noise, kind))
                if n >= 200:
                    out.append(with_spikes(rng, null_curve(rng, n, noise, "power")))
                    out.append(switch_curve(rng, n, noise))
    return out


def _logistic(t: np.ndarray, center: float, width: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(t - center) / width))


def grokking_pair(rng: np.random.Generator, n: int, *, kind: str = "acc", grok: bool = True,
                  noise: float = 0.02, spikes: int = 1) -> GrokPair:
    """Train memorizes early (logistic at 2-10% of the run); validation jumps late (40-80%), or,
    with ``grok=False``, creeps to a third of the way. Spikes: brief collapses after memorizing.

    Accuracies are evaluation accuracies on a fixed set (the lab's, the literature's): their noise
    is a tenth of ``noise`` and they stay in [0, 1]; their truths are the first steps at
    ``ACC_LEVEL`` of the clean curves. Losses keep ``noise`` and the share-of-improvement truths.
    """
    from .grokking import ACC_LEVEL, LEVEL, MIN_SHARE, first_at_level, reach_step

    t = np.arange(n, dtype=np.float64)
    tm, tg = n * rng.uniform(0.02, 0.1), n * rng.uniform(0.4, 0.8)
    train_acc = 0.01 + 0.99 * _logistic(t, tm, n * 0.005)
    val_acc = 0.01 + (0.99 if grok else 0.3) * _logistic(t, tg, n * rng.uniform(0.01, 0.03))
    if kind == "acc":
        train_c, val_c, lower = train_acc, val_acc, False
        mem, gen = first_at_level(t, train_c, ACC_LEVEL), first_at_level(t, val_c, ACC_LEVEL)
        train, val = _noisy(rng, train_c, noise / 10), _noisy(rng, val_c, noise / 10)
    else:  # a cross-entropy-like loss of the same story
        train_c, val_c, lower = -np.log(np.clip(train_acc, 1e-3, 1)), -np.log(np.clip(val_acc, 1e-3, 1)), True
        mem, t0, t1 = reach_step(t, train_c, lower, LEVEL)
        gen, v0, v1 = reach_step(t, val_c, lower, LEVEL)
        if abs(v1 - v0) < MIN_SHARE * abs(t1 - t0):
            gen = None
        train, val = _noisy(rng, train_c, noise), _noisy(rng, val_c, noise)
    where = []
    for _ in range(spikes):
        pos = int(rng.uniform(tm + n * 0.1, n * 0.95))
        width = max(1, n // 300)
        bump = 0.5 * float(np.ptp(train_c))
        for arr in (train, val):
            arr[pos:pos + width] += bump if lower else -bump
        where.append(float(pos))
    if kind == "acc":
        train, val = np.clip(train, 0, 1), np.clip(val, 0, 1)
    return GrokPair(f"grok-{kind}-n{n}-{'grok' if grok else 'none'}", t, train, val, mem, gen, kind, where)


def co_moving_pair(rng: np.random.Generator, n: int, *, kind: str = "loss", noise: float = 0.02,
                   lag: float = 0.05) -> GrokPair:
    """An ordinary fine-tune: train and validation improve together (validation ``lag`` of the run
    behind and a little worse), as a Hugging Face ``Trainer`` logs them. Not grokking."""
    t = np.arange(n, dtype=np.float64)
    tau = n * rng.uniform(0.05, 0.2)
    train_c = 0.3 + 2.0 * np.exp(-t / tau)
    val_c = 0.45 + 2.0 * np.exp(-np.maximum(t - lag * n, 0) / (tau * 1.1))
    if kind == "acc":
        train_c, val_c = 1 - (train_c - 0.3) / 2.0 * 0.99, 0.97 - (val_c - 0.45) / 2.0 * 0.95
    lower = kind == "loss"
    train = _noisy(rng, train_c, noise if lower else noise / 10)
    val = _noisy(rng, val_c, noise if lower else noise / 10)
    return GrokPair(f"co-moving-{kind}-n{n}", t, train, val, float("nan"), None, kind)


def grokking_suite(seed: int = 0, lengths: tuple[int, ...] = (1000, 10_000, 100_000), per_cell: int = 3
                   ) -> list[GrokPair]:
    rng = np.random.default_rng(seed)
    return [grokking_pair(rng, n, kind=kind, grok=grok)
            for n in lengths for kind in ("acc", "loss") for grok in (True, False) for _ in range(per_cell)]


# ------------------------------------------------------------------------------ scoring
def match(truth: list[float], found: list[float], margin: float) -> int:
    """True positives: one-to-one pairs closer than ``margin``, greedily by distance (as
    ``ruptures.metrics.precision_recall`` counts them, without its end-of-signal convention)."""
    pairs = sorted((abs(t - f), i, j) for i, t in enumerate(truth) for j, f in enumerate(found)
                   if abs(t - f) <= margin)
    used_t, used_f, tp = set(), set(), 0
    for _, i, j in pairs:
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
            tp += 1
    return tp


def f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """(precision, recall, F1); 1.0 where there was nothing to find or nothing found."""
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)
