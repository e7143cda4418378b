"""One suite per curve: where ``handhold eval --benchmarks`` writes its scores in a run.

A curve such as ``eval/family/reasoning`` must never join scores of two suites (the procedural
suite in the loop, the seed benchmarks on a checkpoint): the join reads as a drop, and the
divergence detector as the families moving apart. So before writing, the keys the eval would
write are checked against what the run holds, and against which suite wrote them (the
``benchmark_docs`` events name the suite and digest their documents):

- a key written by **another suite** (or by the run's own in-loop eval, which names none):
  the eval is **renamed** to ``eval/<suite>/...`` (``--as NAME`` picks the name), and says so;
- the **same suite at the same step** (the in-loop eval already scored this checkpoint): it is
  **refused** — a training-time value is never overwritten silently; ``--as NAME`` keeps both;
- a renamed target that clashes too: refused, naming ``--as NAME``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..doc_scores import EVENT, read_events
from .benchmarks.records import renamed

SYSTEM_KEYS = ("eval/benchmarks_time_s",)


class SuiteClash(ValueError):
    """The eval cannot be written without joining two suites on one curve; the message says how
    to proceed."""


@dataclass
class Target:
    prefix: str  # "eval/" or "eval/<name>/"
    note: str | None  # what was decided, for the user (None: written where asked, no clash)


def prefix_for(name: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "_", name.strip()).strip("_")
    if not clean:
        raise SuiteClash(f"--as {name!r}: give a name of letters, digits, '_', '.' or '-'")
    return f"eval/{clean}/"


def _suite_name(suite: dict[str, Any]) -> str:
    name = str(suite.get("name") or "benchmarks")
    return re.sub(r"\.ya?ml$", "", name.rsplit("/", 1)[-1])


def _conflicts(store: Any, keys: Iterable[str], step: int, suite: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(keys another suite wrote, keys this suite already wrote at ``step``)."""
    owners: dict[str, set[str]] = {}
    for d in read_events(store.events(EVENT)):
        for k in d.keys():
            owners.setdefault(k, set()).add(str(d.suite.get("digest")))
    held = set(store.metric_keys())
    other, same_step = [], []
    for k in keys:
        if k not in held or k in SYSTEM_KEYS:
            continue
        if owners.get(k, set()) - {str(suite.get("digest"))} or k not in owners:
            other.append(k)
            continue
        steps, values = store.series(k)
        rescored = any(e.step == step and (e.data.get("suite") or {}).get("digest") == suite.get("digest")
                       for e in store.events("eval"))  # an earlier `handhold eval` of this checkpoint: re-scored
        if not rescored and any(s == step and v is not None for s, v in zip(steps, values)):
            same_step.append(k)
    return other, same_step


def choose_target(store: Any, metrics: dict[str, float], step: int, suite: dict[str, Any],
                  as_name: str | None = None) -> Target:
    """Where to write ``metrics`` (keys under ``eval/``) of ``suite`` at ``step``; a
    :class:`SuiteClash` when nowhere is safe without ``--as``."""
    asked = prefix_for(as_name) if as_name else "eval/"
    other, same = _conflicts(store, renamed(metrics, asked), step, suite)
    if same:
        raise SuiteClash(
            f"step {step} already has {len(same)} score(s) of suite {_suite_name(suite)!r} on the same documents "
            f"({', '.join(sorted(same)[:3])}{', ...' if len(same) > 3 else ''}): written during training, "
            f"not overwritten. Pass --as NAME to keep this eval as its own series (eval/NAME/...), or "
            f"evaluate another checkpoint (--step).")
    if not other:
        return Target(asked, None)
    if as_name:
        raise SuiteClash(
            f"--as {as_name}: {', '.join(sorted(other)[:3])} already hold(s) scores of another suite; "
            "choose another name")
    auto = prefix_for(_suite_name(suite))
    other2, same2 = _conflicts(store, renamed(metrics, auto), step, suite)
    if other2 or same2:
        raise SuiteClash(
            f"{', '.join(sorted(other)[:3])} already hold(s) scores of another suite (the run's own eval), and "
            f"{auto}... is taken too: pass --as NAME to write this eval as eval/NAME/...")
    return Target(auto, f"{', '.join(sorted(other)[:2])}{', ...' if len(other) > 2 else ''} already hold(s) "
                        f"another suite's scores (the run's own eval): this eval of suite "
                        f"{_suite_name(suite)!r} is written as its own series under {auto} "
                        f"(--as NAME picks another name)")


def write_suite_eval(run_dir: Any, step: int, checkpoint: Any, spec: str, result: Any, tasks: list,
                     as_name: str | None = None) -> str | None:
    """Write a checkpoint's benchmark result into the run (through :func:`handhold.amend`) under
    the target :func:`choose_target` picks, with its ``benchmark_docs`` event; returns the note
    to show (a rename), or raises :class:`SuiteClash`."""
    from ..runstore.amend import amend
    from ..doc_scores import EVENT
    from .benchmarks.command import store_result
    from .benchmarks.records import docs_event, suite_identity
    from .benchmarks.suite import BenchmarkResult

    identity = suite_identity(spec, tasks)
    with amend(run_dir) as run:
        target = choose_target(run.store, result.metrics, step, identity, as_name)
        store_result(run, step, BenchmarkResult(renamed(result.metrics, target.prefix), result.records, result.seconds))
        run.event(EVENT, step=step, **docs_event(result.records, tasks, identity, target.prefix))
        run.event("eval", step=step, checkpoint=str(checkpoint.name), benchmarks=spec, suite=identity,
                  prefix=target.prefix)
    return target.note
