"""The ``handhold`` command line: train, resume, report, runs.

User errors (bad config, missing files, a run directory in the way) print one clear message
and exit with code 2, never a traceback.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from .terminal import fail, quiet_libraries

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Legible training: curricula of data stages, every signal in one run store.")
console = Console()
err = Console(stderr=True)




_quiet_libraries = quiet_libraries


def _user_errors():
    from .config import ConfigError
    from .data.sources import DataError
    from .runstore.db import StoreError
    from .train.runner import RunDirError

    # OSError: an --out that is a file, a directory we may not write, a full disk
    return (ConfigError, DataError, StoreError, RunDirError, OSError)


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="curriculum YAML, e.g. configs/demo.yaml, or a built-in "
                                                "config's name: demo")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="run directory")] = None,
    max_steps: Annotated[Optional[int], typer.Option(
        help="cap the whole run at N steps; stages run as declared and the run stops where the cap "
             "falls (the LR schedule is unchanged, so a capped run is a prefix of the full run)")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="override a key: optim.lr=1e-3, "
                                                      "stages.1.until.steps=200")] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an existing run in --out")] = False,
    report: Annotated[bool, typer.Option(help="write report.html at the end")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Train a model through the curriculum in CONFIG."""
    from .bundled import find_config
    from .config import load_config
    from .train.runner import start

    _quiet_libraries()
    overrides = list(set_ or [])
    if max_steps is not None:
        overrides.append(f"train.max_steps={max_steps}")
    try:
        config = find_config(config)
        cfg = load_config(config, overrides)
        if out is None:
            if int(os.environ.get("WORLD_SIZE", "1")) > 1:
                fail("pass --out RUN_DIR when launching several processes (they must agree on it)")
            out = Path("runs") / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        state = start(cfg, out, base_dir=config.parent, progress=not quiet, overwrite=overwrite)
    except _user_errors() as exc:
        fail(str(exc))
    _finish(state, out, report)


@app.command()
def resume(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    max_steps: Annotated[Optional[int], typer.Option(
        help="a new cap for the whole run (0 removes the cap)")] = None,
    report: Annotated[bool, typer.Option(help="write report.html at the end")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Continue a run from its latest checkpoint, drawing the same batches it would have."""
    from .train.runner import resume as resume_run

    _quiet_libraries()
    overrides = [] if max_steps is None else [f"train.max_steps={max_steps or 'null'}"]
    try:
        state = resume_run(run_dir, progress=not quiet, overrides=overrides)
    except _user_errors() as exc:
        fail(str(exc))
    _finish(state, run_dir, report)


def _finish(state, run_dir: Path, report: bool) -> None:
    if not state.is_main:
        return
    from .runstore.db import RunStore
    from .summary import family_table, format_stage_table, stage_table

    with RunStore.reader(run_dir) as store:
        console.print(format_stage_table(stage_table(store)))
        families = family_table(store)
        if families is not None:
            console.print(families)
    console.print(f"run:    {run_dir}  ({state.status}: {state.stop_reason})")
    if report:
        from .views.report import write_report

        console.print(f"report: {write_report(run_dir)}")
    if state.status == "failed":
        raise typer.Exit(1)


@app.command("report")
def report_cmd(
    run_dirs: Annotated[list[Path], typer.Argument(help="a run directory; several: one page comparing them")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="HTML file to write (default: "
                                                   "RUN/report.html; for several runs compare.html)")] = None,
) -> None:
    """Write a self-contained HTML report: curves per domain, stage bands, the stage table. With
    several runs: their comparison (any metric overlaid by step, tokens or samples; stages as a
    strip per run; config differences; final values)."""
    if len(run_dirs) > 1:
        from .views.compare import MAX_RUNS, write_compare

        if len(run_dirs) > MAX_RUNS:
            fail(f"{len(run_dirs)} runs: at most {MAX_RUNS} on one comparison page")
        try:
            path = write_compare(run_dirs, output or Path("compare.html"))
        except _user_errors() as exc:
            fail(str(exc))
        console.print(f"comparison: {path}")
        return
    from .views.report import write_report

    try:
        path = write_report(run_dirs[0], output)
    except _user_errors() as exc:
        fail(str(exc))
    console.print(f"report: {path}")


@app.command()
def runs(root: Annotated[Path, typer.Argument(help="a folder of runs")] = Path("runs")) -> None:
    """List runs with status (running, finished, failed), stages and last step."""
    from .runstore.listing import RunInfo, list_runs

    if not root.exists():
        fail(f"{root}: no such directory")
    found = list_runs(root)
    if not found:
        console.print(f"no runs under {root}")
        return
    table = Table("run", "status", "stage", "stages", "last step", "note")
    colors = {"running": "cyan", "finished": "green", "failed": "red", "stopped": "yellow", "crashed": "red"}
    for info in found:
        if not isinstance(info, RunInfo):
            table.add_row(str(info[0]), "[red]unreadable", "", "", "", info[1])
            continue
        table.add_row(str(info.path), f"[{colors.get(info.status, 'white')}]{info.status}",
                      info.stage or "", " > ".join(info.stages),
                      "" if info.last_step is None else str(info.last_step), info.reason or "")
    console.print(table)


@app.command("export")
def export_cmd(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    out: Annotated[Path, typer.Option("--out", help="folder to write the tables into")],
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
) -> None:
    """Write a run's tables (metrics long and wide, stages, events, samples; config and phases as
    JSON) as files, the DataFrames of handhold.read."""
    from .extras import MissingExtraError
    from .runstore.db import StoreError

    if fmt not in ("parquet", "csv"):
        fail(f"--format must be parquet or csv, not {fmt!r}")
    try:
        from .read import export

        paths = export(run_dir, out, fmt)
    except (MissingExtraError, StoreError, OSError) as exc:
        fail(str(exc))
    for path in paths:
        console.print(f"wrote {path}")


# ---------------------------------------------------------------- commands from other modules
# (each feature keeps its command next to its code; register it here with one line)
from .evals.commands import audit, eval_checkpoint, samples  # noqa: E402

app.command()(samples)
app.command()(audit)
app.command("eval")(eval_checkpoint)
from .views.commands import chat, serve  # noqa: E402

app.command()(serve)
app.command()(chat)
from .views.review_command import review  # noqa: E402

app.command()(review)
from .phases.command import analyze  # noqa: E402

app.command("analyze")(analyze)
from .grok.command import grok  # noqa: E402

app.command("grok")(grok)
from .integrations.importer import import_cmd  # noqa: E402

app.command("import")(import_cmd)
from .gguf_command import models_app  # noqa: E402

app.add_typer(models_app, name="models")
from .bundled import init  # noqa: E402

app.command()(init)


def main() -> None:  # pragma: no cover - console entry for `python -m handhold`
    app(prog_name="handhold")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
