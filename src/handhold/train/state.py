"""Everything the loop and its callbacks share, and the two ways to change the course of training."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import RunConfig
from ..curriculum import Curriculum, Decision
from ..data.sources import Item, Source


@dataclass
class State:
    cfg: RunConfig
    run_dir: Path
    accelerator: Any
    model: Any
    optimizer: Any
    scheduler: Any
    tokenizer: Any
    curriculum: Curriculum
    sources: dict[str, Source]
    total_steps: int = 0  # planned length (LR schedule, progress bar, log-spaced cadences)
    step: int = 0
    tokens: int = 0
    batch: list[Item] = field(default_factory=list)
    logs: dict[str, float] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    samples: list[tuple[str, str, str]] = field(default_factory=list)
    decision: Decision | None = None
    eval_is_extra: bool = False  # this eval happens only because a max_steps cap falls here
    status: str = "running"
    stop_reason: str | None = None
    _advance: Decision | None = None

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    @property
    def stage_name(self) -> str:
        c = self.curriculum
        return "done" if c.finished else c.stage.name

    def log(self, values: dict[str, float]) -> None:
        """Add metrics for the current step; written to the store at the ``metrics`` event."""
        self.logs.update(values)

    def event(self, kind: str, **data: Any) -> None:
        """Record an event for the current step; written to the store with the metrics."""
        self.events.append((kind, data))

    def sample(self, kind: str, prompt: str, text: str) -> None:
        """Record a generation (probe, eval, chat) for the current step."""
        self.samples.append((kind, prompt, text))

    def request_stop(self, reason: str, status: str = "stopped") -> None:
        self.stop_reason, self.status = reason, status

    def request_advance(self, reason: str, **evidence: Any) -> None:
        """Ask the loop to end the current stage after this step (e.g. readiness fired)."""
        self._advance = Decision(reason, evidence)

    @property
    def should_stop(self) -> bool:
        return self.stop_reason is not None
