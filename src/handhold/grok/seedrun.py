"""One seed's bookkeeping: its run store, stage tracker and result, shared by both lab loops.

``train_run`` (one seed) and ``train_batched`` (many seeds stacked) compute the same things in
different shapes; everything a seed *records* goes through its :class:`SeedRun`, so the two
loops write the same metrics and events and end for the same reasons::

    book = SeedRun(spec, seed, run_dir, task, stages)      # run store, meta, first stage_start
    book.record_eval(0, samples, metrics, lr, stop=False)  # the eval before the first step
    every step:
        acc = book.trained(step, loss, correct, n, check)  # batch loss; stage accuracy at a check
        decision = book.stage_decision(step, samples, acc) # switch point or readiness (rules.Decision)
        book.record_eval(...) / book.record_measure(...)    # targets, memorization, the stop rule
        book.advance(step, samples, decision)               # stage_end + next stage_start
        book.should_stop()                                  # budget spent, or validation reached
    book.close(step, samples, seconds)                      # result into meta, run finished

Stage switches and the run's end are :class:`~handhold.rules.Decision` objects from one
:class:`~handhold.stages.StageTracker`: fixed switch points (``switch.steps``/``switch.samples``)
are budgets on the run's totals (``origin="run"``), a readiness rule (``switch.until``) is the
stage's own rule, checked at eval checks only (``cap_on_eval``: its ``max_steps`` too), and the
budget with ``stop_at_val``/``stop_patience`` is the tracker's :class:`~handhold.rules.RunStop`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from ..phases.grokking import ACC_LEVEL  # the one definition of memorized / generalized
from ..rules import Decision, RunStop, ThresholdRule, explain
from ..runstore.live import Run
from ..stages import StagePlan, StageTracker
from .config import RunSpec
from .curricula import Stage
from .measures import progress_measures
from .tasks import Task

TARGETS = {"val95": 0.95, "val99": ACC_LEVEL}
MEMORIZED = ACC_LEVEL  # train accuracy that counts as "memorised" (handhold analyze uses the same)


@dataclass
class RunResult:
    """What the comparison table needs from one run (also kept in the store's meta ``grok``)."""

    variant: str
    seed: int
    steps: int = 0
    samples: int = 0
    seconds: float = 0.0
    stop_reason: str = ""
    steps_to: dict[str, int | None] = field(default_factory=lambda: {k: None for k in TARGETS})
    samples_to: dict[str, int | None] = field(default_factory=lambda: {k: None for k in TARGETS})
    memorization_step: int | None = None
    memorization_samples: int | None = None
    final_train_acc: float | None = None
    final_val_acc: float | None = None
    switches: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stage_plans(spec: RunSpec, stages: list[Stage]) -> list[StagePlan]:
    """The tracker's view of the curriculum: each stage but the last ends at its switch point
    (a budget on the run's steps or samples) or by the readiness rule ``switch.until``."""
    switch = spec.curriculum.switch if spec.curriculum is not None else None
    plans = []
    for i, st in enumerate(stages):
        until: dict[str, Any] = {}
        if switch is not None and i < len(stages) - 1:
            until = (switch.until.model_dump(exclude_none=True) if switch.until else
                     {"steps": switch.steps[i]} if switch.steps else {"samples": switch.samples[i]})
        plans.append(StagePlan(st.name, until, st.mix, origin="stage" if switch and switch.until else "run",
                               info={"examples": len(st.rows)}))
    return plans


def run_stop(spec: RunSpec) -> RunStop:
    """The run's end: its budget, or validation accuracy >= ``stop_at_val`` (``stop_patience`` steps on)."""
    tr = spec.train
    rule = None if tr.stop_at_val is None else ThresholdRule("grok/val/acc", tr.stop_at_val, direction="higher")
    return RunStop(steps=tr.budget.steps, samples=tr.budget.samples, rule=rule, after_steps=tr.stop_patience,
                   label="validation accuracy")


class SeedRun:
    """A seed's run store, stage tracker and :class:`RunResult`; see the module doc."""

    def __init__(self, spec: RunSpec, seed: int, run_dir: str | Path, task: Task, stages: list[Stage], *,
                 on_eval: Callable[[int, dict[str, float]], None] | None = None, **meta: Any) -> None:
        self.spec, self.task, self.stages, self.on_eval = spec, task, stages, on_eval
        self.res = RunResult(variant=spec.variant, seed=seed)
        self.tracker = StageTracker(stage_plans(spec, stages), stop=run_stop(spec), cap_on_eval=True)
        self.status, self.reason = "finished", ""
        self.active = True
        self.last_eval = -1
        self.seen_correct = self.seen_n = 0  # training predictions since the last check
        self.run = Run(run_dir, config=spec, name=f"{spec.experiment}/{spec.variant}/s{seed}",
                         stages=[s.name for s in stages], overwrite=True)  # the one writer (handhold.runstore.live)
        self.run.set_meta(grok_spec=spec.model_dump(mode="json"), grok_seed=seed, **meta,
                            grok_examples={"train": int(task.is_train.sum()), "val": int((~task.is_train).sum())})
        self._start_stage(0)

    @property
    def stage(self) -> Stage:
        return self.stages[min(self.tracker.index, len(self.stages) - 1)]

    def _start_stage(self, step: int) -> None:
        self.run.stage(self.tracker.stage.name, step=step, **self.tracker.describe())

    # ------------------------------------------------------------------ every step
    def trained(self, step: int, loss: float, correct: int, n: int, check: bool) -> float | None:
        """Record a training step's loss and predictions; the stage accuracy since the last check
        at a check step (``None`` otherwise). A non-finite loss fails the run (``active`` False)."""
        if not math.isfinite(loss):
            self.run.event("nan", step=step, loss=str(loss))
            self.status, self.reason, self.active = "failed", f"non-finite loss at step {step}", False
            return None
        self.seen_correct += correct
        self.seen_n += n
        self.run.log({"grok/batch/loss": loss}, step=step)
        if not check:
            return None
        acc = self.seen_correct / self.seen_n
        self.run.log({"grok/stage/acc": acc, "grok/stage/index": self.tracker.index}, step=step)
        self.seen_correct = self.seen_n = 0
        return acc

    def stage_decision(self, step: int, samples: int, stage_acc: float | None) -> Decision | None:
        """The stage's end at this step: its switch point, else (at a check) its readiness rule."""
        decision = self.tracker.after_step(step, samples=samples)
        if decision is None and stage_acc is not None:
            decision = self.tracker.after_eval(step, {"grok/stage/acc": stage_acc})
        return decision

    def advance(self, step: int, samples: int, decision: Decision) -> Stage:
        """End the stage for ``decision`` and start the next; the new stage."""
        nxt = self.stages[self.tracker.index + 1]
        self.run.stage_end(decision.reason, step=step, **decision.evidence)
        self.res.switches.append({"step": step, "samples": samples, "to": nxt.name,
                                  "reason": decision.reason, "evidence": decision.evidence})
        self.tracker.advance(step, samples=samples)
        self._start_stage(step)
        return nxt

    def budget_spent(self) -> bool:
        end = self.tracker.should_stop()
        return end is not None and end.reason == "budget"

    def should_stop(self) -> bool:
        """Whether the run ends now (its budget spent, or the stop rule held ``stop_patience``
        steps); the closing reason is then set."""
        end = self.tracker.should_stop()
        if end is not None:
            self.reason = explain(end)
        return end is not None

    # ------------------------------------------------------------------ signals
    def record_eval(self, step: int, samples: int, m: dict[str, float], lr: float, *,
                    stop: bool = True) -> dict[str, float]:
        """Log one evaluation (``m`` from ``train.eval_metrics``); record the targets reached and
        memorization; feed validation accuracy to the stop rule (``stop``: not before the first step)."""
        m["grok/samples"] = samples
        m["grok/lr"] = lr
        self.run.log({**m, "train/samples": samples}, step=step)  # stage ends report their samples from it
        self.last_eval = step
        res = self.res
        for key, target in TARGETS.items():
            if res.steps_to[key] is None and m["grok/val/acc"] >= target:
                res.steps_to[key], res.samples_to[key] = step, samples
                self.run.event("grok_target", step=step, target=key, val_acc=m["grok/val/acc"], samples=samples)
        if res.memorization_step is None and m["grok/train/acc"] >= MEMORIZED:
            res.memorization_step, res.memorization_samples = step, samples
            self.run.event("memorized", step=step, train_acc=m["grok/train/acc"], samples=samples)
        res.final_train_acc, res.final_val_acc = m["grok/train/acc"], m["grok/val/acc"]
        if self.on_eval is not None:
            self.on_eval(step, m)
        if stop:
            self.tracker.after_eval(step, {"grok/val/acc": m["grok/val/acc"]})
        return m

    def record_measure(self, step: int, model: nn.Module) -> None:
        """Progress measures of ``model`` (this seed's weights) at ``step``, if measures are on."""
        ms = self.spec.measure
        if not ms.enabled:
            return
        metrics, event = progress_measures(model, self.task, neuron_frac=ms.neuron_frac,
                                           min_neurons=ms.min_neurons, key_freqs=ms.key_freqs)
        self.run.log(metrics, step=step)
        if event:
            self.run.event("fourier", step=step, **event)

    # ------------------------------------------------------------------ the end
    def mark_failed(self, exc: BaseException) -> None:
        self.status, self.reason = "failed", f"{type(exc).__name__}: {exc}"

    def close(self, step: int, samples: int, seconds: float) -> None:
        """The result into the store's meta ``grok``; the run finished (or failed) for ``reason``."""
        self.active = False
        res = self.res
        res.steps, res.samples, res.stop_reason, res.seconds = step, samples, self.reason, round(seconds, 3)
        self.run.set_meta(grok=res.to_dict())
        self.run.finish(self.status, self.reason)
