"""Per-document benchmark scores: the ``benchmark_docs`` event, and the noise of every key it explains.

Each benchmark eval (in the loop, or ``handhold eval --benchmarks``) writes one event of kind
:data:`EVENT` at its step::

    {"suite": {"name": "seed", "version": 1, "digest": "<sha256 of the documents, 16 hex>"},
     "prefix": "eval/",                # the keys it wrote: <prefix><task>/<metric>, ...
     "tasks": {"arc_easy": {"family": "reasoning",
                            "ids": ["12", "40", ...],                 # document ids, in order
                            "scores": {"acc_raw": [1, 0, ...], "cot_acc": [1, null, ...], ...},
                            "members": [["acc_per_char", 0.25, "mean"], ["cot_acc", 0.25, "mean"]]}}}

``members`` are what the task's centred score averages (metric, chance, ``mean`` or
``byte_prob`` = 2 ** -mean(bpb)). A suite whose categories gather members of several tasks (the
procedural suite: ``reasoning/physics`` averages ``answer_acc`` of every physics task) says so
with ``"categories": {"<family>/<category>": [[task, metric, chance, via], ...]}``; a family is
then the mean of its categories. From that, :class:`DocScores` rebuilds every key the eval wrote
(``<prefix><task>/<metric>``, ``<prefix>category/<family>/<task>``, ``<prefix>family/<family>``)
as a statistic of resampled documents: its 95% band (Wilson for 0/1 accuracies, the bootstrap
otherwise), and, between two evals of the same documents, the paired interval of the change.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .stats import (DRAWS, SEED, PairedChange, bootstrap_interval, docs_needed, draws_of, interval_of, is_binary,
                    wilson)

EVENT = "benchmark_docs"


def digest(items: Iterable[Any]) -> str:
    """A short, stable digest of the documents an eval reads (their ids and text)."""
    h = hashlib.sha256()
    for item in items:
        h.update(json.dumps(item, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _array(values: Any) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)


@dataclass
class _Task:
    family: str
    ids: list[str]
    scores: dict[str, np.ndarray]
    members: list[tuple[str, float, str]]

    @property
    def n(self) -> int:
        return len(self.ids)


def _mean_of(values: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
    """The mean over (resampled) documents, ignoring missing ones: one value per draw."""
    if idx is None:
        return np.atleast_1d(np.nanmean(values))
    return np.nanmean(values[idx], axis=-1)


def _member(task: _Task, metric: str, via: str, idx: np.ndarray | None) -> np.ndarray:
    m = _mean_of(task.scores[metric], idx)
    return 2.0 ** -m if via == "byte_prob" else m


def _centred(task: _Task, idx: np.ndarray | None) -> np.ndarray:
    parts = [(_member(task, metric, via, idx) - chance) / (1 - chance)
             for metric, chance, via in task.members if metric in task.scores]
    return np.nanmean(np.stack(parts), axis=0) if parts else np.full(1 if idx is None else len(idx), np.nan)


@dataclass
class KeyStat:
    """One key as a statistic of its tasks' documents: ``value(tasks, idx)`` (``idx``: one index
    array per task, or ``None`` for the plain value)."""

    key: str
    tasks: list[str]
    value: Callable[[Mapping[str, _Task], list[np.ndarray] | None], np.ndarray]
    binary_metric: str | None = None  # a 0/1 task metric (Wilson applies)


class DocScores:
    """One ``benchmark_docs`` event, read."""

    def __init__(self, step: int | float, data: Mapping[str, Any]) -> None:
        self.step = step
        self.suite = dict(data.get("suite") or {})
        self.prefix = str(data.get("prefix") or "eval/")
        self.categories: dict[str, list[tuple[str, str, float, str]]] = {
            str(c): [(str(t), str(m), float(ch), str(via)) for t, m, ch, via in members]
            for c, members in (data.get("categories") or {}).items()}
        self.tasks: dict[str, _Task] = {}
        for name, t in (data.get("tasks") or {}).items():
            self.tasks[name] = _Task(str(t.get("family", "")), [str(i) for i in t.get("ids", [])],
                                     {m: _array(v) for m, v in (t.get("scores") or {}).items()},
                                     [(str(m), float(c), str(via)) for m, c, via in t.get("members") or []])

    # ------------------------------------------------------------------ which keys it explains
    def stat(self, key: str) -> KeyStat | None:
        """The statistic behind ``key``, or ``None`` when this eval did not write it."""
        if not key.startswith(self.prefix):
            return None
        rest = key[len(self.prefix):]
        parts = rest.split("/")
        if self.categories and parts[0] in ("family", "category"):
            return self._category_stat(key, parts)
        if len(parts) == 2 and parts[0] == "family":
            names = [n for n, t in self.tasks.items() if t.family == parts[1]]
            if not names:
                return None

            def family(tasks: Mapping[str, _Task], idx: list[np.ndarray] | None, names=names) -> np.ndarray:
                per = [_centred(tasks[n], None if idx is None else idx[i]) for i, n in enumerate(names)]
                return np.nanmean(np.stack(per), axis=0)
            return KeyStat(key, names, family)
        if len(parts) == 3 and parts[0] == "category" and parts[2] in self.tasks:
            return KeyStat(key, [parts[2]],
                           lambda tasks, idx, n=parts[2]: _centred(tasks[n], None if idx is None else idx[0]))
        if len(parts) == 2 and parts[0] in self.tasks:
            task, metric = self.tasks[parts[0]], parts[1]
            source, via = (metric, "mean") if metric in task.scores else ("bpb", "byte_prob") if (
                metric == "byte_prob" and "bpb" in task.scores) else (None, "")
            if source is None:
                return None
            binary = source if via == "mean" and is_binary(task.scores[source]) else None
            return KeyStat(key, [parts[0]], lambda tasks, idx, n=parts[0], s=source, v=via:
                           _member(tasks[n], s, v, None if idx is None else idx[0]), binary)
        return None

    def _category_stat(self, key: str, parts: list[str]) -> KeyStat | None:
        """Family and category keys of a suite with explicit categories."""
        cats = ([c for c in self.categories if c.split("/")[0] == parts[1]] if parts[0] == "family" and len(parts) == 2
                else ["/".join(parts[1:])] if "/".join(parts[1:]) in self.categories else [])
        if not cats:
            return None
        names = list(dict.fromkeys(t for c in cats for t, *_ in self.categories[c] if t in self.tasks))
        members = {c: [m for m in self.categories[c] if m[0] in self.tasks] for c in cats}

        def value(tasks: Mapping[str, _Task], idx: list[np.ndarray] | None) -> np.ndarray:
            per = []
            for c in cats:
                parts_ = [(_member(tasks[t], m, via, None if idx is None else idx[names.index(t)]) - ch) / (1 - ch)
                          for t, m, ch, via in members[c] if m in tasks[t].scores]
                if parts_:
                    per.append(np.nanmean(np.stack(parts_), axis=0))
            return np.nanmean(np.stack(per), axis=0) if per else np.full(1 if idx is None else len(idx[0]), np.nan)
        return KeyStat(key, names, value)

    def keys(self) -> list[str]:
        """Every key this eval's documents explain."""
        if self.categories:
            out = [f"{self.prefix}{name}/{m}" for name, t in self.tasks.items() for m in t.scores]
            out += [f"{self.prefix}category/{c}" for c in self.categories]
            return out + [f"{self.prefix}family/{f}" for f in dict.fromkeys(c.split("/")[0] for c in self.categories)]
        out = []
        for name, t in self.tasks.items():
            out += [f"{self.prefix}{name}/{m}" for m in t.scores]
            if "bpb" in t.scores:
                out.append(f"{self.prefix}{name}/byte_prob")
            out.append(f"{self.prefix}category/{t.family}/{name}")
        out += [f"{self.prefix}family/{f}" for f in dict.fromkeys(t.family for t in self.tasks.values())]
        return out

    def n_docs(self, key: str) -> int:
        """Documents behind ``key`` (summed over its tasks)."""
        st = self.stat(key)
        return 0 if st is None else sum(self.tasks[n].n for n in st.tasks)

    # ------------------------------------------------------------------ noise
    def value(self, key: str) -> float:
        st = self.stat(key)
        if st is None:
            return math.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a metric no document has: NaN, skipped
            return float(st.value(self.tasks, None)[0])

    def band(self, key: str, *, draws: int = DRAWS, seed: int = SEED) -> tuple[float, float]:
        """The 95% interval of ``key`` at this eval: Wilson for a 0/1 accuracy, else the bootstrap."""
        st = self.stat(key)
        if st is None:
            return math.nan, math.nan
        if st.binary_metric is not None:
            v = self.tasks[st.tasks[0]].scores[st.binary_metric]
            v = v[np.isfinite(v)]
            return wilson(float(v.sum()), int(v.size))
        return bootstrap_interval(lambda idx: st.value(self.tasks, list(idx)),
                                  [self.tasks[n].n for n in st.tasks], draws=draws, seed=seed)

    def same_documents(self, other: DocScores) -> bool:
        """Both evals read the same suite's same documents (a paired test is valid)."""
        return (self.suite.get("digest") == other.suite.get("digest")
                and all(n in other.tasks and self.tasks[n].ids == other.tasks[n].ids for n in self.tasks))


def paired(before: DocScores, after: DocScores, key: str, *, draws: int = DRAWS, seed: int = SEED
           ) -> PairedChange | None:
    """The change of ``key`` from ``before`` to ``after`` with its paired 95% interval (each draw
    resamples the documents once for both evals); ``None`` unless both read the same documents."""
    sb, sa = before.stat(key), after.stat(key)
    if sb is None or sa is None or sb.tasks != sa.tasks or not before.same_documents(after):
        return None
    sizes = [before.tasks[n].n for n in sb.tasks]
    idx = draws_of(sizes, draws, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        b = np.asarray(sb.value(before.tasks, idx), dtype=np.float64)
        a = np.asarray(sa.value(after.tasks, idx), dtype=np.float64)
        vb, va = float(sb.value(before.tasks, None)[0]), float(sa.value(after.tasks, None)[0])
    return interval_of(a - b, va - vb, int(sum(sizes)), vb, va)


def needed(change: PairedChange, effect: float, tasks: int = 1) -> int | None:
    """Documents (per task) a paired eval needs to see a change of ``effect`` in this key, from the
    spread its interval shows at ``change.n`` documents."""
    if not change.n or not math.isfinite(change.half_width):
        return None
    per_task = change.n / max(tasks, 1)
    sd = change.half_width / 1.959963984540054 * math.sqrt(per_task)
    return docs_needed(sd, effect)


def read_events(events: Iterable[Any]) -> list[DocScores]:
    """The ``benchmark_docs`` events of a store (objects with ``step`` and ``data``), in step order."""
    return sorted((DocScores(e.step, e.data) for e in events), key=lambda d: d.step)


def by_key(docs: Iterable[DocScores]) -> dict[str, list[DocScores]]:
    """For each key, the evals (in step order) whose documents explain it."""
    out: dict[str, list[DocScores]] = {}
    for d in docs:
        for k in d.keys():
            out.setdefault(k, []).append(d)
    return out
