"""The loop's events, in the order they fire, and the callback base class.

    fit_start                       once, after set-up (or after a resume)
    for each stage:
        stage_start
        for each step:
            batch_start             the global batch is drawn; state.batch holds it
            forward, backward
            after_backward          gradients exist (clip / inspect here)
            optimizer step
            batch_end               state.logs holds this step's metrics
            eval                    every eval.every steps and at stage end: evaluators add to state.logs
                                    (at most once per step)
            milestone               the stage ends here (state.decision) or the run does: milestone
                                    evaluators (lm-eval, stage-end suites) add to state.logs
            metrics                 state.logs is complete: writers persist it
            checkpoint              just before a checkpoint is written (flush what it covers)
        stage_end                   the exit rule fired (budget or readiness); state.decision says why
    fit_end                         once; state.status is finished, failed or stopped

Callbacks observe. Anything that changes training asks through the state:
``state.request_stop(reason)`` or ``state.request_advance(reason)``.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .state import State


class Event(str, Enum):
    FIT_START = "fit_start"
    STAGE_START = "stage_start"
    BATCH_START = "batch_start"
    AFTER_BACKWARD = "after_backward"
    BATCH_END = "batch_end"
    EVAL = "eval"
    MILESTONE = "milestone"
    METRICS = "metrics"
    CHECKPOINT = "checkpoint"
    STAGE_END = "stage_end"
    FIT_END = "fit_end"


class Callback:
    """Override only the hooks you need: ``def on_<event>(self, state) -> None``."""

    def wants_eval(self, state: State) -> bool:
        """Ask the loop to fire ``eval`` at this step (an evaluator with its own cadence)."""
        return False

    def run_event(self, event: Event, state: State) -> None:
        hook = getattr(self, f"on_{event.value}", None)
        if hook is not None:
            hook(state)
