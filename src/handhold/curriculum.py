"""Stages, mixtures and exit rules, and the resumable sampler that draws batches from them.

Every process builds the same ``Curriculum`` from the same seed and draws the same *global*
batch; each process then keeps its own rows (``rows[rank::world]``). The sampler's whole
state is (stage, steps and tokens in the stage, one cursor per source, the mixing RNG), so a
checkpoint is small JSON and a resumed run draws exactly the same batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import RunConfig, Stage
from .data.sources import Item, Source
from .rules import Decision, cap, detector, rule_from_until

__all__ = ["Curriculum", "Decision", "StageProgress"]


@dataclass
class StageProgress:
    index: int = 0
    steps: int = 0
    tokens: int = 0
    start_step: int = 0
    start_tokens: int = 0




class Curriculum:
    def __init__(self, cfg: RunConfig, sources: dict[str, Source]) -> None:
        self.stages: list[Stage] = cfg.stages
        self.sources = sources
        self.batch_size = cfg.train.batch_size
        self.rng = np.random.Generator(np.random.PCG64(cfg.seed))
        self.cursors = {name: 0 for name in sources}
        self.progress = StageProgress()
        self._mix_cache: dict[int, tuple[list[str], np.ndarray]] = {}
        self._readiness: tuple[int, Any] | None = None  # (stage index, rules.Detector)

    # ------------------------------------------------------------------ drawing
    @property
    def stage(self) -> Stage:
        return self.stages[self.progress.index]

    @property
    def finished(self) -> bool:
        return self.progress.index >= len(self.stages)

    def _mixture(self) -> tuple[list[str], np.ndarray]:
        i = self.progress.index
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

    # ------------------------------------------------------------------ exit rules
    def record_step(self, tokens: int) -> None:
        self.progress.steps += 1
        self.progress.tokens += tokens

    def budget_spent(self) -> Decision | None:
        """Checked after every step: has the stage used up its step or token budget (or, for a
        readiness stage, its ``max_steps``)?"""
        until, p = self.stage.until, self.progress
        if until.steps is not None and p.steps >= until.steps:
            return Decision("budget", {"steps": p.steps})
        if until.tokens is not None and p.tokens >= until.tokens:
            return Decision("budget", {"tokens": p.tokens})
        if until.plateau is not None or until.threshold is not None:
            return cap(self._detector(), p.steps)
        return None

    def ready(self, state: Any) -> Decision | None:
        """Checked after every eval: has the stage's readiness rule (plateau or threshold) fired?

        Feeds the value logged at this eval (``state.logs``) to the stage's online detector
        (:mod:`handhold.rules`), which decides from the evals seen so far. Every eval
        that logged the metric counts (held-out loss every ``eval.every`` steps, suite metrics on
        their own cadence) except an extra eval where a ``--max-steps`` cap falls, so a capped
        run that is resumed decides as the uninterrupted one.
        """
        until = self.stage.until
        metric = until.plateau or until.threshold
        if metric is None or state.eval_is_extra:
            return None
        value = state.logs.get(metric)
        if value is None:
            return None
        decision = self._detector().update(self.progress.steps, value).decide()
        if decision is None:
            return None
        ev = decision.evidence
        ev["global_step"] = state.step
        if "best_step" in ev:
            ev["best_global_step"] = self.progress.start_step + ev["best_step"]
        return decision

    def _detector(self) -> Any:
        """The current stage's readiness detector (a fresh one when the stage changed)."""
        if self._readiness is None or self._readiness[0] != self.progress.index:
            self._readiness = (self.progress.index, detector(rule_from_until(self.stage.until)))
        return self._readiness[1]

    def advance(self, global_step: int, global_tokens: int) -> None:
        self.progress = StageProgress(self.progress.index + 1, 0, 0, global_step, global_tokens)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        state = {"progress": vars(self.progress).copy(), "cursors": dict(self.cursors),
                 "rng": self.rng.bit_generator.state}
        if self._readiness is not None and self._readiness[0] == self.progress.index:
            state["readiness"] = {"stage": self._readiness[0], **self._readiness[1].state_dict()}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.progress = StageProgress(**state["progress"])
        missing = set(self.cursors) - set(state["cursors"])
        if missing:
            raise ValueError(f"checkpoint has no cursor for sources {sorted(missing)}")
        self.cursors = {k: int(state["cursors"][k]) for k in self.cursors}
        self.rng.bit_generator.state = state["rng"]
        self._readiness = None
        saved = state.get("readiness")
        if saved is not None and saved["stage"] == self.progress.index and not self.finished:
            self._detector().load_state_dict(saved)
