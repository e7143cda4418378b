"""A rich progress bar: stage, step, loss, tokens/s and ETA."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..events import Callback
from ..state import State


class ProgressBar(Callback):
    def __init__(self, total_steps: int, refresh_every: int = 5) -> None:
        self.total = total_steps
        self.every = refresh_every
        self.progress = Progress(
            TextColumn("[bold]{task.fields[stage]}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[tps]} tok/s"),
            TimeRemainingColumn(), transient=False)
        self.task = self.progress.add_task("train", total=total_steps, stage="", loss="-", tps="-")

    def on_fit_start(self, state: State) -> None:
        self.progress.start()
        self.progress.update(self.task, completed=state.step, stage=state.stage_name)

    def on_batch_end(self, state: State) -> None:
        if state.step % self.every == 0:
            self.progress.update(self.task, completed=state.step, stage=state.stage_name,
                                 loss=f"{state.logs['train/loss']:.3f}",
                                 tps=f"{state.logs['train/tokens_per_s']:,.0f}")

    def on_fit_end(self, state: State) -> None:
        self.progress.update(self.task, completed=state.step)
        self.progress.stop()
