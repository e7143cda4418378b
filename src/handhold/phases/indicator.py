"""A leading indicator of grokking: "generalization coming", read from training-side signals only.

During grokking the network first memorizes, then weight decay compresses it while a structured
(Fourier) circuit forms, and only then does validation accuracy rise (Nanda et al., 2023). Two
signals of that middle phase need no validation data at all:

- the **total weight norm** falls from its peak (after memorizing, decay wins over fitting);
- the **Gini coefficient of the embedding's Fourier norms** rises (the embedding concentrates on
  a few frequencies: the circuit is forming).

The rule (:class:`IndicatorRule`): announce once, at ``confirm`` consecutive measurements, the
weight norm is at most ``1 - norm_drop`` of its running peak **and** the Gini has risen at least
``gini_rise`` above its value at that peak. Either alone misleads: without weight decay the Gini
barely moves and the norm never falls; with too little training data the norm falls (decay
still wins) but the embedding stays dense. The thresholds were set on one seed per setting of
the p = 31 lab (``benchmarks/grok_indicator.py`` reports lead time and false alarms on the
others).

``GeneralizationIndicator`` is online (``update(step, weight_norm, gini)`` per measurement,
``decide()`` -> the evidence once announced, else ``None``), so a run decides the same live and
on replay; ``indicator_entries(series)`` runs it on every group of signals in a set of curves
(``handhold analyze``'s ``indicator`` entries).

Kept free of heavy imports.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Optional, TypedDict, Union

from .spec import Context

Step = Union[int, float]

WEIGHT_NORM = re.compile(r"^(.*?)/?(?:measure/)?weight_norm$")
GINI = "gini_embed"


class IndicatorDoc(TypedDict, total=False):
    """One entry of the document's ``indicator`` section: the rule on one group of signals."""
    signals: list[str]
    rule: dict[str, Any]  # the IndicatorRule's thresholds
    measurements: int
    announced_at: Optional[Step]
    evidence: Optional[dict[str, Any]]
    val: str
    val_level: float
    val_reached_at: Optional[Step]
    lead: Optional[Step]


@dataclass(frozen=True)
class IndicatorRule:
    norm_drop: float = 0.05  # weight norm at most (1 - norm_drop) x its running peak
    gini_rise: float = 0.08  # embedding Gini at least this far above its value at that peak
    confirm: int = 2  # consecutive measurements where both hold

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class GeneralizationIndicator:
    """Online: ``update(step, weight_norm, gini)`` after each measurement; ``decide()`` is the
    evidence dict from the first announcement on (sticky), else ``None``.

    >>> ind = GeneralizationIndicator()
    >>> for s, w, g in [(0, 30, .05), (100, 35, .09), (200, 34, .12), (300, 33, .18), (400, 32, .2)]:
    ...     _ = ind.update(s, w, g)
    >>> ind.decide()["step"]
    400
    """

    def __init__(self, rule: IndicatorRule | None = None) -> None:
        self.rule = rule or IndicatorRule()
        self.peak: tuple[float, float, float] | None = None  # (step, weight norm, gini there)
        self.streak = 0
        self.last: tuple[float, float, float] | None = None
        self.announced: dict[str, Any] | None = None
        self.measurements = 0

    def fit(self, steps: Any, weight_norms: Any, ginis: Any) -> GeneralizationIndicator:
        for s, w, g in zip(steps, weight_norms, ginis):
            self.update(s, w, g)
        return self

    def update(self, step: float, weight_norm: float, gini: float) -> GeneralizationIndicator:
        """Add one measurement; non-finite values are no evidence and are skipped."""
        w, g = float(weight_norm), float(gini)
        if not (math.isfinite(w) and math.isfinite(g)):
            return self
        self.measurements += 1
        self.last = (float(step), w, g)
        if self.peak is None or w > self.peak[1]:
            self.peak = (float(step), w, g)
        _, w_peak, g_peak = self.peak
        holds = w <= (1 - self.rule.norm_drop) * w_peak and g >= g_peak + self.rule.gini_rise
        self.streak = self.streak + 1 if holds else 0
        if self.announced is None and self.streak >= self.rule.confirm:
            self.announced = {"step": _step(step), "weight_norm": w, "peak_weight_norm": w_peak,
                              "peak_step": _step(self.peak[0]), "norm_drop": round(1 - w / w_peak, 4),
                              "gini": g, "gini_at_peak": g_peak, "gini_rise": round(g - g_peak, 4)}
        return self

    def decide(self) -> dict[str, Any] | None:
        return self.announced

    def state_dict(self) -> dict[str, Any]:
        return {"peak": self.peak, "streak": self.streak, "last": self.last, "announced": self.announced,
                "measurements": self.measurements}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.peak = tuple(state["peak"]) if state.get("peak") else None  # type: ignore[assignment]
        self.streak, self.announced = int(state.get("streak", 0)), state.get("announced")
        self.last = tuple(state["last"]) if state.get("last") else None  # type: ignore[assignment]
        self.measurements = int(state.get("measurements", 0))


def _step(v: float) -> int | float:
    v = float(v)
    return int(v) if v.is_integer() else v


def signal_groups(keys: list[str]) -> list[tuple[str, str, str]]:
    """(prefix, weight-norm key, Gini key) for every prefix that logs both signals:
    ``grok/measure/weight_norm`` + ``grok/measure/gini_embed`` -> ``("grok", ...)``."""
    out = []
    for key in keys:
        m = WEIGHT_NORM.match(key)
        if not m:
            continue
        base = key[: -len("weight_norm")]
        gini = base + GINI
        if gini in keys:
            out.append((m.group(1), key, gini))
    return out


def _val_accuracy(prefix: str, keys: list[str]) -> str | None:
    for cand in (f"{prefix}/val/acc", f"{prefix}/eval/acc", f"{prefix}/val_acc", "val/acc", "eval/acc"):
        if cand.lstrip("/") in keys:
            return cand.lstrip("/")
    return None


def first_at(steps: Any, values: Any, level: float) -> int | float | None:
    for s, v in zip(steps, values):
        if v is not None and math.isfinite(float(v)) and float(v) >= level:
            return _step(s)
    return None


def indicator_entries(series: Mapping[str, tuple[Any, Any]], rule: IndicatorRule | None = None,
                      val_level: float = 0.95) -> list[dict[str, Any]]:
    """The indicator on every (weight norm, Gini) group of ``series`` (name -> (steps, values)),
    with, where a validation accuracy of the same prefix exists, the step it reached
    ``val_level`` and the lead (steps from the announcement to it; negative: announced late).

    The two signals are read at the steps where both were measured, in step order."""
    rule = rule or IndicatorRule()
    return [group_entry(series, prefix, wkey, gkey, rule, val_level)
            for prefix, wkey, gkey in signal_groups(list(series))]


def group_entry(series: Mapping[str, tuple[Any, Any]], prefix: str, wkey: str, gkey: str,
                rule: IndicatorRule, val_level: float = 0.95) -> dict[str, Any]:
    """The indicator on one (weight norm, Gini) group (see :func:`indicator_entries`)."""
    ws, wv = series[wkey]
    gs, gv = series[gkey]
    gini_at = {float(s): v for s, v in zip(gs, gv)}
    rows = sorted((float(s), float(w), float(gini_at[float(s)])) for s, w in zip(ws, wv)
                  if float(s) in gini_at and w is not None and gini_at[float(s)] is not None)
    ind = GeneralizationIndicator(rule)
    for s, w, g in rows:
        ind.update(s, w, g)
    found = ind.decide()
    entry: dict[str, Any] = {"signals": [wkey, gkey], "rule": rule.to_dict(), "measurements": ind.measurements,
                             "announced_at": None if found is None else found["step"], "evidence": found}
    val = _val_accuracy(prefix, list(series))
    if val is not None:
        reached = first_at(*series[val], val_level)
        entry.update({"val": val, "val_level": val_level, "val_reached_at": reached,
                      "lead": None if reached is None or found is None else _step(reached - found["step"])})
    return entry


# ------------------------------------------------------------------------------ in the document
def indicator_groups(context: Context) -> list[tuple[str, str]]:
    """(weight-norm key, Gini key) of every prefix that logs both (what the indicator needs)."""
    return [(wkey, gkey) for _, wkey, gkey in signal_groups(list(context.series))]


def indicator_entry(context: Context, group: tuple[str, ...]) -> list[dict[str, Any]]:
    wkey, gkey = group
    m = WEIGHT_NORM.match(wkey)
    return [group_entry(context.series, m.group(1) if m else "", wkey, gkey, IndicatorRule())]
