"""The held-out examples of an eval task, rebuilt from its procedural source (no model, no torch).

The in-loop suite scores them (:mod:`handhold.evals.suite`); ``handhold audit`` and the
wrong-answer review (:mod:`handhold.views.review`) rebuild them to match stored generations to
their worked solutions. Views never import torch, so this lives apart from the suite's
generation code.
"""

from __future__ import annotations

from ..config import EvalTask
from ..data.sources import Source
from ..data.tasks.base import Example


def task_examples(task: EvalTask, sources: dict[str, Source]) -> list[Example]:
    """The first ``task.examples`` held-out examples of the task's source; a ValueError for a
    source without worked solutions (a text file: nothing to score)."""
    items = sources[task.source].heldout(task.examples)
    examples = [item.meta for item in items]
    if not all(isinstance(e, Example) for e in examples):
        raise ValueError(f"eval task {task.name!r}: source {task.source!r} has no worked solutions "
                         "(only procedural sources can be scored)")
    return examples
