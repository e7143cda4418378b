"""``handhold review RUN``: the share of sound reasoning among wrong answers, per task and step.

A command of its own rather than a flag of ``handhold audit``: ``audit`` rebuilds the procedural
suite from the config and sorts one step's chains into verdict kinds; ``review`` reads only the
run store, so it also covers real benchmarks (``answer`` events) and counts the labels a person
gave in the dashboard, with a Wilson 95% interval for every share.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table

console = Console()


from ..terminal import fail as _fail  # noqa: E402 - the one error exit


def review(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    step: Annotated[Optional[int], typer.Option(min=0, help="only this step (default: every step)")] = None,
    task: Annotated[Optional[str], typer.Option(help="only this task")] = None,
) -> None:
    """Share of sound reasoning among wrong answers (labels by hand, else automatic), with Wilson 95% CIs."""
    from ..runstore.db import StoreError
    from .review import review_summary

    try:
        rows, notes = review_summary(run_dir, step=step, task=task)
    except StoreError as exc:
        _fail(str(exc))
    for note in notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if not rows:
        where = "".join([f" at step {step}" if step is not None else "", f" of task {task!r}" if task else ""])
        console.print(f"no wrong answers to review{where} in {run_dir}")
        raise typer.Exit(1)
    table = Table(title=f"Wrong-answer review: {run_dir}", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False,
                  caption="share = sound / (sound + unsound); hand: labels by a person (the others are "
                          "automatic); label in the dashboard (handhold serve)")
    for name in ("step", "task", "wrong", "sound", "unsound", "unlab.", "hand", "share", "95% CI"):
        if name == "task":  # the one column that may fold on a narrow terminal
            table.add_column(name, overflow="fold")
        else:
            table.add_column(name, justify="right", no_wrap=True, min_width=11 if name == "95% CI" else len(name))
    for r in rows:
        share = "–" if r.share is None else f"{100 * r.share:.1f}%"
        ci = "–" if r.low is None else f"{100 * r.low:.1f}–{100 * r.high:.1f}%"
        table.add_row(str(r.step), r.task, str(r.wrong), str(r.sound), str(r.unsound), str(r.unlabelled),
                      str(r.human), share, ci, style="bold" if r.task == "all" else None)
    console.print(table)
