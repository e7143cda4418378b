"""Run an eval suite on a model: reasoning metrics from generated chains, standard metrics the
way benchmarks score, and the gauntlet-style family aggregate.

Used in the loop (``callbacks/evaluate.py``) and on a checkpoint (``handhold eval``). Keys are
``eval/<task>/<metric>``, ``eval/family/<family>`` and ``eval/category/<family>/<category>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import EvalSuiteConfig, EvalTask
from ..data.tasks.base import Example
from .examples import task_examples  # noqa: F401 - the suite's examples, also read without torch
from .generation import choice_logprobs, generate

REASONING = ("answer_acc", "step_validity", "coherence", "format")
ANSWER_ONLY_SUFFIX = " Answer:"  # the prompt a benchmark would use: no room for reasoning


def answer_only_prompt(example: Example) -> str:
    return example.prompt + ANSWER_ONLY_SUFFIX


@dataclass
class ExampleRecord:
    """Everything scored for one example; gathered across processes before averaging."""

    task: str
    index: int
    scores: dict[str, float | None] = field(default_factory=dict)
    generation: str | None = None
    n_choices: int = 0


def score_task(model: Any, tokenizer: Any, task: EvalTask, examples: list[Example], indices: list[int],
               batch_size: int, chat: bool = False) -> list[ExampleRecord]:
    """Score the examples at ``indices`` (this process's shard) on the task's metrics.

    ``chat``: the source was trained through the chat template, so it is asked the same way."""
    from .answers import exact_match
    from .reasoning import score_reasoning

    mine = [examples[i] for i in indices]
    if chat:
        from ..data.chat_format import chat_prompt

        asked = [chat_prompt(tokenizer, e.question) for e in mine]
        chain_prompts, answer_prompts = asked, [p + "Answer:" for p in asked]
    else:
        chain_prompts, answer_prompts = [e.prompt for e in mine], [answer_only_prompt(e) for e in mine]
    answer_of = dict(zip(map(id, mine), answer_prompts))
    records = [ExampleRecord(task.name, i) for i in indices]
    wanted = set(task.metrics)
    if wanted & set(REASONING):
        chains = generate(model, tokenizer, chain_prompts,
                          max_new_tokens=task.max_new_tokens, batch_size=batch_size)
        for rec, ex, chain in zip(records, mine, chains):
            s = score_reasoning(ex, chain)
            rec.generation = chain
            rec.scores.update({"answer_acc": float(s.answer_correct), "step_validity": s.step_validity,
                               "coherence": s.coherence, "format": float(s.format_ok)})
    if "exact_match" in wanted:
        answers = generate(model, tokenizer, answer_prompts, max_new_tokens=24,
                           stop_at_newline=True, batch_size=batch_size)
        for rec, ex, ans in zip(records, mine, answers):
            rec.scores["exact_match"] = float(exact_match(ex.answer, ans.strip()))
    if "mc_acc" in wanted:
        with_choices = [(rec, ex) for rec, ex in zip(records, mine) if ex.choices]
        logps = choice_logprobs(model, tokenizer, [answer_of[id(ex)] for _, ex in with_choices],
                                [[" " + c for c in ex.choices] for _, ex in with_choices], batch_size=batch_size)
        for (rec, ex), lp in zip(with_choices, logps):
            best = max(range(len(lp)), key=lp.__getitem__)
            rec.scores["mc_acc"] = float(ex.choices[best] == ex.answer)
            rec.n_choices = len(ex.choices)
    return records


def summarize(records: list[ExampleRecord], suite: EvalSuiteConfig) -> dict[str, float]:
    """Means per task and metric, then the gauntlet aggregate per family."""
    from .aggregate import GauntletSpec, aggregate

    values: dict[str, list[float]] = {}
    n_choices: dict[str, list[int]] = {}
    for rec in records:
        for metric, v in rec.scores.items():
            if v is not None:
                values.setdefault(f"{rec.task}/{metric}", []).append(v)
        if rec.n_choices:
            n_choices.setdefault(f"{rec.task}/mc_acc", []).append(rec.n_choices)
    means = {name: sum(v) / len(v) for name, v in values.items()}
    out = {f"eval/{name}": m for name, m in means.items()}
    baselines = {name: sum(1 / n for n in ns) / len(ns) for name, ns in n_choices.items()}
    categories: dict[str, list[str]] = {}
    families: dict[str, list[str]] = {}
    for family, metrics in suite.families.items():
        for task in suite.tasks:
            cat = f"{family}/{task.category or task.source}"
            members = [f"{task.name}/{m}" for m in metrics if f"{task.name}/{m}" in means]
            if members:
                categories.setdefault(cat, []).extend(members)
                if cat not in families.setdefault(family, []):
                    families[family].append(cat)
    if categories:
        agg = aggregate(means, GauntletSpec(categories=categories, baselines=baselines, families=families))
        out.update({f"eval/family/{f}": v for f, v in agg["families"].items() if v is not None})
        out.update({f"eval/category/{c}": v for c, v in agg["categories"].items() if v is not None})
    return out
