"""lm-evaluation-harness on a handhold checkpoint (extra ``[eval]``), fully offline.

Any lm-eval task works, including a local task YAML whose ``dataset_path`` points at local
files (pass its folder as ``include_path``). lm-eval has a fixed cost of seconds per call, so
the loop keeps handhold's own fast scorer for frequent evals and this runs at milestones or
from ``handhold eval``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from ..extras import require
from .generation import context_length


def flatten_results(results: dict[str, Any]) -> dict[str, float]:
    """lm-eval's ``{"results": {task: {"acc,none": 0.5, ...}}}`` -> ``{"eval/<task>/acc": 0.5}``.

    The filter name is kept when it is not ``none`` (``exact_match.strict-match``); stderr
    entries and non-numbers are dropped.
    """
    out: dict[str, float] = {}
    for task, metrics in results.get("results", {}).items():
        for name, value in metrics.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or "," not in name:
                continue
            metric, filt = name.split(",", 1)
            if metric.endswith("_stderr") or not math.isfinite(float(value)):
                continue
            key = metric if filt == "none" else f"{metric}.{filt}"
            out[f"eval/{task}/{key}"] = float(value)
    return out


def run_lm_eval(checkpoint: Path, tasks: list[str], *, include_path: Path | None = None,
                limit: int | None = None, batch_size: int = 16) -> dict[str, float]:
    """Evaluate a checkpoint directory on lm-eval ``tasks``; returns store-ready metrics."""
    from ..runstore.layout import load_model

    model, tokenizer = load_model(Path(checkpoint))  # CheckpointError: one line naming it
    model.eval()
    return evaluate_model(model, tokenizer, tasks, include_path=include_path, limit=limit,
                          batch_size=batch_size)


def evaluate_model(model: Any, tokenizer: Any, tasks: list[str], *, include_path: Path | str | None = None,
                   limit: int | None = None, batch_size: int = 16) -> dict[str, float]:
    """Evaluate a model object (e.g. the one training) on lm-eval ``tasks``, offline."""
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    lm_eval = require("lm_eval", "eval")
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    was_training = model.training
    model.eval()
    # add_bos_token: handhold models are trained on <bos> text; score them the same way
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device="cpu",
              max_length=context_length(model), add_bos_token=True)
    manager = TaskManager(include_path=str(include_path) if include_path else None)
    try:
        results = lm_eval.simple_evaluate(model=lm, tasks=tasks, task_manager=manager, limit=limit,
                                          log_samples=False, bootstrap_iters=0)
    finally:
        model.train(was_training)
    if results is None:  # only on non-zero ranks in distributed runs
        return {}
    return flatten_results(results)
