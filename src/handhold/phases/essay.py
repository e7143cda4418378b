"""The essay's quick-reference table, answered from the data of a staged run.

The seed essay reads a general → focused → general curriculum in four rows. Each row here is a
question with a verdict — ``holds``, ``does not hold`` or ``cannot tell (noise)`` (or ``no
data``) — and the figures behind it:

- **mastery**: in the focused stage (the one the run switched back from: the second-to-last
  stage), the curve rose, then plateaued or dipped? Read on the reasoning family (paired over
  the same documents) when it has three evals in the stage, else on the focused source's
  held-out loss (its segments);
- **switch shock**: the switch back made a loss shock that recovered, in how many steps?
- **families**: after the switch back (from its first eval to the last; from the eval at the
  switch when only one eval follows it or the first falls in the stage's second half), the
  reasoning family rose while the standard family stayed flat, beyond sampling noise? (paired
  changes of each, and of their gap; "flat" allows a rise smaller than the ``effect`` option, 5
  points);
- **self-report**: the self-report axis moved from the overwhelmed end toward the ready end,
  from the first stage to the last, beyond the spread of its own readings?
"""

from __future__ import annotations

import math
from typing import Literal, Optional, TypedDict

import numpy as np

from ..doc_scores import paired
from ..stats import PairedChange
from .noise import EFFECT, change_over, stage_spans, stated, within_noise
from .spec import Context

_SAME = PairedChange(0, 0.0, 0.0, 0.0, -1.0, 1.0)  # "no paired test": counts as not clearing
HOLDS, FAILS, NOISE, NO_DATA = "holds", "does not hold", "cannot tell (noise)", "no data"
Verdict = Literal["holds", "does not hold", "cannot tell (noise)", "no data"]


class EssayDoc(TypedDict):
    """One row of the ``essay`` section."""
    row: str
    question: str
    verdict: Verdict
    figures: str
    metric: Optional[str]


def essay_groups(context: Context) -> list[tuple[str, ...]]:
    """One group when the run has the essay's shape: a stage, a focused one, and a switch back
    (three stages or more; with two there is nothing to switch back from)."""
    return [("essay",)] if len(stage_spans(context)) >= 3 else []


def _row(row: str, question: str, verdict: str, figures: str, metric: str | None = None) -> dict:
    return {"row": row, "question": question, "verdict": verdict, "figures": figures, "metric": metric}


def _find(context: Context, *candidates: str) -> str | None:
    for c in candidates:
        hits = sorted(k for k in context.series if k == c or (c.endswith("*") and k.startswith(c[:-1])))
        if hits:
            return hits[0]
    return None


def _values(context: Context, key: str, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
    s, v = context.series[key]
    s, v = np.asarray(s, dtype=np.float64), np.asarray([np.nan if x is None else x for x in v], dtype=np.float64)
    keep = (s >= start) & (s <= end) & np.isfinite(v)
    return s[keep], v[keep]


def mastery_row(context: Context, focused: tuple[str, float, float]) -> dict:
    q = f"the focused stage ({focused[0]}) rose, then plateaued or dipped (mastery)?"
    name, start, end = focused
    docs = context.options.get("docs") or {}
    key = _find(context, "eval/family/reasoning", "*family/reasoning")
    evals = []
    if key is not None and key in docs:
        evals = [d for d in docs[key] if start <= d.step <= end]
    if key is not None and key in docs and len(evals) >= 3:
        values = [d.value(key) for d in evals]
        top = evals[int(np.nanargmax(values))]
        # the peak: the first eval the best one does not clear (a flat top's noise picks no step)
        peak = next((d for d in evals if d.step == top.step or not (paired(d, top, key) or _SAME).clears), top)
        rise = change_over(evals, key, evals[0].step, peak.step)
        after = change_over(evals, key, peak.step, evals[-1].step)
        if rise is None:  # no eval of the stage clears the first one's level
            whole = change_over(evals, key, evals[0].step, evals[-1].step)
            to_top = paired(evals[0], top, key)
            if whole is not None and whole.clears and whole.change < 0:
                return _row("mastery", q, FAILS, f"no rise: {stated(whole)} over the stage", key)
            best = (f"no eval of the stage scores above its first (step {evals[0].step:g}; "
                    f"{len(evals)} evals, {evals[0].n_docs(key)} documents)") if top.step == evals[0].step else (
                "the best eval is " + (within_noise(to_top) if to_top is not None else "the first"))
            return _row("mastery", q, NOISE, "no rise beyond noise: " + best, key)
        head = f"rise {stated(rise)} to step {peak.step:g}"
        if not rise.clears:
            return _row("mastery", q, NOISE, f"rise {within_noise(rise)}", key)
        if after is None:
            return _row("mastery", q, FAILS, f"{head}; still rising at the stage's last eval", key)
        tail = f"then {after.change:+.3g} (paired 95% {after.lo:+.3g} to {after.hi:+.3g})"
        if after.clears and after.change > 0:
            return _row("mastery", q, FAILS, f"{head}; {tail}: still rising", key)
        return _row("mastery", q, HOLDS, f"{head}; {tail}: " + ("a dip" if after.clears else "a plateau"), key)
    # too few family evals inside the stage (a run that scores benchmarks only at stage ends):
    # the focused source's own held-out loss answers the row, and the figures say so
    few = f"{len(evals)} eval(s) of {key} in the stage (3 needed); " if evals or key in docs else ""
    key = _find(context, f"eval/loss/{name}", "eval/loss/*", "train/loss")
    result = (context.metrics.get(key) if key else None)
    if result is None or not result.segments:
        return _row("mastery", q, NO_DATA, few + "no reasoning family and no held-out loss in the stage", key)
    segs = [s for s in result.segments if s.end > start and s.start < end]
    better = "declining" if result.direction != "higher" else "rising"
    first = next((i for i, s in enumerate(segs) if s.trend == better), None)
    if first is None:
        return _row("mastery", q, FAILS, f"{few}{key}: no improving phase in steps {start:g}-{end:g}", key)
    later = segs[first + 1:]
    if not later:
        return _row("mastery", q, FAILS, f"{few}{key}: improving until the stage's end (step {segs[first].end:g})",
                    key)
    return _row("mastery", q, HOLDS, f"{few}{key}: improving {segs[first].start:g}-{segs[first].end:g}, then "
                + ", ".join(f"{s.trend} {s.start:g}-{s.end:g}" for s in later), key)


def shock_row(context: Context, switch: float) -> dict:
    q = f"the switch back (step {switch:g}) made a loss shock that recovered — in how many steps?"
    losses = [k for k in sorted(context.metrics) if k.startswith("eval/loss") or k.startswith("train/loss")]
    losses.sort(key=lambda k: not k.startswith("eval/"))
    if not losses:
        return _row("shock", q, NO_DATA, "no loss curve")
    found = []
    for k in losses:
        for s in context.metrics[k].shocks:
            if s.kind == "switch" and abs(float(s.step) - switch) <= max(1.0, 0.02 * switch):
                found.append((k, s))
    if not found:
        return _row("shock", q, FAILS, f"no loss shock at the switch ({', '.join(losses[:3])})", losses[0])
    k, s = found[0]
    held_out = [x for x in losses if x.startswith("eval/")]
    quiet = ""
    if k.startswith("train/") and held_out and not any(x in held_out for x, _ in found):
        # a mixed training loss moves with the mixture; the held-out losses say whether the model did
        quiet = f"; the held-out losses ({', '.join(held_out)}) show no shock at the switch"
    if s.recovered_at is None:
        return _row("shock", q, FAILS, f"{k}: {s.baseline:.4g} → {s.peak:.4g}, not recovered by the run's end{quiet}", k)
    return _row("shock", q, HOLDS, f"{k}: {s.baseline:.4g} → {s.peak:.4g}, back at step {s.recovered_at:g} "
                f"({float(s.recovered_at) - switch:g} steps){quiet}", k)


def families_row(context: Context, last: tuple[str, float, float]) -> dict:
    _, start, end = last
    q = "after the switch back, the reasoning family rose while the standard family stayed flat, beyond noise?"
    docs = context.options.get("docs") or {}
    r = _find(context, "eval/family/reasoning", "*family/reasoning")
    s = _find(context, "eval/family/standard", "*family/standard")
    if r is None or s is None:
        return _row("families", q, NO_DATA, "needs eval/family/reasoning and eval/family/standard")
    if r not in docs or s not in docs:
        return _row("families", q, NOISE, "no per-document scores: the change cannot be tested against noise", r)
    # from the first eval after the switch (the essay: "started low, then shot up") to the last
    after_r = [d for d in docs[r] if d.step > start]
    after_s = [d for d in docs[s] if d.step > start]
    since = ""
    late = min((d.step for d in after_r), default=end) > start + (end - start) / 2
    if len(after_r) < 2 or len(after_s) < 2 or late:
        # one eval after the switch (benchmarks scored only at stage ends), or the first one in the
        # stage's second half: read the change from the eval at the switch itself, and say so
        after_r = [d for d in docs[r] if d.step >= start]
        after_s = [d for d in docs[s] if d.step >= start]
        since = f"from the eval at the switch (step {start:g}): "
    first = min((d.step for d in after_r), default=end)
    cr, cs = change_over(after_r, r, first, end), change_over(after_s, s, first, end)
    if cr is None or cs is None:
        return _row("families", q, NO_DATA, f"fewer than two evals of the same documents in steps {start:g}-{end:g}", r)
    gap = cr.change - cs.change
    half = math.hypot(cr.half_width, cs.half_width)
    figures = (f"{since}reasoning {cr.before:.3g} → {cr.after:.3g} ({stated(cr)}); standard {cs.before:.3g} → "
               f"{cs.after:.3g} ({stated(cs)}); gap {gap:+.3g} ± {half:.3g}")
    # "stayed flat": no rise of the standard family as large as the effect a reader asks about; a
    # continuous score (bits per byte) over fixed documents detects moves far smaller than that
    effect = float(context.options.get("effect", EFFECT))
    rose = cs.clears and cs.change >= effect
    if cs.clears and 0 < cs.change < effect:
        figures += f" (standard's rise is under {effect:g}: flat)"
    if cr.clears and cr.change > 0 and not rose and gap > half:
        return _row("families", q, HOLDS, figures, r)
    if (cr.clears and cr.change < 0) or (rose and not gap > half):
        return _row("families", q, FAILS, figures, r)
    return _row("families", q, NOISE, figures, r)


def self_report_row(context: Context, first: tuple[str, float, float], last: tuple[str, float, float]) -> dict:
    q = "the self-report axis moved from overwhelmed toward ready?"
    axes = sorted(k for k in context.series if k.startswith("probe/self_report/"))
    if not axes:
        return _row("self_report", q, NO_DATA, "no probe/self_report/<axis> curve")
    key = next((k for k in axes if "read" in k), axes[0])
    _, a = _values(context, key, first[1], first[2])
    _, b = _values(context, key, last[1] + 1e-9, last[2])
    if not a.size or not b.size:
        return _row("self_report", q, NO_DATA, f"{key}: readings in the first and last stage needed", key)
    diff = float(b.mean() - a.mean())
    sigma = context.metrics[key].prepared.sigma if key in context.metrics else 0.0
    var_a = a.var(ddof=1) if a.size > 1 else sigma ** 2
    var_b = b.var(ddof=1) if b.size > 1 else sigma ** 2
    half = 1.96 * math.sqrt(var_a / a.size + var_b / b.size)
    figures = (f"{key}: {a.mean():+.3g} (first stage, {a.size} readings) → {b.mean():+.3g} (last stage, "
               f"{b.size} readings), change {diff:+.3g} ± {half:.3g}")
    if not half > 0 or abs(diff) <= half:
        return _row("self_report", q, NOISE, figures, key)
    return _row("self_report", q, HOLDS if diff > 0 else FAILS, figures, key)


def essay_entries(context: Context, group: tuple[str, ...]) -> list[dict]:
    spans = stage_spans(context)
    focused = spans[-2]
    return [mastery_row(context, focused), shock_row(context, spans[-1][1]),
            families_row(context, spans[-1]), self_report_row(context, spans[0], spans[-1])]
