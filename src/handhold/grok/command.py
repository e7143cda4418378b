"""``handhold grok``: run the grokking lab's variants over seeds and print the comparison."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table


def grok(
    config: Annotated[Optional[Path], typer.Argument(
        help="experiment YAML (configs/grok.yaml, configs/grok_quick.yaml); default: the literature preset")] = None,
    seeds: Annotated[Optional[int], typer.Option("--seeds", min=1, help="seeds per variant (default: the config's)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON document on stdout (progress on stderr)")] = False,
    preset: Annotated[Optional[str], typer.Option(help="a built-in experiment: quick, literature, power, grokfast")] = None,
    variants: Annotated[Optional[str], typer.Option(help="comma-separated variant names to run (default: all)")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="experiment directory (default runs/grok/<name>)")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="override a key: task.p=23, "
                                                      "variants.0.optim.weight_decay=0.3")] = None,
    fresh: Annotated[bool, typer.Option(help="retrain runs that an earlier call finished")] = False,
    report: Annotated[bool, typer.Option(help="write report.html into the experiment directory")] = True,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="runs at once on a local process "
                                                "pool, one torch thread each (default: the machine's cores)")] = None,
    batched: Annotated[bool, typer.Option("--batched", help="train the seeds of a variant together "
                                          "(stacked weights; baseline and Grokfast variants)")] = False,
    slurm: Annotated[bool, typer.Option("--slurm", help="submit the runs to Slurm through submitit")] = False,
    submitit_folder: Annotated[Optional[Path], typer.Option(
        "--submitit-folder", help="submitit's log folder (alone: submitit's local executor; "
        "with --slurm default <out>/submitit)")] = None,
    slurm_param: Annotated[Optional[list[str]], typer.Option(
        "--slurm-param", help="submitit parameter KEY=VALUE (slurm_partition=gpu, timeout_min=60, ...)")] = None,
    ray: Annotated[Optional[str], typer.Option(
        "--ray", help="run on Ray: 'local' starts a local Ray cluster of --jobs CPUs (loopback only); "
        "an address (auto, ray://host:10001) joins a running cluster")] = None,
    reuse_other_code: Annotated[bool, typer.Option(
        "--reuse-other-code", help="reuse finished runs made by another handhold version (flagged in the "
        "table) instead of retraining them")] = False,
    grid: Annotated[Optional[str], typer.Option(
        "--grid", help="run a grid study: a grid YAML file or preset (grid, grid-small); see README")] = None,
    cells: Annotated[Optional[int], typer.Option("--cells", min=1, help="with --grid: run the first N cells only")] = None,
    collect: Annotated[bool, typer.Option("--collect", help="with --grid: train nothing; tabulate the runs a "
                                          "cut-short sweep finished (each cell over its seeds finished in every arm)")] = False,
) -> None:
    """Reproduce modular-arithmetic grokking and compare curricula and Grokfast against the baseline.

    Every (variant, seed) is a run store under the experiment directory; the table gives steps and
    samples to 95%/99% validation accuracy (median, bootstrap 95% interval), the share of seeds that
    generalised within the budget, the memorisation step and the delay.
    """
    import torch

    from ..config import ConfigError
    from .config import load_grok_config
    from .experiment import run_experiment
    from .presets import PRESETS, preset as get_preset
    from .tasks import TaskError

    err = Console(stderr=True)
    say = err if json_out else Console(width=None if sys.stdout.isatty() else 160)  # files/pipes: no squeeze

    from ..terminal import fail

    if grid is not None:  # a grid study: its cells are experiments run like the ones below
        if config is not None or preset is not None or variants or set_:
            fail("--grid runs its own cells: give no CONFIG, --preset, --variants or --set with it")
        from .grid import load_grid

        try:
            grid_spec = load_grid(grid)
        except ConfigError as exc:
            fail(str(exc))
        out = out or Path("runs") / "grok" / grid_spec.name
    if config is not None and preset is not None:
        fail("give either CONFIG or --preset, not both")
    if preset is not None and preset not in PRESETS:
        fail(f"--preset: unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    try:
        if config is not None:
            from ..bundled import find_config

            cfg = load_grok_config(find_config(config, "experiment file"), set_)
        else:
            name = preset or "literature"
            cfg = load_grok_config(data=get_preset(name), overrides=set_, source=f"preset {name}")
    except ConfigError as exc:
        fail(str(exc))
    only = None
    if variants:
        only = [v.strip() for v in variants.split(",") if v.strip()]
        known = [v.name for v in cfg.variants]
        unknown = [v for v in only if v not in known]
        if unknown:
            fail(f"--variants: unknown variant(s) {', '.join(unknown)} (known: {', '.join(known)})")
    if os.environ.get("OMP_NUM_THREADS") is None:
        torch.set_num_threads(1)  # small models: one thread is fastest and leaves the machine usable
    out = out or Path("runs") / "grok" / cfg.name
    executor = None
    if slurm or submitit_folder is not None:
        from .sweep import submitit_executor

        params: dict[str, Any] = {}
        for item in slurm_param or []:
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                fail(f"--slurm-param: expected KEY=VALUE (got {item!r})")
            params[key.strip()] = yaml_scalar(value)
        try:
            executor = submitit_executor(submitit_folder or out / "submitit", slurm=slurm, params=params)
        except Exception as exc:  # noqa: BLE001 - no sbatch, an unknown parameter...
            fail(f"--slurm/--submitit-folder: submitit cannot start: {exc}")
    if jobs is None:
        from .sweep import default_jobs

        jobs = default_jobs()
    if ray is not None:
        if executor is not None:
            fail("give either --ray or --slurm/--submitit-folder, not both")
        try:
            from .ray_engine import RayEngine
        except ImportError:
            fail("--ray needs ray: pip install 'handhold[ray]'")
        executor = RayEngine(address=None if ray == "local" else ray, num_cpus=jobs)
    if grid is not None:
        from .grid import run_grid_command

        try:
            run_grid_command(grid_spec, out, seeds=seeds, fresh=fresh, report=report, cells=cells,
                             json_out=json_out, say=say, err=err, fail=fail, jobs=jobs, executor=executor,
                             batched=batched, allow_other_code=reuse_other_code, collect=collect)
        finally:
            if hasattr(executor, "close"):
                executor.close()
        return
    try:
        summary = run_experiment(cfg, out, seeds=seeds, only=only, reuse=not fresh,
                                 log=lambda line: err.print(line, highlight=False), jobs=jobs,
                                 executor=executor, batched=batched, allow_other_code=reuse_other_code)
    except TaskError as exc:
        fail(str(exc))
    except ValueError as exc:  # a curriculum stage with no examples, etc.
        fail(str(exc))
    finally:
        if hasattr(executor, "close"):
            executor.close()
    if report:
        from .report import write_grok_report

        summary["report"] = str(write_grok_report(out, summary))
    if json_out:
        doc = {k: v for k, v in summary.items() if k != "config"}
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
        return
    say.print(comparison_table(summary))
    say.print(f"experiment: {out}" + (f"\nreport:     {summary['report']}" if report else ""))


def yaml_scalar(text: str) -> Any:
    """``60`` -> 60, ``gpu`` -> "gpu" (a --slurm-param value read as YAML reads it)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def comparison_table(summary: dict[str, Any]) -> Table:
    """The terminal table: one row per variant."""
    def n(v: Any, never: str = "never") -> str:
        return never if v is None else f"{v:,.0f}"

    seeds = summary["seeds"]
    table = Table(title=f"{summary['name']}: {seeds} seed{'s' if seeds != 1 else ''}", title_justify="left",
                  show_edge=False, header_style="bold")
    for col in ("variant", "task", "gen.", "→95% steps", "→99% steps [95% CI]", "→99% samples",
                "memorised", "delay", "grokked", "vs base", "faster on", "code"):
        table.add_column(col, justify="left" if col in ("variant", "task") else "right")
    for v in summary["variants"]:
        task = f"{'+'.join(v['task']['ops'])} p{v['task']['p']}"
        vs = "" if v["vs_baseline"] is None else f"{v['speedup_steps'] or '–'}× / {v['speedup_samples'] or '–'}×"
        table.add_row(v["name"], task, f"{v['generalized']:.0%}", n(v["median_steps_to_val95"]),
                      f"{n(v['median_steps_to_val99'])} [{n(v['ci95'][0])}, {n(v['ci95'][1])}]",
                      n(v["median_samples_to_val99"]), n(v["median_memorization_step"], "–"),
                      n(v["median_delay"], "–"), _grokked(v), vs,
                      "" if v["faster_seeds"] is None else f"{v['faster_seeds']}/{len(v['seeds'])}",
                      v.get("code") or "unknown")
    table.caption = ("medians over seeds; never = not within the budget (counted as infinite); "
                     "grokked = seeds whose delay is real (handhold analyze's rule); "
                     "vs base = baseline median / variant median in steps / samples (>1: faster); "
                     "faster on = seeds where the variant beat the baseline at the same seed (same split and init); "
                     "code = handhold version@commit that made the row's runs")
    return table


def _grokked(v: dict[str, Any]) -> str:
    """Seeds whose delay is real by the shared definition (:mod:`handhold.phases.grokking`)."""
    flags = v.get("grokked") or []
    return f"{sum(1 for f in flags if f)}/{len(flags)}" if flags else ""
