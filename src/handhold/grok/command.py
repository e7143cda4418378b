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
    preset: Annotated[Optional[str], typer.Option(help="a built-in experiment: quick, literature, power")] = None,
    variants: Annotated[Optional[str], typer.Option(help="comma-separated variant names to run (default: all)")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="experiment directory (default runs/grok/<name>)")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="override a key: task.p=23, "
                                                      "variants.0.optim.weight_decay=0.3")] = None,
    fresh: Annotated[bool, typer.Option(help="retrain runs that an earlier call finished")] = False,
    report: Annotated[bool, typer.Option(help="write report.html into the experiment directory")] = True,
    grid: Annotated[Optional[str], typer.Option(
        "--grid", help="run a grid study: a grid YAML file or preset (grid, grid-small); see README")] = None,
    cells: Annotated[Optional[int], typer.Option("--cells", min=1, help="with --grid: run the first N cells only")] = None,
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

    def fail(message: str) -> None:
        err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)

    if grid is not None:
        if config is not None or preset is not None or variants or set_:
            fail("--grid runs its own cells: give no CONFIG, --preset, --variants or --set with it")
        from .grid import run_grid_command

        run_grid_command(grid, out, seeds=seeds, fresh=fresh, report=report, cells=cells, json_out=json_out,
                         say=say, err=err, fail=fail)
        return
    if config is not None and preset is not None:
        fail("give either CONFIG or --preset, not both")
    if preset is not None and preset not in PRESETS:
        fail(f"--preset: unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    try:
        if config is not None:
            cfg = load_grok_config(config, set_)
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
    try:
        summary = run_experiment(cfg, out, seeds=seeds, only=only, reuse=not fresh,
                                 log=lambda line: err.print(line, highlight=False))
    except TaskError as exc:
        fail(str(exc))
    except ValueError as exc:  # a curriculum stage with no examples, etc.
        fail(str(exc))
    if report:
        from .report import write_grok_report

        summary["report"] = str(write_grok_report(out, summary))
    if json_out:
        doc = {k: v for k, v in summary.items() if k != "config"}
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
        return
    say.print(comparison_table(summary))
    say.print(f"experiment: {out}" + (f"\nreport:     {summary['report']}" if report else ""))


def comparison_table(summary: dict[str, Any]) -> Table:
    """The terminal table: one row per variant."""
    def n(v: Any, never: str = "never") -> str:
        return never if v is None else f"{v:,.0f}"

    seeds = summary["seeds"]
    table = Table(title=f"{summary['name']}: {seeds} seed{'s' if seeds != 1 else ''}", title_justify="left",
                  show_edge=False, header_style="bold")
    for col in ("variant", "task", "gen.", "→95% steps", "→99% steps [95% CI]", "→99% samples",
                "memorised", "delay", "grokked", "vs base", "faster on"):
        table.add_column(col, justify="left" if col in ("variant", "task") else "right")
    for v in summary["variants"]:
        task = f"{'+'.join(v['task']['ops'])} p{v['task']['p']}"
        vs = "" if v["vs_baseline"] is None else f"{v['speedup_steps'] or '–'}× / {v['speedup_samples'] or '–'}×"
        table.add_row(v["name"], task, f"{v['generalized']:.0%}", n(v["median_steps_to_val95"]),
                      f"{n(v['median_steps_to_val99'])} [{n(v['ci95'][0])}, {n(v['ci95'][1])}]",
                      n(v["median_samples_to_val99"]), n(v["median_memorization_step"], "–"),
                      n(v["median_delay"], "–"), _grokked(v), vs,
                      "" if v["faster_seeds"] is None else f"{v['faster_seeds']}/{len(v['seeds'])}")
    table.caption = ("medians over seeds; never = not within the budget (counted as infinite); "
                     "grokked = seeds whose delay is real (handhold analyze's rule); "
                     "vs base = baseline median / variant median in steps / samples (>1: faster); "
                     "faster on = seeds where the variant beat the baseline at the same seed (same split and init)")
    return table


def _grokked(v: dict[str, Any]) -> str:
    """Seeds whose delay is real by the shared definition (:mod:`handhold.phases.grokking`)."""
    flags = v.get("grokked") or []
    return f"{sum(1 for f in flags if f)}/{len(flags)}" if flags else ""
