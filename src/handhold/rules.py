"""Exit rules: the online decisions that end a stage, one vocabulary for every loop.

The curriculum, the grokking lab and the Trainer/Lightning integrations all use these, so "the
stage ended because ..." reads the same everywhere (``reason`` in :data:`REASONS` plus an
evidence dict):

- ``plateau``: ``until: {plateau: eval/physics/answer_acc, patience: 3, min_steps: 500,
  max_steps: 20000}`` — after at least ``min_steps`` steps in the stage, once the metric has gone
  ``patience`` evals without beating its best by more than ``min_delta``, the stage is mastered.
- ``threshold``: ``until: {threshold: grok/stage/acc, value: 0.99, evals: 3, max_steps: 5000}`` —
  once the metric is at or past ``value`` (``>=`` when higher is better, ``<=`` when lower is)
  for ``evals`` evals in a row (and ``min_steps`` have passed).

A detector sees one value per eval, in order (``update(step, value)``), and decides from those
alone (``decide()``), so a run decides the same way live, on a resume (``state_dict()`` is
checkpointed) and on replay (``fit(steps, values)``). ``max_steps`` is a budget the caller checks
after every step (it needs no eval); :func:`cap` gives its decision with the detector's summary.

Kept free of heavy imports: the training loop loads it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .direction import infer_direction, normalize_mode

#: Why a stage ends. ``budget``: its steps/tokens/samples are spent; ``plateau``/``threshold``: a
#: readiness rule fired; ``max_steps``: a readiness stage hit its cap; ``requested``: code asked.
REASONS = ("budget", "plateau", "threshold", "max_steps", "requested")


@dataclass
class Decision:
    """Why a stage ended: ``reason`` (one of :data:`REASONS`) and the evidence behind it."""

    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


def _direction(metric: str, direction: str | None) -> str:
    d = direction or infer_direction(metric)
    if d is None:
        raise ValueError(f"cannot tell whether lower or higher is better for {metric!r}; set mode: min or max")
    return d


# ------------------------------------------------------------------------------ plateau
@dataclass(frozen=True)
class PlateauRule:
    metric: str
    patience: int = 3
    min_steps: int = 0
    direction: str | None = None  # "lower" or "higher"; None: read from the metric's name
    min_delta: float = 0.0
    max_steps: int | None = None

    def resolved_direction(self) -> str:
        return _direction(self.metric, self.direction)


class _Detector:
    """Shared part: the history of finite eval values, checkpointing, replay."""

    kind = ""

    def __init__(self) -> None:
        self.history: list[tuple[int, float]] = []

    def fit(self, steps: Any, values: Any) -> _Detector:
        self.history = []
        for s, v in zip(steps, values):
            self.update(s, v)
        return self

    def update(self, step: int, value: float) -> _Detector:
        """Add one eval; non-finite values are ignored (they are no evidence either way)."""
        v = float(value)
        if math.isfinite(v):
            self.history.append((int(step), v))
        return self

    def predict(self) -> dict[str, Any] | None:  # pragma: no cover - overridden
        raise NotImplementedError

    def decide(self) -> Decision | None:
        """``Decision(kind, evidence)`` if the rule holds at the latest eval, else ``None``."""
        evidence = self.predict()
        return None if evidence is None else Decision(self.kind, evidence)

    def state_dict(self) -> dict[str, Any]:
        return {"history": [[s, v] for s, v in self.history]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = [(int(s), float(v)) for s, v in state.get("history", [])]


class PlateauDetector(_Detector):
    """Online estimator: ``update(step, value)`` after each eval, ``predict()`` -> the evidence
    dict once the plateau rule holds (else ``None``); ``fit(steps, values)`` replays a series.

    >>> det = PlateauDetector(PlateauRule("eval/loss", patience=2))
    >>> [det.update(s, v).predict() is not None for s, v in [(10, 3.0), (20, 2.0), (30, 2.1), (40, 2.05)]]
    [False, False, False, True]
    """

    kind = "plateau"

    def __init__(self, rule: PlateauRule) -> None:
        super().__init__()
        self.rule = rule
        self.direction = rule.resolved_direction()

    def _better(self, value: float, best: float) -> bool:
        d = self.rule.min_delta
        return value < best - d if self.direction == "lower" else value > best + d

    def best(self) -> tuple[int, tuple[int, float]] | None:
        """(index, (step, value)) of the last eval that improved on every earlier one."""
        if not self.history:
            return None
        k = 0
        for i in range(1, len(self.history)):
            if self._better(self.history[i][1], self.history[k][1]):
                k = i
        return k, self.history[k]

    def predict(self) -> dict[str, Any] | None:
        """The evidence if the stage is ready at the latest eval, else ``None``."""
        found = self.best()
        if found is None:
            return None
        k, (best_step, best_value) = found
        since = len(self.history) - 1 - k
        step, last = self.history[-1]
        if since < self.rule.patience or step < self.rule.min_steps:
            return None
        return {"metric": self.rule.metric, "direction": self.direction, "best": best_value,
                "best_step": best_step, "last": last, "stage_step": step, "evals_since_best": since,
                "patience": self.rule.patience, "min_delta": self.rule.min_delta,
                "min_steps": self.rule.min_steps, "evals": len(self.history)}

    def summary(self) -> dict[str, Any]:
        """What was seen so far (for a stage that ends on its step cap instead)."""
        found = self.best()
        if found is None:
            return {"metric": self.rule.metric, "evals": 0, "note": "metric never logged in this stage"}
        k, (best_step, best_value) = found
        return {"metric": self.rule.metric, "direction": self.direction, "best": best_value,
                "best_step": best_step, "last": self.history[-1][1], "evals": len(self.history),
                "evals_since_best": len(self.history) - 1 - k, "patience": self.rule.patience}


# ------------------------------------------------------------------------------ threshold
@dataclass(frozen=True)
class ThresholdRule:
    metric: str
    value: float
    evals: int = 1
    min_steps: int = 0
    direction: str | None = None  # "higher": metric >= value; "lower": metric <= value
    max_steps: int | None = None

    def resolved_direction(self) -> str:
        return _direction(self.metric, self.direction)


class ThresholdDetector(_Detector):
    """Fires once the metric has met the threshold at ``evals`` evals in a row.

    >>> det = ThresholdDetector(ThresholdRule("val/acc", 0.9, evals=2))
    >>> [det.update(s, v).decide() is not None for s, v in [(1, 0.95), (2, 0.5), (3, 0.91), (4, 0.97)]]
    [False, False, False, True]
    """

    kind = "threshold"

    def __init__(self, rule: ThresholdRule) -> None:
        super().__init__()
        self.rule = rule
        self.direction = rule.resolved_direction()
        self.op = ">=" if self.direction == "higher" else "<="

    def _met(self, v: float) -> bool:
        return v >= self.rule.value if self.direction == "higher" else v <= self.rule.value

    def streak(self) -> int:
        """Evals in a row, ending at the latest, that meet the threshold."""
        n = 0
        for _, v in reversed(self.history):
            if not self._met(v):
                break
            n += 1
        return n

    def predict(self) -> dict[str, Any] | None:
        if not self.history:
            return None
        step, last = self.history[-1]
        streak = self.streak()
        if streak < self.rule.evals or step < self.rule.min_steps:
            return None
        return {"metric": self.rule.metric, "op": self.op, "value": self.rule.value, "last": last,
                "stage_step": step, "streak": streak, "evals_required": self.rule.evals,
                "first_step": self.history[-streak][0], "min_steps": self.rule.min_steps,
                "evals": len(self.history)}

    def summary(self) -> dict[str, Any]:
        if not self.history:
            return {"metric": self.rule.metric, "evals": 0, "note": "metric never logged in this stage"}
        return {"metric": self.rule.metric, "op": self.op, "value": self.rule.value,
                "last": self.history[-1][1], "streak": self.streak(), "evals_required": self.rule.evals,
                "evals": len(self.history)}


Rule = PlateauRule | ThresholdRule
Detector = PlateauDetector | ThresholdDetector


def detector(rule: Rule) -> Detector:
    """A fresh detector for ``rule``."""
    return PlateauDetector(rule) if isinstance(rule, PlateauRule) else ThresholdDetector(rule)


def cap(det: Detector, steps: int) -> Decision | None:
    """The ``max_steps`` decision once a readiness stage has run ``steps`` steps (else ``None``)."""
    m = det.rule.max_steps
    if m is None or steps < m:
        return None
    return Decision("max_steps", {"steps": steps, "max_steps": m, "rule": det.kind, **det.summary()})


# ------------------------------------------------------------------------------ the whole run
@dataclass(frozen=True)
class RunStop:
    """What ends a whole run rather than a stage: a budget on the run's totals (``steps``,
    ``samples`` or ``tokens``), and/or a readiness ``rule`` that ends the run ``after_steps``
    steps after it first holds (the grokking lab's "stop once validation accuracy reaches 0.99").
    ``label`` names the rule's metric in the run's closing sentence (:func:`explain`)."""

    steps: int | None = None
    samples: int | None = None
    tokens: int | None = None
    rule: Rule | None = None
    after_steps: int = 0
    label: str | None = None


def stop_detector(stop: RunStop | None) -> Detector | None:
    """A fresh detector for a run's stop rule (``None`` without one)."""
    return detector(stop.rule) if stop is not None and stop.rule is not None else None


def run_decision(stop: RunStop, steps: int, samples: int | None, tokens: int | None,
                 det: Detector | None, first_step: int | None) -> Decision | None:
    """The run's end at these totals: its budget spent (reason ``budget``), or its rule held since
    ``first_step`` for ``after_steps`` steps (the rule's own reason); else ``None``."""
    for unit, limit, now in (("steps", stop.steps, steps), ("samples", stop.samples, samples),
                             ("tokens", stop.tokens, tokens)):
        if limit is not None and now is not None and now >= limit:
            return Decision("budget", {unit: limit, "scope": "run"})
    if det is not None and first_step is not None and steps >= first_step + stop.after_steps:
        return Decision(det.kind, {**det.summary(), "first_step": first_step, "after_steps": stop.after_steps,
                                   "label": stop.label or det.rule.metric, "scope": "run"})
    return None


def explain(decision: Decision) -> str:
    """One sentence for a run's or stage's end, as a run's closing reason reads it.

    >>> explain(Decision("budget", {"samples": 40000}))
    'budget spent (40,000 samples)'
    >>> explain(Decision("threshold", {"label": "validation accuracy", "op": ">=", "value": 0.99, "first_step": 1200}))
    'validation accuracy >= 0.99 at step 1200'
    """
    ev = decision.evidence
    if decision.reason == "budget":
        for unit in ("steps", "samples", "tokens"):
            if ev.get(unit) is not None:
                n = ev[unit]
                return f"budget spent ({n} steps)" if unit == "steps" else f"budget spent ({n:,} {unit})"
    name = ev.get("label") or ev.get("metric", "")
    at = ev.get("first_step", ev.get("global_step", ev.get("stage_step")))
    if decision.reason == "threshold":
        return f"{name} {ev.get('op', '>=')} {ev.get('value')} at step {at}"
    if decision.reason == "plateau":
        return f"{name} plateaued (best {ev.get('best')} at step {ev.get('best_step')}) by step {at}"
    if decision.reason == "max_steps":
        return f"stage cap of {ev.get('max_steps')} steps reached"
    return decision.reason


def rule_from_until(until: Any) -> Rule | None:
    """The readiness rule of a config ``Until`` (``plateau`` or ``threshold`` set), else ``None``.

    Accepts the pydantic ``Until`` or a plain mapping with the same keys.
    """
    get = until.get if isinstance(until, dict) else (lambda k, d=None: getattr(until, k, d))
    mode = normalize_mode(get("mode"))
    if get("plateau") is not None:
        return PlateauRule(metric=get("plateau"), patience=get("patience") or 3, min_steps=get("min_steps") or 0,
                           direction=mode, min_delta=get("min_delta") or 0.0, max_steps=get("max_steps"))
    if get("threshold") is not None:
        return ThresholdRule(metric=get("threshold"), value=float(get("value")), evals=get("evals") or 1,
                             min_steps=get("min_steps") or 0, direction=mode, max_steps=get("max_steps"))
    return None
