"""Probe generations: the model's own words on fixed prompts, stored by step.

With a chat model the probes are asked through its chat template (``probes.format``), and with
``probes.self_report`` each answer is placed on the configured axes: ``probe/self_report/<axis>``
becomes a curve, and a ``self_report`` event keeps every probe's score at that step.
"""

from __future__ import annotations

import time
from typing import Any

from ...config import ConfigError
from ...data.chat_format import chat_prompt, has_chat_template
from ...evals.generation import generate
from ...cadence import Cadence
from ..events import Callback
from ..state import State


class Probes(Callback):
    """Generates every probe prompt (one batch) on its cadence; samples of kind ``probe``."""

    def __init__(self) -> None:
        self.cadence: Cadence | None = None
        self.axes: Any = None

    def on_fit_start(self, state: State) -> None:
        p = state.cfg.probes
        self.cadence = Cadence(p.every, p.log_spaced, state.total_steps)
        if p.format == "chat" and not has_chat_template(state.tokenizer):
            raise ConfigError(["probes.format: 'chat' needs a tokenizer with a chat template "
                               f"(model.path {state.cfg.model.path or '(none)'} has none)"])
        if p.self_report is not None and p.prompts and state.is_main:
            from ...self_report import Axes, SelfReportError

            try:
                self.axes = Axes.from_config(p.self_report)
            except SelfReportError as exc:
                raise ConfigError([str(exc)]) from None

    def _due(self, state: State) -> bool:
        return bool(state.cfg.probes.prompts) and self.cadence is not None and self.cadence.due(state.step)

    def wants_eval(self, state: State) -> bool:
        return self._due(state)

    def on_eval(self, state: State) -> None:
        if not self._due(state) or not state.is_main:
            return
        t0 = time.perf_counter()
        p = state.cfg.probes
        as_chat = p.format == "chat" or (p.format == "auto" and has_chat_template(state.tokenizer))
        prompts = [chat_prompt(state.tokenizer, q.text) if as_chat else q.text for q in p.prompts]
        texts = generate(state.accelerator.unwrap_model(state.model), state.tokenizer,
                         prompts, max_new_tokens=p.max_new_tokens)
        for probe, text in zip(p.prompts, texts):
            state.sample("probe", probe.text, text)
        if self.axes is not None:
            from ...self_report import metrics

            scores = self.axes.probe_scores([q.id for q in p.prompts], texts)
            state.log(metrics(scores))
            state.event("self_report", scores={a: {k: round(v, 4) for k, v in s.items()}
                                                   for a, s in scores.items()})
        state.log({"probe/time_s": time.perf_counter() - t0})
