"""Grokking: a train curve that is memorized early and a validation curve that generalizes late.

One definition, shared by ``handhold analyze``, the dashboard and the grokking lab (``handhold grok``):

- **accuracy curves** (higher is better, values in [0, 1], a name with ``acc``): ``memorized_at`` is
  the first evaluation at which train accuracy is at least ``acc_level`` (``ACC_LEVEL``, 0.99),
  ``generalized_at`` the same for validation accuracy — the literature's "steps to 99%". (An
  accuracy curve noisy at the level, such as minibatch accuracy, crosses on its first lucky
  evaluation: give the evaluation accuracy, or the losses.)
- **other curves** (losses): the first step the binned, despiked curve covers ``LEVEL`` (90%) of
  its own improvement, from its first values to its best; validation counts as generalized only if
  its improvement is at least ``MIN_SHARE`` (half) of train's. Loss spikes (slingshots) are cut out
  first, so they move neither step.

``delay`` is ``generalized_at - memorized_at``. **Grokking is named only when the delay is real**
(``grokked``), i.e. all of:

1. validation was not already tracking train: when train memorized, validation had covered less
   than ``TRACKING`` (half) of its own improvement;
2. the delay is long against the time train took to memorize: ``delay >= MIN_DELAY_RATIO`` (1) x
   (``memorized_at`` - first step), i.e. generalizing took at least twice as long as memorizing;
3. the delay is a visible part of the run: ``delay >= MIN_DELAY_SHARE`` (5%) of the steps logged.

A pair that moves together (train and eval loss of an ordinary fine-tune) fails 1 and 2: it is a
pair, not grokking, and ``verdict`` says why.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Optional, TypedDict, Union

import numpy as np

from .prepare import Prepared, as_step, finite_series, prepare
from .spec import Context

Step = Union[int, float]

ACC_LEVEL = 0.99
LEVEL = 0.9
MIN_IMPROVEMENT_SIGMAS = 5.0
MIN_SHARE = 0.5
TRACKING = 0.5
MIN_DELAY_RATIO = 1.0
MIN_DELAY_SHARE = 0.05
ACC_NAME = re.compile(r"acc", re.IGNORECASE)


class GrokkingDoc(TypedDict):
    """One entry of the document's ``grokking`` section (a train/validation pair)."""
    train: str
    val: str
    memorized_at: Optional[Step]
    generalized_at: Optional[Step]
    delay: Optional[Step]
    grokked: bool  # only a real delay (a pair that moves together is not grokking)
    rule: str
    val_progress_at_memorized: Optional[float]
    verdict: str


@dataclass
class Grokking:
    train: str
    val: str
    memorized_at: int | float | None
    generalized_at: int | float | None
    delay: int | float | None
    grokked: bool = False
    rule: str = ""
    val_progress_at_memorized: float | None = None
    verdict: str = ""

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


def first_at_level(x: np.ndarray, values: np.ndarray, level: float = ACC_LEVEL) -> float | None:
    """The first ``x`` whose value is at least ``level`` (an accuracy's "steps to 99%"), else None."""
    hit = np.asarray(values) >= level
    return float(np.asarray(x)[int(np.argmax(hit))]) if hit.any() else None


def is_accuracy(name: str, values: object) -> bool:
    """An accuracy curve: every value in [0, 1] and ``acc`` in its name (or a name without any
    metric word, such as a bare ``train``: then the values decide)."""
    from ..direction import infer_direction

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    named = bool(ACC_NAME.search(name)) or infer_direction(name) is None
    return named and len(v) > 0 and float(v.min()) >= 0.0 and float(v.max()) <= 1.0


def real_delay(memorized_at: float | None, generalized_at: float | None, val_progress: float | None,
               first_step: float, last_step: float) -> tuple[bool, str]:
    """(grokked, why): the stated criterion of a real delay (module docstring, points 1-3)."""
    if memorized_at is None:
        return False, "train never memorized"
    if generalized_at is None:
        return False, "memorized, validation never generalized"
    delay = generalized_at - memorized_at
    to_memorize = max(memorized_at - first_step, 1e-12)
    length = max(last_step - first_step, 1e-12)
    if val_progress is not None and val_progress >= TRACKING:
        return False, (f"no grokking: validation was already {val_progress:.0%} of the way when train "
                       "memorized (the pair moved together)")
    if delay < MIN_DELAY_RATIO * to_memorize:
        return False, (f"no grokking: delay {_n(delay)} is short against the {_n(to_memorize)} steps train "
                       f"took to memorize ({delay / to_memorize:.2g}x, needs {MIN_DELAY_RATIO:g}x)")
    if delay < MIN_DELAY_SHARE * length:
        return False, (f"no grokking: delay {_n(delay)} is {delay / length:.1%} of the run "
                       f"(needs {MIN_DELAY_SHARE:.0%})")
    return True, (f"grokking: generalized {_n(delay)} steps after memorizing "
                  f"({delay / to_memorize:.3g}x the time to memorize)")


def _n(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() or abs(v) >= 10 else f"{v:.3g}"


def _progress_at(x: np.ndarray, clean: np.ndarray, at: float, lower: bool) -> float | None:
    """Share of its own improvement (first values to best) a curve had covered at step ``at``."""
    if len(clean) == 0:
        return None
    start = float(np.median(clean[: max(1, min(3, len(clean) // 20))]))
    best = float(clean.min() if lower else clean.max())
    if best == start:
        return 0.0
    i = int(np.searchsorted(x, at, side="right")) - 1
    if i < 0:
        return 0.0
    return float((clean[i] - start) / (best - start))


class GrokkingDetector:
    """``fit(train_steps, train_values, val_steps, val_values) -> self``; ``predict() -> Grokking``.

    ``direction`` is ``"lower"`` for losses, ``"higher"`` for accuracies (required: a pair of
    unknown direction cannot say which way is memorized). ``accuracy``: use the absolute
    ``acc_level`` (default: decided from the names and values, see :func:`is_accuracy`).
    ``update(split, step, value)`` appends one point of ``"train"`` or ``"val"`` for online use.
    """

    def __init__(self, direction: str, *, level: float = LEVEL, acc_level: float = ACC_LEVEL,
                 accuracy: bool | None = None, names: tuple[str, str] = ("train", "val"),
                 preps: tuple[Prepared, Prepared] | None = None) -> None:
        if direction not in ("lower", "higher"):
            raise ValueError(f"direction must be 'lower' or 'higher' (got {direction!r})")
        if not 0 < acc_level <= 1:
            raise ValueError(f"acc_level must be in (0, 1] (got {acc_level})")
        self.direction, self.level, self.acc_level, self.accuracy = direction, level, acc_level, accuracy
        self.names = names
        self._data: dict[str, tuple[list[float], list[float]]] = {"train": ([], []), "val": ([], [])}
        self._preps = preps

    def fit(self, train_steps: object, train_values: object, val_steps: object, val_values: object
            ) -> GrokkingDetector:
        self._data = {"train": (list(np.asarray(train_steps, float)), list(np.asarray(train_values, float))),
                      "val": (list(np.asarray(val_steps, float)), list(np.asarray(val_values, float)))}
        self._preps = None
        return self

    def with_raw(self, train: tuple[object, object], val: tuple[object, object]) -> GrokkingDetector:
        """Give the raw series next to ``preps`` (accuracy crossings are read from raw evaluations)."""
        self._data = {"train": (list(np.asarray(train[0], float)), list(np.asarray(train[1], float))),
                      "val": (list(np.asarray(val[0], float)), list(np.asarray(val[1], float)))}
        return self

    def update(self, split: str, step: float, value: float) -> GrokkingDetector:
        steps, values = self._data[split]
        steps.append(float(step))
        values.append(float(value))
        self._preps = None
        return self

    def _is_accuracy(self) -> bool:
        if self.accuracy is not None:
            return self.accuracy
        if self.direction != "higher":
            return False
        return all(is_accuracy(name, self._data[split][1] or prep.y)
                   for name, split, prep in zip(self.names, ("train", "val"), self._preps))

    def predict(self) -> Grokking:
        if self._preps is None:
            self._preps = (prepare(*self._data["train"]), prepare(*self._data["val"]))
        train, val = self._preps
        acc = self._is_accuracy()
        rule = f"accuracy >= {self.acc_level:g}" if acc else f"{self.level:.0%} of the improvement"
        none = Grokking(self.names[0], self.names[1], None, None, None, rule=rule)
        if train.n < 3 or val.n < 1:
            none.verdict = "too few points"
            return none
        lower = self.direction == "lower"
        if acc:
            raw_t = finite_series(*self._data["train"]) if self._data["train"][1] else (train.x, train.y)
            raw_v = finite_series(*self._data["val"]) if self._data["val"][1] else (val.x, val.y)
            mem, gen = first_at_level(*raw_t, self.acc_level), first_at_level(*raw_v, self.acc_level)
        else:
            mem, t0, t1 = reach_step(train.x, train.clean, lower, self.level)
            if abs(t1 - t0) <= MIN_IMPROVEMENT_SIGMAS * train.sigma:
                none.verdict = "train never improved beyond its noise: nothing memorized"
                return none
            gen, v0, v1 = reach_step(val.x, val.clean, lower, self.level)
            if abs(v1 - v0) < MIN_SHARE * abs(t1 - t0):
                gen = None  # validation moved less than half as far as train: not generalized
        progress = None if mem is None else _progress_at(val.x, val.clean, mem, lower)
        first = float(min(train.first[0], val.first[0]))
        last = float(max(train.last[-1], val.last[-1]))
        grokked, verdict = real_delay(mem, gen, progress, first, last)
        mem, gen = (None if v is None else as_step(v) for v in (mem, gen))
        delay = None if mem is None or gen is None else as_step(float(gen) - float(mem))
        return Grokking(self.names[0], self.names[1], mem, gen, delay, grokked, rule,
                        None if progress is None else round(progress, 4), verdict)


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


# ------------------------------------------------------------------------------ in the document
def grokking_pairs(context: Context) -> list[tuple[str, str]]:
    """The (train, val) pairs to read: the caller's ``pairs``, then the ones found by name
    (``auto_pairs``), each once, both curves with a trend."""
    usable = context.usable
    wanted = list(context.options.get("pairs", ()))
    if context.options.get("auto_pairs", True):
        wanted += train_val_pairs(list(usable))
    out: list[tuple[str, str]] = []
    for t, v in wanted:
        if (t, v) not in out and t in usable and v in usable:
            out.append((t, v))
    return out


def grokking_entries(context: Context, pair: tuple[str, ...]) -> list[dict]:
    t, v = pair
    usable = context.usable
    direction = context.directions.get(t) or context.directions.get(v) or moved_direction(usable[t])
    if direction is None:
        return []
    det = GrokkingDetector(direction, acc_level=context.options.get("acc_level", ACC_LEVEL), names=(t, v),
                           preps=(usable[t].prepared, usable[v].prepared))
    return [det.with_raw(context.series[t], context.series[v]).predict().to_dict()]


def moved_direction(result: Any) -> str | None:
    """For a pair of unknown direction: the train curve improves the way it moved."""
    c = result.prepared.clean
    if len(c) < 2 or c[-1] == c[0]:
        return None
    return "higher" if c[-1] > c[0] else "lower"
