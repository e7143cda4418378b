"""Explicit curricula over the training split: which examples each stage trains on.

Every curriculum first assigns each example (train and validation alike) a *level*; stage k
trains on the training examples of level <= k, so the last stage is the whole training set.
The levels double as the parts whose accuracy is logged (``grok/val/acc/<part>``), so a report
shows how the part a stage has not seen yet is doing. See ``CurriculumSpec`` for the kinds.

A lab mechanism (registered in ``mechanisms.py``): a variant's ``curriculum:`` section switches
it on; the run's stages, and the tracker's plan of them (``seedrun.stage_plans``), come from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from pydantic import Field, field_validator, model_validator

from ..config import Until, parse_count
from ..yamlconfig import StrictModel as _Strict
from .tasks import Task


def as_count(v: Any) -> int:
    """``4800000``, ``"4.8M"`` -> an int (the error leaves "(got ...)" to the located message)."""
    try:
        return parse_count(v)
    except ValueError:
        raise ValueError("expected a count such as 2000 or '2M'") from None


RULE_METRICS = ("grok/stage/acc",)  # what the lab measures at every check (training data only)


class Switch(_Strict):
    """Fixed switch points (absolute ``steps`` or cumulative ``samples``, one per stage change)
    or a readiness rule in the main config's ``until:`` form (:mod:`handhold.rules`), checked
    every eval.every steps on ``grok/stage/acc`` (accuracy on the stage's training examples as
    the model predicted them in its training steps: data seen so far, never validation):
    ``until: {threshold: grok/stage/acc, value: 0.99, evals: 3, max_steps: 4000}``."""

    steps: list[int] | None = None
    samples: list[int] | None = None
    until: Until | None = None

    @model_validator(mode="before")
    @classmethod
    def _old_ready(cls, data: Any) -> Any:
        if isinstance(data, dict) and "ready" in data:
            old = data["ready"] if isinstance(data["ready"], dict) else {}
            new = (f"{{threshold: grok/stage/acc, value: {old.get('acc', 0.99)}, evals: {old.get('evals', 3)}, "
                   f"max_steps: {old.get('max_steps', 'N')}}}")
            raise ValueError(f"switch.ready is replaced by the until: form shared with the main config; "
                             f"write  until: {new}")
        return data

    @field_validator("samples", mode="before")
    @classmethod
    def _counts(cls, v: Any) -> Any:
        return [as_count(x) for x in v] if isinstance(v, list) else v

    @model_validator(mode="after")
    def _one(self) -> Switch:
        given = [k for k in ("steps", "samples", "until") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of steps: [..], samples: [..] or until: {threshold: "
                             "grok/stage/acc, value: 0.99, evals: 3, max_steps: N}")
        u = self.until
        if u is not None:
            metric = u.plateau or u.threshold
            if metric is None:
                raise ValueError("until: needs a readiness rule (threshold: or plateau:); fixed switch "
                                 "points are switch.steps or switch.samples")
            if metric not in RULE_METRICS:
                raise ValueError(f"until: the lab's rule reads {', '.join(RULE_METRICS)} (training data "
                                 f"only), not {metric!r}")
        points = self.steps or self.samples
        if points is not None and (any(x <= 0 for x in points) or points != sorted(set(points))):
            raise ValueError(f"switch points must be positive and increasing (got {points})")
        return self


class CurriculumSpec(_Strict):
    """An explicit curriculum over the training split (the validation split is never used):

    - ``operand_subset``: first the pairs whose operands both lie in a seeded random ``fraction``
      of the residues, then the whole training set;
    - ``random_subset``: the control for ``operand_subset``: first a seeded random ``fraction`` of
      the training pairs (no structure), then the whole training set;
    - ``one_op_first``: first operation ``op`` alone, then every operation of the task mixed;
    - ``easy_to_hard``: ``stages`` cumulative stages by ``difficulty`` (``sum``: a + b as
      integers, i.e. how far past the wrap-around; ``max``: max(a, b); ``wrap``: whether a + b
      wraps around p, two levels): stage k adds the next difficulty quantile.
    """

    kind: Literal["operand_subset", "random_subset", "one_op_first", "easy_to_hard"]
    fraction: float = Field(default=0.5, gt=0, lt=1)
    op: str | None = None
    difficulty: Literal["sum", "max", "wrap"] = "sum"
    stages: int = Field(default=2, ge=2)
    switch: Switch

    @property
    def n_stages(self) -> int:
        return self.stages if self.kind == "easy_to_hard" else 2

    @model_validator(mode="after")
    def _points(self) -> CurriculumSpec:
        points = self.switch.steps or self.switch.samples
        if points is not None and len(points) != self.n_stages - 1:
            raise ValueError(f"{self.kind} has {self.n_stages} stages: give {self.n_stages - 1} switch "
                             f"point(s), got {len(points)}")
        if self.kind == "easy_to_hard" and self.difficulty == "wrap" and self.stages != 2:
            raise ValueError("difficulty 'wrap' has two levels: use stages: 2")
        return self


def check_task(spec: CurriculumSpec, ops: list[str]) -> list[tuple[tuple[str, ...], str]]:
    """What the curriculum needs of the task (``(key path in the section, message)`` each)."""
    if spec.kind != "one_op_first":
        return []
    if len(ops) < 2:
        return [(("kind",), f"one_op_first needs a task with two or more ops (task.ops is {ops})")]
    if spec.op is not None and spec.op not in ops:
        return [(("op",), f"{spec.op!r} is not in task.ops {ops}")]
    return []


@dataclass
class Stage:
    name: str
    index: int
    rows: torch.Tensor  # indices into the task's examples (training split only)
    mix: dict[str, float]  # share of the stage's examples per part


def levels(spec: CurriculumSpec | None, task: Task, seed: int) -> tuple[torch.Tensor, list[str]]:
    """(level of every example (M,), the name of each level). No curriculum: one level per
    operation (a single level for a single-operation task)."""
    if spec is None:
        return task.op.clone(), list(task.ops)
    if spec.kind == "operand_subset":
        gen = torch.Generator().manual_seed(10_007 + int(seed))
        chosen = torch.zeros(task.p, dtype=torch.bool)
        chosen[torch.randperm(task.p, generator=gen)[:max(1, round(spec.fraction * task.p))]] = True
        inside = chosen[task.a] & chosen[task.b]
        return (~inside).long(), ["subset", "rest"]
    if spec.kind == "random_subset":
        gen = torch.Generator().manual_seed(10_007 + int(seed))
        inside = torch.rand(len(task.labels), generator=gen) < spec.fraction
        return (~inside).long(), ["sample", "rest"]
    if spec.kind == "one_op_first":
        first = task.ops.index(spec.op or task.ops[0])
        others = [o for i, o in enumerate(task.ops) if i != first]
        return (task.op != first).long(), [task.ops[first], others[0] if len(others) == 1 else "others"]
    difficulty = {"sum": task.a + task.b, "max": torch.maximum(task.a, task.b),
                  "wrap": (task.a + task.b >= task.p).long()}[spec.difficulty].double()
    n = spec.stages
    if spec.difficulty == "wrap":
        level = difficulty.long()
    else:
        cuts = torch.quantile(difficulty, torch.arange(1, n, dtype=torch.float64) / n)
        level = torch.bucketize(difficulty, cuts, right=True)
    names = {2: ["easy", "hard"], 3: ["easy", "medium", "hard"]}.get(n, [f"level{i}" for i in range(n)])
    return level, names


def build_stages(spec: CurriculumSpec | None, task: Task, seed: int) -> list[Stage]:
    """The stages of ``spec`` (a single stage ``all`` without a curriculum)."""
    level, names = levels(spec, task, seed)
    train = task.is_train
    if spec is None:
        rows = train.nonzero().squeeze(1)
        return [Stage("all", 0, rows, _mix(level[rows], names))]
    stages = []
    for k in range(len(names)):
        rows = (train & (level <= k)).nonzero().squeeze(1)
        if len(rows) == 0:
            raise ValueError(f"curriculum {spec.kind}: stage {k} has no training examples "
                             f"(p = {task.p} is too small for this split)")
        name = names[k] if k < len(names) - 1 else ("all" if spec.kind.endswith("_subset") else
                                                      "mix" if spec.kind == "one_op_first" else names[k])
        stages.append(Stage(name, k, rows, _mix(level[rows], names)))
    return stages


def parts(spec: CurriculumSpec | None, task: Task, seed: int) -> dict[str, torch.Tensor]:
    """Boolean masks over the task's examples, one per level (none for a single level)."""
    level, names = levels(spec, task, seed)
    if len(names) < 2:
        return {}
    return {name: level == k for k, name in enumerate(names)}


def _mix(level: torch.Tensor, names: list[str]) -> dict[str, float]:
    counts = torch.bincount(level, minlength=len(names)).double()
    return {n: round(float(c / counts.sum()), 4) for n, c in zip(names, counts) if c > 0}
