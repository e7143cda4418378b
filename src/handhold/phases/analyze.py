"""The whole reading of a set of curves, as one JSON-ready document.

``analyze(series, stage_switches=...)`` segments every metric, labels each phase, measures
shocks, then looks across metrics for divergences and train/validation grokking. The document
(also what ``handhold analyze --json`` prints)::

    {"metrics": {"<name>": {"changepoints": [step, ...],
                            "segments": [{"start", "end", "trend", "slope", "slope_stderr",
                                          "change", "mastery"}],
                            "shocks": [{"step", "peak", "baseline", "recovered_at", "kind"}],
                            "direction": "lower" | "higher" | null, "points": int,
                            "mastered_at": step | null}},
     "stage_switches": [step, ...],
     "divergences": [{"a", "b", "start", "end", "gap"}],
     "grokking": [{"train", "val", "memorized_at", "generalized_at", "delay", "grokked", "rule",
                   "val_progress_at_memorized", "verdict"}],

     "indicator": [{"signals", "rule", "measurements", "announced_at", "evidence",
                    "val", "val_level", "val_reached_at", "lead"}]}

``indicator``: the leading indicator of generalization (:mod:`handhold.phases.indicator`) on every
run that logs a weight norm and an embedding Gini (``*/weight_norm`` + ``*/gini_embed``), with the
lead over validation accuracy reaching 95% where that is logged too.

``grokked`` is true only for a real delay (see :mod:`handhold.phases.grokking`: accuracies cross an
absolute ``acc_level``, losses a share of their improvement; a pair that moves together is not
grokking).

The sections after ``stage_switches`` are the detectors of :mod:`handhold.phases.registry`, in
its order; the type is :mod:`handhold.phases.document`'s (one place for every reader).

Steps are the series' own steps; a change point is the last step of the phase before it (for
a stage switch, the step of its ``stage_start`` event); consecutive segments share that step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..direction import infer_direction
from .divergence import Track
from .document import check_sections
from .grokking import ACC_LEVEL
from .noise import EFFECT, gate_segments, gate_shocks
from .prepare import MAX_POINTS, Prepared, finite_series, prepare, too_large
from .segment import PENALTY, Segmentation, _as_step, changepoint_steps, segment
from .registry import DETECTORS
from .shocks import Shock, break_shocks, spike_shocks
from .spec import Context
from .trends import Segment, label, mark_mastery

Series = tuple[Any, Any]


@dataclass
class MetricAnalysis:
    name: str
    direction: str | None
    prepared: Prepared
    segmentation: Segmentation
    segments: list[Segment] = field(default_factory=list)
    shocks: list[Shock] = field(default_factory=list)

    @property
    def changepoints(self) -> list[int | float]:
        return changepoint_steps(self.segmentation)

    def track(self) -> Track:
        fit = np.concatenate(self.segmentation.fits) if self.segmentation.fits else self.prepared.clean
        return Track(self.name, self.direction, [(s.start, s.end, s.trend) for s in self.segments],
                     self.prepared.x, fit, self.prepared.sigma, float(np.ptp(self.prepared.clean)))

    def to_dict(self) -> dict[str, Any]:
        mastered = next((s.start for s in self.segments if s.mastery), None)
        return {"changepoints": self.changepoints,
                "segments": [s.to_dict() for s in self.segments],
                "shocks": [s.to_dict() for s in self.shocks],
                "direction": self.direction, "points": self.prepared.n_raw, "mastered_at": mastered}


def analyze_metric(name: str, steps: Any, values: Any, *, switches: Iterable[float] = (),
                   direction: str | None = None, penalty: float = PENALTY,
                   max_points: int = MAX_POINTS) -> MetricAnalysis:
    """Segment, label and find the shocks of one series."""
    raw = finite_series(steps, values)
    problem = too_large(name, raw[1])
    if problem:
        raise ValueError(problem)
    prep = prepare(*raw, switches=switches, max_points=max_points)
    seg = segment(prep, penalty=penalty)
    result = MetricAnalysis(name, direction, prep, seg)
    if prep.n == 0:
        return result
    spread = float(np.ptp(prep.clean))
    for (a, b), fit in zip(seg.bounds(), seg.fits):
        trend, slope, se, change = label(prep.x[a:b], prep.clean[a:b], fit, prep.sigma, spread)
        start = prep.last[a - 1] if a > 0 else prep.first[0]
        result.segments.append(Segment(_as_step(start), _as_step(prep.last[b - 1]), trend, slope,
                                       se if math.isfinite(se) else None, change))
    mark_mastery(result.segments, direction)
    shocks = break_shocks(seg, direction) + spike_shocks(prep, direction, raw)
    result.shocks = sorted(shocks, key=lambda s: s.step)
    return result


def analyze(series: Mapping[str, Series], *, stage_switches: Iterable[float] = (),
            pairs: Iterable[tuple[str, str]] = (), auto_pairs: bool = True,
            directions: Mapping[str, str | None] | None = None, penalty: float = PENALTY,
            max_points: int = MAX_POINTS, acc_level: float = ACC_LEVEL,
            docs: Mapping[str, list[Any]] | None = None, stages: list[dict[str, Any]] | None = None,
            effect: float = EFFECT) -> dict[str, Any]:
    """The document for ``series`` (name -> (steps, values)); see the module docstring.

    ``acc_level``: the accuracy that counts as memorized (train) and generalized (validation).

    ``directions`` overrides the direction read from a name (``"lower"``/``"higher"``);
    ``pairs`` adds (train, val) pairs to the ones found by name when ``auto_pairs``.

    ``docs``: per benchmark key, its evals' per-document scores (:mod:`handhold.doc_scores`): its
    trend labels are stated only where the paired change clears the noise (:mod:`.noise`);
    ``stages``: how each stage ran (name, start, end), for the per-stage sections; ``effect``:
    the change to size the documents needed for.
    """
    switches = sorted({_as_step(s) for s in stage_switches})
    dirs = {k: infer_direction(k) for k in series}
    dirs.update({k: v for k, v in (directions or {}).items() if k in series})
    results = {k: analyze_metric(k, s, v, switches=switches, direction=dirs[k], penalty=penalty,
                                 max_points=max_points) for k, (s, v) in series.items()}
    docs = {k: v for k, v in (docs or {}).items() if k in series and v}
    for k, kd in docs.items():  # a benchmark trend is stated only where it clears the sampling noise
        gate_segments(k, results[k].segments, kd)
        results[k].shocks = gate_shocks(k, results[k].shocks, kd)
        mark_mastery(results[k].segments, dirs[k])
    context = Context(series, results, dirs, {"pairs": list(pairs), "auto_pairs": auto_pairs, "acc_level": acc_level,
                                              "docs": docs, "stages": list(stages or []),
                                              "stage_switches": switches, "effect": effect})
    doc: dict[str, Any] = {"metrics": {k: r.to_dict() for k, r in results.items()}, "stage_switches": switches}
    for name, detector in DETECTORS.items():  # divergences, grokking, the indicator, ... (phases/registry.py)
        doc[name] = detector.run(context)
    return check_sections(_finite(doc))


def _finite(obj: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def analyze_store(store: Any, *, metrics: Iterable[str] | None = None, roles: dict[str, str] | None = None,
                  **kw: Any) -> dict[str, Any]:
    """The document for an open :class:`~handhold.runstore.db.RunStore` (for reports and dashboards).

    ``metrics`` picks keys (names or globs); by default every signal (:mod:`handhold.roles`:
    not the schedule or system metrics; ``roles`` overrides the recorded ones) but per-layer
    internals. Benchmark keys are read with their per-document scores (sampling noise).
    """
    from .sources import from_store, select

    loaded = from_store(store)
    chosen = select(loaded.series, metrics, loaded.origin) if metrics else loaded.default(roles)
    doc = analyze(chosen, stage_switches=loaded.switches, docs=loaded.docs, stages=loaded.stages, **kw)
    doc["stages"] = _finite(loaded.stages)  # how each stage ended (one schema for every writer)
    return doc
