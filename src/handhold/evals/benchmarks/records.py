"""What a benchmark eval leaves in the run besides its means: which suite produced the scores, and
each document's scores (the ``benchmark_docs`` event, :mod:`handhold.doc_scores`), so every
curve can carry its sampling noise and two evals of the same documents can be compared paired.
"""

from __future__ import annotations

from typing import Any

from ...benchmark_suite import PRESETS, RENAMED
from ...doc_scores import digest
from .suite import DocRecord, LoadedTask


def suite_identity(spec: str | list[str], tasks: list[LoadedTask]) -> dict[str, Any]:
    """``{"name", "version", "digest"}``: the suite's name (a preset, a file, or the task list), its
    version where the file has one, and a digest of the documents actually read (the subsample)."""
    name = RENAMED.get(spec, spec) if isinstance(spec, str) else "tasks:" + ",".join(spec)
    version = PRESETS[name].get("version") if name in PRESETS else None
    docs = [(lt.family, lt.task.name, [(d.doc_id, d.requests) for d in lt.docs]) for lt in tasks]
    return {"name": str(name), "version": version, "digest": digest(docs)}


def _members(lt: LoadedTask, chance: float) -> list[list[Any]]:
    """What the task's centred score averages (see ``suite.summarize``)."""
    t = lt.task
    if t.kind == "mc":
        return [[t.primary_metric, chance, "mean"], ["cot_acc", chance, "mean"]]
    return [["bpb", 0.0, "byte_prob"], ["exact_match", 0.0, "mean"]]


def docs_event(records: list[DocRecord], tasks: list[LoadedTask], suite: dict[str, Any],
               prefix: str = "eval/") -> dict[str, Any]:
    """The ``benchmark_docs`` event of one eval: per task, its documents' ids and scores."""
    out: dict[str, Any] = {}
    for lt in tasks:
        recs = sorted((r for r in records if r.task == lt.task.name), key=lambda r: r.index)
        if not recs:
            continue
        metrics = sorted({m for r in recs for m in r.scores})
        chance = sum(1 / r.n_choices if r.n_choices > 1 else 0.0 for r in recs) / len(recs)
        out[lt.task.name] = {
            "family": lt.family,
            "ids": [lt.docs[r.index].doc_id for r in recs],
            "scores": {m: [r.scores.get(m) for r in recs] for m in metrics},
            "members": [m for m in _members(lt, chance) if m[0] in metrics]}
    return {"suite": suite, "prefix": prefix, "tasks": out}


def renamed(metrics: dict[str, float], prefix: str) -> dict[str, float]:
    """The eval's keys under ``prefix`` instead of ``eval/`` (``eval/family/x`` -> ``<prefix>family/x``)."""
    if prefix == "eval/":
        return dict(metrics)
    return {prefix + k.removeprefix("eval/"): v for k, v in metrics.items()}
