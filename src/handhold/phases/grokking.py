"""Grokking: a train curve that is memorized early and a validation curve that generalizes late.

``memorized_at`` is the first step the (binned, despiked) train curve reaches the level at
``LEVEL`` (90%) of its own improvement, from its first value to its best; ``generalized_at`` is
the same for the validation curve, provided its improvement is at least ``MIN_SHARE`` (half) of
the train curve's (else it did not generalize: ``None``); ``delay`` is the difference.
Loss spikes on the way (slingshots) are shocks and are cut out first, so they move neither step.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np

from .prepare import Prepared, prepare
from .segment import _as_step

LEVEL = 0.9
MIN_IMPROVEMENT_SIGMAS = 5.0
MIN_SHARE = 0.5


@dataclass
class Grokking:
    train: str
    val: str
    memorized_at: int | float | None
    generalized_at: int | float | None
    delay: int | float | None

    def to_dict(self) -> dict:
        return asdict(self)


def reach_step(x: np.ndarray, values: np.ndarray, lower: bool, level: float = LEVEL
               ) -> tuple[float | None, float, float]:
    """(first ``x`` at ``level`` of the improvement from the first values to the best, start, best)."""
    start = float(np.median(values[: max(1, min(3, len(values) // 20))]))
    best = float(values.min() if lower else values.max())
    target = start + level * (best - start)
    hit = values <= target if lower else values >= target
    return (float(x[int(np.argmax(hit))]) if hit.any() else None), start, best


class GrokkingDetector:
    """``fit(train_steps, train_values, val_steps, val_values) -> self``; ``predict() -> Grokking``.

    ``direction`` is ``"lower"`` for losses, ``"higher"`` for accuracies (required: a pair of
    unknown direction cannot say which way is memorized). ``update(split, step, value)``
    appends one point of ``"train"`` or ``"val"`` for online use.
    """

    def __init__(self, direction: str, *, level: float = LEVEL, names: tuple[str, str] = ("train", "val"),
                 preps: tuple[Prepared, Prepared] | None = None) -> None:
        if direction not in ("lower", "higher"):
            raise ValueError(f"direction must be 'lower' or 'higher' (got {direction!r})")
        self.direction, self.level, self.names = direction, level, names
        self._data: dict[str, tuple[list[float], list[float]]] = {"train": ([], []), "val": ([], [])}
        self._preps = preps

    def fit(self, train_steps: object, train_values: object, val_steps: object, val_values: object
            ) -> GrokkingDetector:
        self._data = {"train": (list(np.asarray(train_steps, float)), list(np.asarray(train_values, float))),
                      "val": (list(np.asarray(val_steps, float)), list(np.asarray(val_values, float)))}
        self._preps = None
        return self

    def update(self, split: str, step: float, value: float) -> GrokkingDetector:
        steps, values = self._data[split]
        steps.append(float(step))
        values.append(float(value))
        self._preps = None
        return self

    def predict(self) -> Grokking:
        if self._preps is None:
            self._preps = (prepare(*self._data["train"]), prepare(*self._data["val"]))
        train, val = self._preps
        none = Grokking(self.names[0], self.names[1], None, None, None)
        if train.n < 3 or val.n < 1:
            return none
        lower = self.direction == "lower"
        mem, t0, t1 = reach_step(train.x, train.clean, lower, self.level)
        if abs(t1 - t0) <= MIN_IMPROVEMENT_SIGMAS * train.sigma:
            return none  # train never improved beyond its noise: nothing memorized
        gen, v0, v1 = reach_step(val.x, val.clean, lower, self.level)
        if abs(v1 - v0) < MIN_SHARE * abs(t1 - t0):
            gen = None  # validation moved less than half as far as train: not generalized
        mem, gen = (None if v is None else _as_step(v) for v in (mem, gen))
        delay = None if mem is None or gen is None else _as_step(float(gen) - float(mem))
        return Grokking(self.names[0], self.names[1], mem, gen, delay)


# ------------------------------------------------------------------------------ pairing
TRAIN_WORDS = ("train", "training", "trn")
VAL_WORDS = ("val", "valid", "validation", "test", "eval", "heldout", "dev")


def split_role(word: str) -> str | None:
    """``"train"``, ``"val"`` or ``None`` for one word of a metric name."""
    w = word.lower()
    return "train" if w in TRAIN_WORDS else "val" if w in VAL_WORDS else None


def _pattern(key: str) -> tuple[str, str] | None:
    """(key with its one split word replaced by ``{}``, role), or None without exactly one."""
    parts = re.split(r"([/_.\-\s])", key)
    found = [(i, split_role(p)) for i, p in enumerate(parts) if split_role(p)]
    if len(found) != 1:
        return None
    i, role = found[0]
    return "".join(parts[:i] + ["{}"] + parts[i + 1:]), role


def train_val_pairs(keys: list[str]) -> list[tuple[str, str]]:
    """(train, val) keys whose names differ only in ``train`` vs ``val``/``test``/``eval``/...

    >>> train_val_pairs(["train/acc", "val/acc", "train_loss", "test_loss", "train/lr"])
    [('train/acc', 'val/acc'), ('train_loss', 'test_loss')]
    """
    by_pattern: dict[str, dict[str, list[str]]] = {}
    for key in keys:
        found = _pattern(key)
        if found:
            by_pattern.setdefault(found[0], {}).setdefault(found[1], []).append(key)
    out = []
    for roles in by_pattern.values():
        for t in roles.get("train", []):
            out.extend((t, v) for v in roles.get("val", []))
    return sorted(out, key=lambda p: keys.index(p[0]))
