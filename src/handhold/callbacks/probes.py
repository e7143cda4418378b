"""Probe generations: the model's own words on fixed prompts, stored by step."""

from __future__ import annotations

import time

from ..evals.generation import generate
from ..schedule import Cadence
from ..train.events import Callback
from ..train.state import State


class Probes(Callback):
    """Generates every probe prompt (one batch) on its cadence; samples of kind ``probe``."""

    def __init__(self) -> None:
        self.cadence: Cadence | None = None

    def on_fit_start(self, state: State) -> None:
        p = state.cfg.probes
        self.cadence = Cadence(p.every, p.log_spaced, state.total_steps)

    def _due(self, state: State) -> bool:
        return bool(state.cfg.probes.prompts) and self.cadence is not None and self.cadence.due(state.step)

    def wants_eval(self, state: State) -> bool:
        return self._due(state)

    def on_eval(self, state: State) -> None:
        if not self._due(state) or not state.is_main:
            return
        t0 = time.perf_counter()
        p = state.cfg.probes
        texts = generate(state.accelerator.unwrap_model(state.model), state.tokenizer,
                         [probe.text for probe in p.prompts], max_new_tokens=p.max_new_tokens)
        for probe, text in zip(p.prompts, texts):
            state.log_sample("probe", probe.text, text)
        state.log({"probe/time_s": time.perf_counter() - t0})
