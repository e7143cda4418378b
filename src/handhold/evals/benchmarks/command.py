"""``handhold eval RUN --benchmarks reasoning-standard``: a checkpoint on real benchmarks, printed and stored.

``handhold eval MODEL_DIR --benchmarks reasoning-standard [--out RUN_DIR]`` scores a plain Hugging Face model
directory (the base model, before any training): printed, and with ``--out`` kept as a new
baseline run (through the Run API, everything at step 0, status finished), which ``report``,
``analyze`` and ``runs`` read like any other run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from .suite import BenchmarkResult, LoadedTask, evaluate, prepare, resolve_suite

if TYPE_CHECKING:
    from ...runstore.amend import Amend


def run_checkpoint(checkpoint: Path, spec: str, *, limit: int | None, cot_limit: int | None,
                   batch_size: int = 32) -> tuple[BenchmarkResult, list[LoadedTask]]:
    """Score ``checkpoint`` on the suite ``spec``; a task file that cannot be read is a
    ``BenchmarkDataError``, a damaged checkpoint a ``CheckpointError`` (both one line)."""
    from ...runstore.layout import load_model

    suite = resolve_suite(spec)
    tasks = prepare(suite, limit)
    model, tokenizer = load_model(checkpoint)
    model.eval()
    result = evaluate(model, tokenizer, tasks, batch_size=batch_size, max_new_tokens=suite.max_new_tokens,
                      cot_limit=cot_limit)
    return result, tasks


def store_result(run: Amend, step: int, result: BenchmarkResult) -> None:
    """Write a checkpoint's result through the amend door (:func:`handhold.amend`): metrics
    replace those of the same keys at ``step``; samples and answer events already stored for this
    step (a re-evaluation) are not written twice."""
    run.replace({**result.metrics, "eval/benchmarks_time_s": result.seconds}, step=step)
    seen_answers = {(e.data.get("task"), e.data.get("doc_id")) for e in run.store.events("answer") if e.step == step}
    seen_samples = {(s.kind, s.prompt) for s in run.store.samples() if s.step == step}
    for rec in result.records:
        if rec.generation is not None and (f"eval/{rec.task}", rec.prompt) not in seen_samples:
            run.sample(f"eval/{rec.task}", rec.prompt, rec.generation, step=step)
        if rec.answer is not None and (rec.answer["task"], rec.answer["doc_id"]) not in seen_answers:
            run.event("answer", step=step, **rec.answer)


def is_model_dir(path: Path) -> bool:
    """A plain HF model directory (``config.json``, no run store): not a run."""
    from ...runstore.layout import db_path

    return path.is_dir() and (path / "config.json").is_file() and not db_path(path).exists()


def write_baseline(out: Path, model_dir: Path, spec: str, result: BenchmarkResult, tasks: list[LoadedTask]) -> None:
    """A new run at ``out`` holding ``result`` at step 0, with the documents' scores (the
    ``benchmark_docs`` event, so the baseline's noise and paired changes can be read); refuses a
    directory that holds a run."""
    from ...doc_scores import EVENT
    from ...runstore.live import init
    from .records import docs_event, suite_identity
    from ...runstore.layout import db_path

    if db_path(out).exists():
        raise FileExistsError(f"{out} already holds a run; choose another --out for the baseline")
    with init(out, config={"baseline": {"model": str(model_dir.resolve()), "benchmarks": spec}},
              name=f"baseline-{model_dir.name}") as run:
        run.log({**result.metrics, "eval/benchmarks_time_s": result.seconds,
                 "eval/benchmarks_cot_time_s": result.cot_seconds}, step=0)
        for rec in result.records:
            if rec.generation is not None:
                run.sample(f"eval/{rec.task}", rec.prompt, rec.generation, step=0)
            if rec.answer is not None:
                run.event("answer", step=0, **rec.answer)
        run.event(EVENT, step=0, **docs_event(result.records, tasks, suite_identity(spec, tasks)))
        run.event("eval", step=0, checkpoint=str(model_dir.resolve()), benchmarks=spec)


def print_result(console: Console, step: int, result: BenchmarkResult, tasks: list[LoadedTask]) -> None:
    m = result.metrics
    table = Table("family", "task", "docs", "primary", "scores", "centred", title=f"benchmarks @ step {step}")
    counts: dict[str, int] = {}
    for rec in result.records:
        counts[rec.task] = counts.get(rec.task, 0) + 1
    for lt in tasks:
        t = lt.task
        primary = f"{t.primary_metric} {m.get(f'eval/{t.name}/{t.primary_metric}', float('nan')):.4f}"
        others = [k.rsplit("/", 1)[1] for k in m if k.startswith(f"eval/{t.name}/")]
        scores = " ".join(f"{k}={m[f'eval/{t.name}/{k}']:.3f}" for k in sorted(others) if k != t.primary_metric)
        centred = m.get(f"eval/category/{lt.family}/{t.name}")
        table.add_row(lt.family, t.name, str(counts.get(t.name, 0)), primary, scores,
                      "-" if centred is None else f"{centred:+.3f}")
    console.print(table)
    for key in sorted(k for k in m if k.startswith("eval/family/")):
        console.print(f"{key:28s} {m[key]:+.4f}  (centred: 0 = chance, 1 = perfect)")
    console.print(f"[dim]{len(result.records)} documents in {result.seconds:.1f} s")
