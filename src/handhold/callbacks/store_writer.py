"""Persist what the loop produces into the run store (main process only)."""

from __future__ import annotations

from ..store import RunStore, writer_identity
from ..train.events import Callback
from ..train.state import State


class StoreWriter(Callback):
    """Metrics at every step, events as they happen, status and meta for ``handhold runs``.

    The checkpoint hook flushes, so a checkpoint at step s always has every row up to s on disk.
    """

    def __init__(self, store: RunStore) -> None:
        self.store = store

    def _drain(self, state: State) -> None:
        for kind, data in state.events:
            self.store.log_event(state.step, kind, data)
        for kind, prompt, text in state.samples:
            self.store.log_sample(state.step, kind, prompt, text)
        state.events, state.samples = [], []

    def on_fit_start(self, state: State) -> None:
        s = self.store
        s.set_meta("status", "running")
        s.set_meta("stop_reason", None)
        s.set_meta("writer", writer_identity())
        s.set_meta("name", state.cfg.name)
        s.set_meta("stages", [st.name for st in state.cfg.stages])
        s.set_meta("processes", state.accelerator.num_processes)
        s.log_event(state.step, "resume" if state.step else "fit_start",
                    {"processes": state.accelerator.num_processes, "stage": state.stage_name})

    def on_stage_start(self, state: State) -> None:
        c = state.curriculum
        self.store.log_event(state.step, "stage_start", {
            "stage": c.stage.name, "index": c.progress.index, "mix": c.stage.mix,
            "until": c.stage.until.model_dump(exclude_none=True)})

    def on_metrics(self, state: State) -> None:
        self.store.log_metrics(state.step, state.logs)
        self._drain(state)

    def on_stage_end(self, state: State) -> None:
        c, d = state.curriculum, state.decision
        self.store.log_event(state.step, "stage_end", {
            "stage": c.stage.name, "index": c.progress.index, "steps": c.progress.steps,
            "tokens": c.progress.tokens, "reason": d.reason if d else None,
            "evidence": d.evidence if d else {}})

    def on_checkpoint(self, state: State) -> None:
        self._drain(state)
        self.store.log_event(state.step, "checkpoint", {"stage": state.stage_name})
        self.store.flush()

    def on_fit_end(self, state: State) -> None:
        self._drain(state)
        self.store.log_event(state.step, "fit_end", {"status": state.status, "reason": state.stop_reason})
        self.store.set_meta("status", state.status)
        self.store.set_meta("stop_reason", state.stop_reason)
        self.store.set_meta("last_step", state.step)
        self.store.flush()
