"""Readiness: the online rule that ends a stage when its metric stops improving.

``until: {plateau: eval/physics/answer_acc, patience: 3, min_steps: 500, max_steps: 20000}``
reads: after at least 500 steps in the stage, once the metric has gone ``patience`` evals
without beating its best by more than ``min_delta``, the stage is mastered; at 20000 steps it
ends anyway. The detector sees one value per eval, in order, and decides from those alone, so
a run decides the same way live, on a resume (its history is checkpointed) and on replay.

Kept free of heavy imports: the training loop loads it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .direction import infer_direction, normalize_mode


@dataclass(frozen=True)
class PlateauRule:
    metric: str
    patience: int = 3
    min_steps: int = 0
    direction: str | None = None  # "lower" or "higher"; None: read from the metric's name
    min_delta: float = 0.0

    def resolved_direction(self) -> str:
        d = self.direction or infer_direction(self.metric)
        if d is None:
            raise ValueError(f"cannot tell whether lower or higher is better for {self.metric!r}; "
                             "set mode: min or max")
        return d


class PlateauDetector:
    """Online estimator: ``update(step, value)`` after each eval, ``predict()`` -> the evidence
    dict once the plateau rule holds (else ``None``); ``fit(steps, values)`` replays a series.

    >>> det = PlateauDetector(PlateauRule("eval/loss", patience=2))
    >>> [det.update(s, v).predict() is not None for s, v in [(10, 3.0), (20, 2.0), (30, 2.1), (40, 2.05)]]
    [False, False, False, True]
    """

    def __init__(self, rule: PlateauRule) -> None:
        self.rule = rule
        self.direction = rule.resolved_direction()
        self.history: list[tuple[int, float]] = []

    # ------------------------------------------------------------------ estimator
    def fit(self, steps: Any, values: Any) -> PlateauDetector:
        self.history = []
        for s, v in zip(steps, values):
            self.update(s, v)
        return self

    def update(self, step: int, value: float) -> PlateauDetector:
        """Add one eval; non-finite values are ignored (they are no evidence either way)."""
        v = float(value)
        if math.isfinite(v):
            self.history.append((int(step), v))
        return self

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
                "best_step": best_step, "last": last, "step": step, "evals_since_best": since,
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

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, Any]:
        return {"history": [[s, v] for s, v in self.history]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = [(int(s), float(v)) for s, v in state.get("history", [])]


def rule_from_until(until: Any) -> PlateauRule:
    """The rule of a config ``Until`` that has ``plateau`` set."""
    return PlateauRule(metric=until.plateau, patience=until.patience, min_steps=until.min_steps,
                       direction=normalize_mode(until.mode), min_delta=until.min_delta)
