"""Explicit curricula over the training split: which examples each stage trains on.

Every curriculum first assigns each example (train and validation alike) a *level*; stage k
trains on the training examples of level <= k, so the last stage is the whole training set.
The levels double as the parts whose accuracy is logged (``grok/val/acc/<part>``), so a report
shows how the part a stage has not seen yet is doing. See ``CurriculumSpec`` for the kinds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import CurriculumSpec
from .tasks import Task


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
