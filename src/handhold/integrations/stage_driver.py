"""A curriculum's stages inside another framework's loop: the tracker, the dataset and the run.

The Trainer and Lightning callbacks translate their framework's hooks into these calls::

    a new or resumed fit:     run = open_run(run_dir, driver, ...)   (records the first stage's start)
    after an optimizer step:  finished = driver.after_step(step, rows)
    after an evaluation:      finished = driver.after_eval(step, metrics, rows)
    finished:                 ask the framework to stop
    a checkpoint:             driver.state_dict(rows) / driver.load_state_dict(saved)

``rows`` are the curriculum rows training has consumed up to ``step``. The dataset draws ahead of
training, so a stage change applies from the next row drawn, a token budget is counted on the
rows trained, and a checkpoint holds the sampler as it was at ``rows``. The decisions are the
:class:`~handhold.stages.StageTracker`'s, so a stage ends for the same reason, with the same
evidence, as in handhold's own trainer.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from ..rules import Decision
from ..runstore.live import Run
from ..stages import Counts, StageTracker, tracker_state
from .dataset import CurriculumDataset

__all__ = ["StageDriver", "open_run", "tracker_state_of_callback"]


class StageDriver:
    """Ends the dataset's stages by their exit rules and records starts and ends in ``run``."""

    def __init__(self, dataset: CurriculumDataset) -> None:
        self.dataset = dataset
        self.tracker = StageTracker(dataset.stages)
        self.run: Run | None = None  # the main process's run (other processes decide, but write nothing)

    def after_step(self, step: int, rows: int) -> bool:
        """After an optimizer step: end the stage if its budget is spent. True once the last stage ended."""
        tokens = self.dataset.tokens_at(rows) if self.tracker.needs("tokens") else None
        if tokens is None and self.tracker.needs("tokens"):
            return False  # those rows are no longer kept: no evidence either way
        return self._end(self.tracker.after_step(step, tokens=tokens), step, rows)

    def after_eval(self, step: int, metrics: Mapping[str, Any], rows: int) -> bool:
        """After an evaluation: end the stage if its readiness rule fires on ``metrics``."""
        return self._end(self.tracker.after_eval(step, metrics), step, rows)

    def _end(self, decision: Decision | None, step: int, rows: int) -> bool:
        if decision is None:
            return False
        if self.run is not None:
            self.run.stage_end(decision.reason, step=step, **decision.evidence)
        self.dataset.advance()
        self.tracker.advance(step, tokens=self.dataset.tokens_at(rows) or 0)
        if self.tracker.finished:
            return True
        if self.run is not None:
            self.run.stage(self.tracker.stage.name, step=step, **self.tracker.describe())
        return False

    def state_dict(self, rows: int) -> dict[str, Any]:
        return {"dataset": self.dataset.state_at(rows), "tracker": self.tracker.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict`, or from a callback state that held the stage's numbers
        itself (see :func:`tracker_state_of_callback`), flat or under ``callback``."""
        self.dataset.load_state_dict(state["dataset"])
        saved = state.get("tracker")
        if saved is None:
            saved = tracker_state_of_callback(state.get("callback", state), len(self.dataset.stages))
        self.tracker.load_state_dict(saved)


def tracker_state_of_callback(saved: Mapping[str, Any], n_stages: int) -> dict[str, Any]:
    """The tracker's state from a callback checkpoint that stored ``stage``, ``stage_step``,
    ``stage_tokens``, ``detector`` and ``done`` (a finished curriculum kept its last index)."""
    start = Counts(int(saved["stage_step"]), int(saved.get("stage_tokens", 0)))
    if saved.get("done"):
        return tracker_state(n_stages, start)
    return tracker_state(int(saved["stage"]), start, detector=saved.get("detector"))


# what the loops log besides signals: the HF Trainer's and Lightning's bookkeeping (handhold.roles)
LOOP_ROLES = {"train/epoch": "schedule", "epoch": "schedule", "train/lr": "schedule", "lr-*": "schedule",
              "*_runtime": "system", "*_per_second": "system", "*/runtime": "system", "*/samples_per_second": "system",
              "*/steps_per_second": "system", "trainer/*": "system"}


def open_run(run_dir: str | os.PathLike[str], driver: StageDriver | None, *, name: str | None, config: Any,
             resumed: bool, step: int, roles: Mapping[str, str] | None = None) -> Run:
    """The fit's run (continued from ``step`` when ``resumed``); a new one records the first stage's start."""
    cfg = driver.dataset.cfg if driver is not None else None
    run = Run(run_dir, config=config, name=name or (cfg.name if cfg is not None else None), resume=resumed,
              resume_from=step if resumed else None,
              stages=[s.name for s in cfg.stages] if cfg is not None else None)
    run.set_roles({**LOOP_ROLES, **(roles or {})})  # the user's word last
    if driver is not None:
        driver.run = run
        if not resumed:
            run.stage(driver.tracker.stage.name, step=0, **driver.tracker.describe())
    return run


def renamed_callback(module: str, new: type) -> Callable[[str], Any]:
    """A module ``__getattr__`` that still answers the old name ``HandholdCallback`` with ``new``,
    warning once: both integrations named their callback that, which read as one class."""
    warned = False

    def __getattr__(name: str) -> Any:
        nonlocal warned
        if name != "HandholdCallback":
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        if not warned:
            warned = True
            warnings.warn(f"{module}.HandholdCallback is deprecated: use {new.__name__}", DeprecationWarning,
                          stacklevel=2)
        return new

    return __getattr__
