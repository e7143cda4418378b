"""Sampling noise in the reading of benchmark curves: a trend is stated only where it clears it.

A benchmark curve is a mean over a fixed set of documents, scored again at every eval. Between
two evals of the same documents the change is tested **paired** (each bootstrap draw resamples
the documents once for both evals, :func:`handhold.doc_scores.paired`): a document's own
difficulty cancels, so the interval is far tighter than two independent ones, yet a 5-point
wobble of 32 documents still does not clear it.

- :func:`gate_segments`: a rising or declining segment of a benchmark key whose paired change
  (first to last eval of the segment) does not clear its 95% interval becomes a plateau, with
  ``reading`` "within noise (±x at N documents)";
- :func:`changes_entries` (the ``benchmark_changes`` section): per family key and stage, start →
  end, the paired interval of the change, the documents behind it and the documents needed to
  see a change of ``effect`` (5 points unless asked);
- :func:`divergence_clears`: a divergence between two benchmark keys stands only where the
  gap between their paired changes clears both their noises.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Optional, TypedDict, Union

from ..doc_scores import DocScores, needed, paired
from ..stats import PairedChange
from .spec import Context

Step = Union[int, float]
EFFECT = 0.05  # the change a reader asks "how many documents to see it?" about (5 points)


def evals_between(docs: Sequence[DocScores], start: float, end: float) -> tuple[DocScores, DocScores] | None:
    """The evals that bound ``[start, end]``: the last at or before ``start`` (else the first
    after it) and the last at or before ``end``; ``None`` when that is one eval."""
    if not docs:
        return None
    before = [d for d in docs if d.step <= start]
    first = before[-1] if before else next((d for d in docs if d.step >= start), None)
    upto = [d for d in docs if d.step <= end]
    last = upto[-1] if upto else None
    if first is None or last is None or last.step <= first.step:
        return None
    return first, last


def change_over(docs: Sequence[DocScores], key: str, start: float, end: float) -> PairedChange | None:
    """The paired change of ``key`` over ``[start, end]`` (``None``: no two evals of the same
    documents bound it)."""
    pair = evals_between(docs, start, end)
    return None if pair is None else paired(pair[0], pair[1], key)


def within_noise(change: PairedChange) -> str:
    return f"within noise (±{change.half_width:.3g} at {change.n} documents)"


def stated(change: PairedChange) -> str:
    return (f"{change.change:+.3g} (paired 95% {change.lo:+.3g} to {change.hi:+.3g}, "
            f"{change.n} documents)")


class NoiseDoc(TypedDict):
    """A segment's paired test (the ``noise`` field of a segment of a benchmark key)."""
    from_step: Step
    to_step: Step
    change: float
    lo: float
    hi: float
    n_docs: int
    clears: bool
    reading: str


def gate_segments(name: str, segments: list[Any], docs: Sequence[DocScores]) -> None:
    """Test every rising/declining segment of benchmark key ``name`` paired; one that does not
    clear the noise (or moves the other way) becomes a plateau. Sets ``segment.noise``."""
    for seg in segments:
        pair = evals_between(docs, seg.start, seg.end)
        change = None if pair is None else paired(pair[0], pair[1], name)
        if change is None or not math.isfinite(change.lo):
            continue
        moved = seg.trend in ("rising", "declining")
        agrees = change.clears and (change.change > 0) == (seg.trend == "rising")
        if moved and not agrees:
            seg.trend = "plateau"
        reading = stated(change) if moved and agrees else within_noise(change) if not change.clears else (
            stated(change))
        seg.noise = {"from_step": pair[0].step, "to_step": pair[1].step, "change": change.change,
                     "lo": change.lo, "hi": change.hi, "n_docs": change.n, "clears": change.clears,
                     "reading": reading}


def gate_shocks(name: str, shocks: list[Any], docs: Sequence[DocScores]) -> list[Any]:
    """The shocks of benchmark key ``name`` that clear the sampling noise: the paired change from
    the eval before a shock's step to the first eval at or after it. A few documents scored at a
    stage switch move by chance; such a move is no shock. A shock no two evals of the same
    documents bound is kept (nothing to test it against)."""
    kept = []
    for shock in shocks:
        before = [d for d in docs if d.step < shock.step]
        after = [d for d in docs if d.step >= shock.step]
        change = paired(before[-1], after[0], name) if before and after else None
        if change is None or not math.isfinite(change.lo) or change.clears:
            kept.append(shock)
    return kept


def divergence_clears(docs: Mapping[str, Sequence[DocScores]], a: str, b: str, start: float, end: float,
                      gap: float) -> bool:
    """A divergence of benchmark keys ``a`` and ``b`` over ``[start, end]`` stands when each key's
    evals there read one suite's documents and the gap clears both paired noises (keys without
    per-document scores: it stands)."""
    halves = []
    for key in (a, b):
        kd = docs.get(key) or []
        inside = [d for d in kd if start <= d.step <= end]
        if len({d.suite.get("digest") for d in inside}) > 1:
            return False  # two suites joined on one curve: no reading of it stands
        change = change_over(kd, key, start, end) if kd else None
        if kd and change is None:
            return False
        if change is not None:
            halves.append(change.half_width)
    if not halves:
        return True
    return abs(gap) > math.sqrt(sum(h * h for h in halves))


# ------------------------------------------------------------------------------ the section
class ChangeDoc(TypedDict):
    """One entry of the ``benchmark_changes`` section: a family key over one stage."""
    key: str
    stage: str
    start: Step
    end: Step
    before: float
    after: float
    change: float
    lo: float
    hi: float
    n_docs: int
    clears: bool
    reading: str
    effect: float
    docs_needed: Optional[int]


def stage_spans(context: Context) -> list[tuple[str, float, float]]:
    """(stage name, start, end) of every stage, from the run's stages or its switches."""
    stages = [s for s in context.options.get("stages") or [] if isinstance(s, dict)]
    if stages:
        return [(str(s.get("stage")), float(s["start"]), float(s["end"])) for s in stages
                if isinstance(s.get("start"), (int, float)) and isinstance(s.get("end"), (int, float))]
    steps = [float(x) for k, (s, _) in context.series.items() for x in (list(s)[:1] + list(s)[-1:])]
    if not steps:
        return []
    edges = [min(steps), *context.options.get("stage_switches", []), max(steps)]
    return [(f"stage {i}", float(a), float(b)) for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])) if b > a]


def family_keys(context: Context) -> list[tuple[str, ...]]:
    """The family keys (``.../family/<name>``) with per-document scores at two evals or more."""
    docs = context.options.get("docs") or {}
    return [(k,) for k in sorted(docs) if "/family/" in f"/{k}" and len(docs[k]) >= 2 and k in context.series]


def changes_entries(context: Context, group: tuple[str, ...]) -> list[dict]:
    key = group[0]
    docs = context.options["docs"][key]
    effect = float(context.options.get("effect", EFFECT))
    out = []
    for stage, start, end in stage_spans(context):
        change = change_over(docs, key, start, end)
        if change is None or not math.isfinite(change.lo):
            continue
        tasks = len(docs[-1].stat(key).tasks) if docs[-1].stat(key) else 1
        reading = ("rising" if change.change > 0 else "declining") if change.clears else within_noise(change)
        out.append({"key": key, "stage": stage, "start": start, "end": end, "before": change.before,
                    "after": change.after, "change": change.change, "lo": change.lo, "hi": change.hi,
                    "n_docs": change.n, "clears": change.clears, "reading": reading, "effect": effect,
                    "docs_needed": needed(change, effect, tasks)})
    return out
