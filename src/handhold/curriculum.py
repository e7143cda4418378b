"""The resumable sampler that draws a run's batches from its stages' mixtures.

Every process builds the same ``Curriculum`` from the same seed and draws the same *global*
batch; each process then keeps its own rows (``rows[rank::world]``). The sampler's state is
one cursor per source and the mixing RNG, beside the stage tracker's (:mod:`handhold.stages`:
stage index, where the stage started, its readiness detector), so a checkpoint is small JSON
and a resumed run draws exactly the same batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import RunConfig, Stage
from .data.sources import Item, Source
from .rules import Decision
from .stages import Counts, StageTracker, tracker_state

__all__ = ["Curriculum", "Decision", "StageProgress"]


@dataclass
class StageProgress:
    """The current stage's counters: its index, steps and tokens since it started, and where."""

    index: int = 0
    steps: int = 0
    tokens: int = 0
    start_step: int = 0
    start_tokens: int = 0


class Curriculum:
    """Draws batches by the current stage's mixture; ``tracker`` decides when a stage ends.

    The loop calls :meth:`after_step` after every optimizer step, :meth:`after_eval` after an
    eval, and :meth:`advance` when either returned a decision.
    """

    def __init__(self, cfg: RunConfig, sources: dict[str, Source]) -> None:
        self.stages: list[Stage] = cfg.stages
        self.sources = sources
        self.batch_size = cfg.train.batch_size
        self.rng = np.random.Generator(np.random.PCG64(cfg.seed))
        self.cursors = {name: 0 for name in sources}
        self.tracker = StageTracker(cfg.stages)
        self._mix_cache: dict[int, tuple[list[str], np.ndarray]] = {}

    # ------------------------------------------------------------------ drawing
    @property
    def stage(self) -> Stage:
        return self.stages[self.tracker.index]

    @property
    def finished(self) -> bool:
        return self.tracker.finished

    @property
    def progress(self) -> StageProgress:
        """The current stage's counters, read from the tracker (for callbacks that read them)."""
        t = self.tracker
        return StageProgress(t.index, t.now.steps - t.start.steps, (t.now.tokens or 0) - (t.start.tokens or 0),
                             t.start.steps, t.start.tokens or 0)

    def _mixture(self) -> tuple[list[str], np.ndarray]:
        i = self.tracker.index
        if i not in self._mix_cache:
            names = list(self.stage.mix)
            w = np.array([self.stage.mix[n] for n in names], dtype=np.float64)
            self._mix_cache[i] = (names, w / w.sum())
        return self._mix_cache[i]

    def next_batch(self) -> list[Item]:
        """The next global batch: each row's source drawn by the stage's weights."""
        names, probs = self._mixture()
        picks = self.rng.choice(len(names), size=self.batch_size, p=probs)
        batch = []
        for k in picks:
            name = names[int(k)]
            item, self.cursors[name] = self.sources[name].draw("train", self.cursors[name])
            batch.append(item)
        return batch

    # ------------------------------------------------------------------ stage ends
    def after_step(self, step: int, tokens: int) -> Decision | None:
        """After every optimizer step, with the run's totals: the stage's end if its step or token
        budget is spent (or a readiness stage reached its ``max_steps``), else ``None``."""
        return self.tracker.after_step(step, tokens=tokens)

    def after_eval(self, step: int, logs: dict[str, Any], *, extra: bool = False) -> Decision | None:
        """After an eval: the stage's end if its readiness rule (plateau or threshold) fires on the
        values this eval logged, else ``None``.

        Every eval that logged the rule's metric counts (held-out loss every ``eval.every`` steps,
        suite metrics on their own cadence) except an ``extra`` one, where only a ``--max-steps``
        cap falls, so a capped run that is resumed decides as the uninterrupted one.
        """
        return None if extra else self.tracker.after_eval(step, logs)

    def advance(self, global_step: int, global_tokens: int) -> None:
        self.tracker.advance(global_step, tokens=global_tokens)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {"tracker": self.tracker.state_dict(), "cursors": dict(self.cursors),
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = set(self.cursors) - set(state["cursors"])
        if missing:
            raise ValueError(f"checkpoint has no cursor for sources {sorted(missing)}")
        self.tracker.load_state_dict(state["tracker"] if "tracker" in state else _tracker_of_progress(state))
        self.cursors = {k: int(state["cursors"][k]) for k in self.cursors}
        self.rng.bit_generator.state = state["rng"]


def _tracker_of_progress(state: dict[str, Any]) -> dict[str, Any]:
    """The tracker's state from a checkpoint that stored the stage's counters as ``progress``
    (index, steps and tokens in the stage, its start) and its detector as ``readiness``."""
    p = StageProgress(**state["progress"])
    saved = state.get("readiness")
    detector = saved if saved is not None and saved["stage"] == p.index else None
    return tracker_state(p.index, Counts(p.start_step, p.start_tokens),
                         Counts(p.start_step + p.steps, p.start_tokens + p.tokens), detector)
