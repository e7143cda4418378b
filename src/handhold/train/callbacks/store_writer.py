"""Persist what the loop produces through the Run API (main process only)."""

from __future__ import annotations

from typing import Any

from ...rules import REASONS
from ...runstore.live import Run
from ..events import Callback
from ..state import State


def stage_end_args(reason: str | None, evidence: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A loop decision in the one stage-end schema: a free-text reason (``request_advance("manual")``)
    becomes ``requested`` with the text kept as ``evidence["request"]``."""
    if reason in REASONS:
        return reason, dict(evidence)
    return "requested", {"request": reason, **evidence}


# what handhold's own loop writes besides signals (handhold.roles)
TRAINER_ROLES = {"train/lr": "schedule", "train/tokens": "schedule", "train/step_time_s": "system",
                 "train/tokens_per_s": "system", "eval/*time_s": "system", "probe/time_s": "system"}


class StoreWriter(Callback):
    """Metrics at every step, events as they happen, stage starts/ends, the run's status at the end.

    The checkpoint hook flushes, so a checkpoint at step s always has every row up to s on disk.
    """

    def __init__(self, run: Run) -> None:
        self.run = run

    def _drain(self, state: State) -> None:
        for kind, data in state.events:
            self.run.event(kind, step=state.step, **data)
        for kind, prompt, text in state.samples:
            self.run.sample(kind, prompt, text, step=state.step)
        state.events, state.samples = [], []

    def on_fit_start(self, state: State) -> None:
        self.run.set_meta(processes=state.accelerator.num_processes)
        self.run.set_roles({**TRAINER_ROLES, **(getattr(state.cfg, "roles", None) or {})})  # the config's word last

    def on_stage_start(self, state: State) -> None:
        tracker = state.curriculum.tracker
        self.run.stage(tracker.stage.name, step=state.step, **tracker.describe())

    def on_metrics(self, state: State) -> None:
        self.run.log(state.logs, step=state.step)
        self._drain(state)

    def on_stage_end(self, state: State) -> None:
        d = state.decision
        reason, evidence = stage_end_args(d.reason if d else None, d.evidence if d else {})
        self.run.stage_end(reason, step=state.step, **evidence)

    def on_checkpoint(self, state: State) -> None:
        self._drain(state)
        self.run.event("checkpoint", step=state.step, stage=state.stage_name)
        self.run.flush()

    def on_fit_end(self, state: State) -> None:
        self._drain(state)
        status = state.status if state.status in ("finished", "failed", "stopped") else "stopped"
        self.run.finish(status, state.stop_reason)
