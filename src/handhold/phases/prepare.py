"""Turn a raw metric series into what the detectors read: few points, a noise level, no spikes.

A million-point loss curve is reduced to at most ``max_points`` bin means (vectorised, O(N)), so
every later step costs the same whatever the length. The noise level comes from second
differences (a linear trend has none), and short excursions well above the noise — slingshot
spikes, a corrupted value — are cut out with a running median and reported as shocks: they
are events, not phases.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAX_POINTS = 400
# curves analysed in one call: ~10-30 ms each, so a source of a million metrics stays a few seconds
MAX_METRICS = 200
SPIKE_SIGMAS = 6.0
SPIKE_SHARE = 0.1
# beyond this magnitude the fits square values past the float range (1e308): refuse, don't guess
MAX_MAGNITUDE = 1e150


@dataclass
class Prepared:
    """A series reduced to ``n`` bins. ``first``/``last`` are the raw steps each bin covers;
    no bin straddles a known stage switch, and ``fixed`` are the bins where a new stage starts."""

    x: np.ndarray  # (n,) mean step of each bin
    y: np.ndarray  # (n,) mean value of each bin
    first: np.ndarray  # (n,) first raw step in the bin
    last: np.ndarray  # (n,) last raw step in the bin
    clean: np.ndarray  # (n,) y with spikes replaced by the running median
    sigma: float  # noise standard deviation of y (the bin means)
    spikes: list[tuple[int, int]] = field(default_factory=list)  # bin index ranges [i, j)
    fixed: list[int] = field(default_factory=list)  # first bin of each stage after the first
    n_raw: int = 0

    @property
    def n(self) -> int:
        return len(self.y)

    def stages(self) -> list[tuple[int, int]]:
        edges = [0, *self.fixed, self.n]
        return list(zip(edges[:-1], edges[1:]))


def finite_series(steps: object, values: object) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values as float arrays, missing and non-finite values dropped, step-ordered."""
    s = np.asarray(steps, dtype=np.float64)
    v = np.asarray([np.nan if x is None else x for x in values] if isinstance(values, list) else values,
                   dtype=np.float64)
    keep = np.isfinite(s) & np.isfinite(v)
    s, v = s[keep], v[keep]
    if len(s) > 1 and np.any(np.diff(s) < 0):
        order = np.argsort(s, kind="stable")
        s, v = s[order], v[order]
    return s, v


def too_large(name: str, values: np.ndarray) -> str | None:
    """Why ``values`` cannot be analysed (magnitudes past MAX_MAGNITUDE), or ``None``."""
    finite = np.abs(values[np.isfinite(values)])
    peak = float(finite.max()) if finite.size else 0.0
    if peak > MAX_MAGNITUDE:
        return f"metric {name!r}: values as large as {peak:.3g} are too large to analyse (at most {MAX_MAGNITUDE:.0e})"
    return None


def bin_edges(n: int, max_points: int, splits: list[int]) -> np.ndarray:
    """Raw-index edges of at most about ``max_points`` bins, with an edge at every split."""
    bounds = [0, *splits, n]
    if n <= max_points:
        return np.arange(n + 1)
    parts = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        k = min(b - a, max(1, round(max_points * (b - a) / n)))
        parts.append(np.linspace(a, b, k + 1).astype(np.int64)[:-1])
    return np.concatenate([*parts, [n]])


def bin_means(steps: np.ndarray, values: np.ndarray, edges: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, first, last): the raw points between consecutive ``edges`` averaged (O(N), numpy)."""
    if len(edges) == len(values) + 1:
        return steps.copy(), values.copy(), steps.copy(), steps.copy()
    counts = np.diff(edges)
    x = np.add.reduceat(steps, edges[:-1]) / counts
    y = np.add.reduceat(values, edges[:-1]) / counts
    return x, y, steps[edges[:-1]], steps[edges[1:] - 1]


def noise_sigma(y: np.ndarray, stages: list[tuple[int, int]] | None = None) -> float:
    """Robust noise std from second differences (zero for any straight line), within stages."""
    parts = [np.diff(y[a:b], 2) for a, b in (stages or [(0, len(y))]) if b - a >= 3]
    d2 = np.concatenate(parts) if parts else np.array([])
    if len(d2) < 2:
        return 0.0
    mad = np.median(np.abs(d2 - np.median(d2)))
    return float(1.4826 * mad / np.sqrt(6.0))

def find_spikes(y: np.ndarray, sigma: float, max_width: int, *, sigmas: float = SPIKE_SIGMAS
                ) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Runs of at most ``max_width`` points standing more than ``sigmas`` noise levels off the
    running median (which keeps steps and monotone stretches intact). Returns the runs and the
    series with them replaced by the running median."""
    n = len(y)
    if n < 5 or max_width < 1:
        return [], y.copy()
    window = 2 * max_width + 1
    if window > n:
        window = n if n % 2 else n - 1
    from scipy.ndimage import median_filter  # here: the detector registry loads without scipy

    med = median_filter(y, size=window, mode="nearest")
    resid = y - med
    floor = sigma if sigma > 0 else float(np.median(np.abs(resid))) * 1.4826
    if floor <= 0:
        floor = 1e-12 * max(1.0, float(np.max(np.abs(y))))
    # a spike stands out from the noise and from the curve's own scale (a corner of two ramps
    # is clipped a little by the median, but not by a tenth of the range)
    flagged = np.abs(resid) > max(sigmas * floor, SPIKE_SHARE * float(np.ptp(med)))
    runs: list[tuple[int, int]] = []
    if flagged.any():
        edges = np.flatnonzero(np.diff(np.concatenate(([0], flagged.view(np.int8), [0]))))
        for i, j in zip(edges[::2], edges[1::2]):
            if j - i <= max_width:
                runs.append((int(i), int(j)))
    clean = y.copy()
    for i, j in runs:
        clean[i:j] = med[i:j]
    return runs, clean


def min_phase(n: int) -> int:
    """The shortest phase, in bins: shorter excursions are shocks, not phases."""
    return max(4, n // 40)


def prepare(steps: object, values: object, switches: object = (), max_points: int = MAX_POINTS
            ) -> Prepared:
    """Bin (never across a switch), estimate the noise, cut out spikes within each stage."""
    s, v = finite_series(steps, values)
    splits = sorted({int(i) for i in np.searchsorted(s, np.asarray(list(switches), float), side="right")
                     if 0 < i < len(s)})
    edges = bin_edges(len(s), max_points, splits)
    x, y, first, last = bin_means(s, v, edges)
    fixed = [int(np.searchsorted(edges, i)) for i in splits]
    stages = list(zip([0, *fixed], [*fixed, len(y)]))
    sigma = noise_sigma(y, stages)
    max_width = min_phase(len(y)) - 1
    spikes: list[tuple[int, int]] = []
    clean = y.copy()
    for a, b in stages:
        runs, clean[a:b] = find_spikes(y[a:b], sigma, max_width)
        spikes += [(a + i, a + j) for i, j in runs]
    if spikes:
        sigma = noise_sigma(clean, stages)
    return Prepared(x=x, y=y, first=first, last=last, clean=clean, sigma=sigma, spikes=spikes,
                    fixed=fixed, n_raw=len(v))


def as_step(v: float) -> int | float:
    """A step as the series wrote it: an integer when it is one."""
    f = float(v)
    return int(f) if f.is_integer() else f
