"""A benchmark suite scored on a model and summed up gauntlet-style.

The suite file (families of task references, presets such as ``seed``) is read by
:mod:`handhold.benchmark_suite`; here its tasks are loaded, scored and aggregated.

Keys, in the procedural suite's scheme: ``eval/<task>/<metric>`` (``acc_raw``,
``acc_per_char``, ``acc_per_token``, ``acc_per_byte``, ``bpb``, ``byte_prob``,
``exact_match``, ``cot_acc``, ``cot_acc_all``, ``cot_consistent``, ``cot_answered``),
``eval/category/<family>/<task>`` (the task's centred score) and ``eval/family/<family>``.
A task's centred score averages its accuracy-like scores, each centred on chance as the
gauntlet does (``evals/aggregate.py``): the primary metric and ``cot_acc`` against
1/choices, ``exact_match`` and ``byte_prob`` (``2 ** -bpb``, the geometric-mean probability of
a gold byte) against 0.

Chain of thought separates "did not answer" from "answered wrong" (:mod:`.cot`):
``cot_answered`` is the share of chain-of-thought questions whose answer could be read,
``cot_acc`` the accuracy over those answered questions only (absent when none was answered),
``cot_acc_all`` the accuracy with every unanswered question counted wrong. The family score
uses ``cot_acc``: a model that cannot follow the answer format is not thereby scored below
chance; read ``cot_answered`` beside it (the review lists unanswered generations apart).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ...benchmark_suite import Suite, resolve_suite
from ...yamlconfig import ConfigError
from .data import BenchmarkTask, Doc, load_bigbench, load_olmo_task

__all__ = ["Suite", "resolve_suite", "load_task", "prepare", "evaluate",
           "score_shard", "summarize", "DocRecord", "LoadedTask", "BenchmarkResult"]


def load_task(ref: str, base: Path = Path(".")) -> BenchmarkTask:
    """One task reference -> its documents (BIG-bench when it names a .json file or a folder)."""
    if ref.endswith(".json") or "/" in ref or "\\" in ref:
        path = Path(ref)
        return load_bigbench(path if path.is_absolute() else base / path)
    name, _, variant = ref.partition(":")
    return load_olmo_task(name, variant or None)


# --------------------------------------------------------------------------- scoring
@dataclass
class DocRecord:
    """Everything scored for one document; gathered across processes before averaging."""

    task: str
    index: int
    n_choices: int
    scores: dict[str, float] = field(default_factory=dict)
    prompt: str | None = None  # the chain-of-thought prompt as shown, and the generation
    generation: str | None = None
    answer: dict | None = None  # the ``answer`` event's data


@dataclass
class LoadedTask:
    family: str
    task: BenchmarkTask
    docs: list[Doc]
    cot: bool


def prepare(suite: Suite, limit: int | None) -> list[LoadedTask]:
    """Load every task once (at fit start) and fix its subsample."""
    out: list[LoadedTask] = []
    for family, ref in suite.references():
        task = load_task(ref, suite.base)
        if any(lt.task.name == task.name for lt in out):
            raise ConfigError([f"benchmark suite: task {task.name!r} appears twice"])
        cot = family in suite.cot and task.kind == "mc" and all(d.choices for d in task.docs)
        out.append(LoadedTask(family, task, task.subsample(limit), cot))
    return out


SHARED_PREFIX_CHARS = 200  # documents whose contexts share this much (few-shot examples) share one pass


def doc_groups(docs: list[Doc], batch_size: int) -> list[list[int]]:
    """Request indices that share the forward pass of their common prefix: each document's own
    requests (its choices share the question), or, when every document's context starts with the
    same few-shot examples (SQuAD and Jeopardy 5-shot: ~85% of each context), consecutive documents
    together, up to ``batch_size`` requests a group (0: one document a group). The scores are the
    same either way (the prefix's cache is copied to each row); the shared examples run once a group."""
    spans, at = [], 0
    for d in docs:
        spans.append(list(range(at, at + len(d.requests))))
        at += len(d.requests)
    contexts = [c for d in docs for c, _ in d.requests]
    if batch_size <= 1 or len(docs) < 2 or len(os.path.commonprefix(contexts)) < SHARED_PREFIX_CHARS:
        return spans
    groups: list[list[int]] = [[]]
    for span in spans:
        if groups[-1] and len(groups[-1]) + len(span) > batch_size:
            groups.append([])
        groups[-1] += span
    return groups


def score_shard(model: Any, tokenizer: Any, tasks: list[LoadedTask], rank: int = 0, world: int = 1, *,
                batch_size: int = 32, max_new_tokens: int = 96, cot_limit: int | None = None,
                timings: dict[str, float] | None = None, share_across_docs: bool = True) -> list[DocRecord]:
    """Score this process's share of every task's documents (``docs[rank::world]``); ``timings``
    (when given) accumulates ``cot_s``, the seconds spent generating chain of thought."""
    from ..generation import generate
    from .cot import cot_prompt, question_text, read_generation
    from .metrics import doc_scores
    from .scoring import score_requests

    records: list[DocRecord] = []
    for lt in tasks:
        mine = list(range(rank, len(lt.docs), world))
        docs = [lt.docs[i] for i in mine]
        requests = [r for d in docs for r in d.requests]
        groups = doc_groups(docs, batch_size) if share_across_docs else doc_groups(docs, 0)
        scores = score_requests(model, tokenizer, requests, batch_size=batch_size, groups=groups)
        at = 0
        recs = []
        for i, d in zip(mine, docs):
            recs.append(DocRecord(lt.task.name, i, len(d.requests),
                                  doc_scores(lt.task, d, scores[at:at + len(d.requests)])))
            at += len(d.requests)
        if lt.cot:
            n_cot = len(lt.docs) if cot_limit is None else min(cot_limit, len(lt.docs))
            chosen = [(r, d) for r, d in zip(recs, docs) if r.index < n_cot]
            prompts = [cot_prompt(d, tokenizer) for _, d in chosen]
            t0 = time.perf_counter()
            texts = generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)
            if timings is not None:
                timings["cot_s"] = timings.get("cot_s", 0.0) + time.perf_counter() - t0
            for (rec, d), prompt, text in zip(chosen, prompts, texts):
                read = read_generation(d, text)
                rec.scores["cot_answered"] = float(read["answered"])
                rec.scores["cot_acc_all"] = float(read["correct"])  # unanswered counts as wrong
                if read["answered"]:  # cot_acc: accuracy over the answered questions only
                    rec.scores["cot_acc"] = float(read["correct"])
                if read["consistent"] is not None:
                    rec.scores["cot_consistent"] = float(read["consistent"])
                rec.prompt, rec.generation = prompt, text
                rec.answer = {"task": lt.task.name, "doc_id": d.doc_id, "question": question_text(d),
                              "choices": list(d.choices), "gold": d.gold, **read}
        records += recs
    return records


def summarize(records: list[DocRecord], tasks: list[LoadedTask]) -> dict[str, float]:
    """Means per task and metric, then the centred gauntlet aggregate per family."""
    from ..aggregate import GauntletSpec, aggregate

    values: dict[str, list[float]] = {}
    chance: dict[str, list[float]] = {}
    for rec in records:
        for metric, v in rec.scores.items():
            values.setdefault(f"{rec.task}/{metric}", []).append(v)
        chance.setdefault(rec.task, []).append(1 / rec.n_choices if rec.n_choices > 1 else 0.0)
    means = {name: sum(v) / len(v) for name, v in values.items()}
    for name in list(means):
        if name.endswith("/bpb"):
            means[name.removesuffix("bpb") + "byte_prob"] = 2 ** -means[name]
    out = {f"eval/{name}": m for name, m in means.items()}
    categories: dict[str, list[str]] = {}
    baselines: dict[str, float] = {}
    families: dict[str, list[str]] = {}
    for lt in tasks:
        t = lt.task
        base = sum(chance.get(t.name, [0.0])) / max(len(chance.get(t.name, [])), 1)
        if t.kind == "mc":
            members = {f"{t.name}/{t.primary_metric}": base, f"{t.name}/cot_acc": base}
        else:
            members = {f"{t.name}/byte_prob": 0.0, f"{t.name}/exact_match": 0.0}
        members = {k: b for k, b in members.items() if k in means}
        if members:
            cat = f"{lt.family}/{t.name}"
            categories[cat] = list(members)
            baselines.update(members)
            families.setdefault(lt.family, []).append(cat)
    if categories:
        agg = aggregate(means, GauntletSpec(categories=categories, baselines=baselines, families=families))
        out.update({f"eval/family/{f}": v for f, v in agg["families"].items() if v is not None})
        out.update({f"eval/category/{c}": v for c, v in agg["categories"].items() if v is not None})
    return out


@dataclass
class BenchmarkResult:
    metrics: dict[str, float]
    records: list[DocRecord]
    seconds: float
    cot_seconds: float = 0.0  # of ``seconds``, chain-of-thought generation (this process)


def evaluate(model: Any, tokenizer: Any, tasks: list[LoadedTask], *, rank: int = 0, world: int = 1,
             gather: Callable[[list], list] | None = None, batch_size: int = 32, max_new_tokens: int = 96,
             cot_limit: int | None = None) -> BenchmarkResult:
    """Score the tasks (this rank's shard), gather the records, summarize (the same on every rank)."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    records = score_shard(model, tokenizer, tasks, rank, world, batch_size=batch_size,
                          max_new_tokens=max_new_tokens, cot_limit=cot_limit, timings=timings)
    if world > 1 and gather is not None:
        records = gather(records)
    records.sort(key=lambda r: ([lt.task.name for lt in tasks].index(r.task), r.index))
    return BenchmarkResult(summarize(records, tasks), records, time.perf_counter() - t0, timings.get("cot_s", 0.0))
