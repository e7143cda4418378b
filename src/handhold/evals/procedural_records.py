"""The procedural suite's per-example scores as a ``benchmark_docs`` event (:mod:`handhold.doc_scores`),
so its task, category and family curves carry their sampling noise like the real benchmarks'.

Its categories gather members of several tasks (``reasoning/physics``: the reasoning metrics of
every physics task), as :func:`handhold.evals.suite.summarize` averages them; the event says so
with ``categories``.
"""

from __future__ import annotations

from typing import Any

from ..config import EvalSuiteConfig
from ..doc_scores import digest
from .suite import ExampleRecord


def suite_identity(suite: EvalSuiteConfig, examples: dict[str, list]) -> dict[str, Any]:
    """The procedural suite's name and a digest of its examples (prompts and answers)."""
    docs = [(name, [(getattr(e, "prompt", ""), getattr(e, "answer", "")) for e in exs])
            for name, exs in sorted(examples.items())]
    return {"name": "procedural", "version": None, "digest": digest(docs)}


def docs_event(records: list[ExampleRecord], suite: EvalSuiteConfig, identity: dict[str, Any]) -> dict[str, Any]:
    tasks: dict[str, Any] = {}
    chance: dict[str, float] = {}
    for t in suite.tasks:
        recs = sorted((r for r in records if r.task == t.name), key=lambda r: r.index)
        if not recs:
            continue
        metrics = sorted({m for r in recs for m in r.scores})
        tasks[t.name] = {"family": "", "ids": [str(r.index) for r in recs],
                         "scores": {m: [r.scores.get(m) for r in recs] for m in metrics}, "members": []}
        ns = [r.n_choices for r in recs if r.n_choices]
        chance[t.name] = sum(1 / n for n in ns) / len(ns) if ns else 0.0
    categories: dict[str, list[list[Any]]] = {}
    for family, metrics in suite.families.items():
        for t in suite.tasks:
            if t.name not in tasks:
                continue
            cat = f"{family}/{t.category or t.source}"
            for m in metrics:
                if m in tasks[t.name]["scores"]:
                    categories.setdefault(cat, []).append(
                        [t.name, m, chance[t.name] if m == "mc_acc" else 0.0, "mean"])
    return {"suite": identity, "prefix": "eval/", "tasks": tasks, "categories": categories}
