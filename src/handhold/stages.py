"""The stage tracker: which stage a run is in, since when, and whether it ends now.

Every loop that trains through stages — handhold's trainer (:mod:`handhold.curriculum`), the
Hugging Face and Lightning callbacks, the grokking lab — owns one :class:`StageTracker` and
translates its own hooks into three calls::

    after every optimizer step:   decision = tracker.after_step(step, tokens=..., samples=...)
    after every eval:             decision = decision or tracker.after_eval(step, metrics)
    when a decision is not None:  run.stage_end(decision.reason, step=step, **decision.evidence)
                                  tracker.advance(step, tokens=..., samples=...)
                                  if not tracker.finished: run.stage(tracker.stage.name, **tracker.describe())

so a stage ends for the same reason, with the same evidence, whichever loop trains it. The
tracker owns the stage index, the counters (steps, tokens, samples) where the stage started,
the stage's exit rule with its online detector (:mod:`handhold.rules`), and an optional
:class:`~handhold.rules.RunStop` that ends the whole run. It never draws data: mixing is the
sampler's business (its RNG must stay where it is, or resumed runs would draw other batches).

>>> t = StageTracker([StagePlan("a", until={"steps": 2}), StagePlan("b", until={"threshold": "val/acc", "value": 0.9})])
>>> t.after_step(1), t.after_step(2).reason
(None, 'budget')
>>> t.advance(2).name
'b'
>>> t.after_eval(3, {"val/acc": 0.95}).evidence["global_step"]
3

Kept free of heavy imports: every loop loads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .rules import Decision, Detector, RunStop, cap, detector, rule_from_until, run_decision, stop_detector

__all__ = ["Counts", "StagePlan", "StageTracker", "tracker_state"]

#: What a stage's budget can count. ``steps`` and ``tokens`` are the trainer's, ``samples`` the
#: lab's (one per training example through a forward/backward).
UNITS = ("steps", "tokens", "samples")


@dataclass
class Counts:
    """Training done so far: optimizer steps, tokens and samples (``None``: not counted)."""

    steps: int = 0
    tokens: int | None = None
    samples: int | None = None

    def get(self, unit: str) -> int | None:
        return getattr(self, unit)


@dataclass(frozen=True)
class StagePlan:
    """One stage as the tracker sees it: a name, its exit rule (``until``, the config's mapping:
    a budget ``steps``/``tokens``/``samples`` and/or a readiness rule ``plateau``/``threshold``)
    and what the run store records about it (``mix`` and any ``info``).

    ``origin`` says what a budget counts from: ``"stage"`` (the stage's own steps, the
    curriculum's meaning) or ``"run"`` (a switch point on the run's totals, the grokking lab's
    ``switch.steps``/``switch.samples``).
    """

    name: str
    until: Mapping[str, Any] = field(default_factory=dict)
    mix: Mapping[str, float] | None = None
    origin: str = "stage"
    info: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, stage: Any) -> StagePlan:
        """A plan from a config ``Stage`` (``name``, ``mix``, pydantic ``until``) or a plan."""
        if isinstance(stage, StagePlan):
            return stage
        until = stage.until
        if hasattr(until, "model_dump"):
            until = until.model_dump(exclude_none=True)
        return cls(stage.name, dict(until or {}), dict(stage.mix) if stage.mix is not None else None)

    def budget(self) -> tuple[str, int] | None:
        """``(unit, amount)`` of the stage's budget, if it has one."""
        for unit in UNITS:
            if self.until.get(unit) is not None:
                return unit, int(self.until[unit])
        return None

    def weights(self) -> tuple[list[str], list[float]]:
        """The mixture's source names and weights normalised to sum to one."""
        names = list(self.mix or {})
        total = sum(float(self.mix[n]) for n in names) if names else 1.0
        return names, [float(self.mix[n]) / total for n in names]


def tracker_state(index: int, start: Counts, now: Counts | None = None,
                  detector: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A state for :meth:`StageTracker.load_state_dict` from its parts: the stage ``index``
    (``len(stages)`` once finished), the counters where that stage started and after the last step
    (``now``, default ``start``), and its readiness detector's state. Loops whose checkpoints hold
    these numbers in their own shape convert them with it.

    >>> t = StageTracker([StagePlan("a", {"steps": 5}), StagePlan("b", {"steps": 5})])
    >>> t.load_state_dict(tracker_state(1, Counts(5, 640)))
    >>> t.stage.name, t.after_step(10, tokens=1280).evidence
    ('b', {'steps': 5})
    """
    now = now if now is not None else start
    return {"index": int(index), "start": vars(start).copy(), "now": vars(now).copy(),
            "detector": dict(detector) if detector else None, "stop_detector": None, "stop_first": None}


class StageTracker:
    """Stage index, stage starts, exit rules and the decisions they take; see the module doc."""

    def __init__(self, stages: Sequence[Any], *, stop: RunStop | None = None, cap_on_eval: bool = False) -> None:
        if not stages:
            raise ValueError("a curriculum needs at least one stage")
        self.plans = [StagePlan.of(s) for s in stages]
        self.stop = stop
        # a readiness stage's max_steps judged after every step (False), or at the rule's evals,
        # after the rule itself (True: the grokking lab, whose rule reads a metric of every check)
        self.cap_on_eval = cap_on_eval
        self.index = 0
        self.start = Counts()  # the counters when the current stage started
        self.now = Counts()  # the counters after the last step seen
        self._detector: Detector | None = self._new_detector()
        self._stop_detector = stop_detector(stop)
        self._stop_first: int | None = None  # the step at which the run's stop rule first held

    # ------------------------------------------------------------------ where we are
    @property
    def finished(self) -> bool:
        return self.index >= len(self.plans)

    @property
    def stage(self) -> StagePlan:
        """The current stage (the last one once the curriculum is finished)."""
        return self.plans[min(self.index, len(self.plans) - 1)]

    @property
    def metric(self) -> str | None:
        """The metric the current stage's readiness rule reads (``None``: no rule)."""
        return self._detector.rule.metric if self._detector is not None else None

    def stage_counts(self) -> Counts:
        """Steps, tokens and samples since the current stage started."""
        return Counts(*(None if self.now.get(u) is None else self.now.get(u) - (self.start.get(u) or 0)
                        for u in UNITS))

    def needs(self, unit: str) -> bool:
        """Whether the current stage's budget counts ``unit`` (lets a loop skip costly counting)."""
        b = None if self.finished else self.stage.budget()
        return b is not None and b[0] == unit

    def describe(self) -> dict[str, Any]:
        """What the run store records at a stage start: ``index``, ``mix``, ``until`` and any info."""
        plan = self.stage
        out: dict[str, Any] = {"index": min(self.index, len(self.plans) - 1)}
        if plan.mix is not None:
            out["mix"] = dict(plan.mix)
        out["until"] = dict(plan.until)
        out.update(plan.info)
        return out

    # ------------------------------------------------------------------ decisions
    def _new_detector(self) -> Detector | None:
        if self.finished:
            return None
        rule = rule_from_until(self.stage.until)
        return detector(rule) if rule is not None else None

    def _count(self, step: int, tokens: int | None, samples: int | None) -> None:
        self.now = Counts(int(step), self.now.tokens if tokens is None else int(tokens),
                          self.now.samples if samples is None else int(samples))

    def after_step(self, step: int, *, tokens: int | None = None, samples: int | None = None) -> Decision | None:
        """Record the run's totals after an optimizer step; the stage's end if its budget is spent
        (or a readiness stage reached its ``max_steps``), else ``None``."""
        self._count(step, tokens, samples)
        if self.finished:
            return None
        plan, here = self.stage, self.stage_counts()
        budget = plan.budget()
        if budget is not None:
            unit, amount = budget
            if plan.origin == "run":
                total = self.now.get(unit)
                if total is not None and total >= amount:  # a step-count point is met exactly
                    return Decision("budget", {"switch_step": amount} if unit == "steps"
                                    else {f"switch_{unit}": amount, unit: total})
                return None
            spent = here.get(unit)
            if spent is not None and spent >= amount:
                return Decision("budget", {unit: spent})
            return None
        if self._detector is not None and not self.cap_on_eval:
            return cap(self._detector, here.steps)
        return None

    def after_eval(self, step: int, metrics: Mapping[str, Any]) -> Decision | None:
        """Feed one eval's metrics to the stage's readiness rule (and the run's stop rule); the
        stage's end if the rule fires now (or, with ``cap_on_eval``, its ``max_steps`` is reached),
        else ``None``. A metric missing from ``metrics`` is no evidence: the detector is not fed
        (see :attr:`metric` to check that a loop reports it). Nor is an eval at the very step a
        later stage started: it measured the previous stage's training (a framework that evaluates
        after its step hook ended that stage calls this then; a loop that evaluates before it
        advances never does)."""
        self._count(step, None, None)
        self._feed_stop(step, metrics)
        det = self._detector
        if det is None or det.rule.metric not in metrics or metrics[det.rule.metric] is None:
            return None
        if self.index > 0 and step <= self.start.steps:
            return None
        steps = self.stage_counts().steps
        decision = det.update(steps, metrics[det.rule.metric]).decide()
        if decision is None and self.cap_on_eval:
            decision = cap(det, steps)
        if decision is None:
            return None
        ev = decision.evidence
        ev["global_step"] = int(step)
        if "best_step" in ev:
            ev["best_global_step"] = self.start.steps + ev["best_step"]
        return decision

    def advance(self, step: int, *, tokens: int | None = None, samples: int | None = None) -> StagePlan | None:
        """End the current stage at these totals and start the next; the next plan, or ``None``
        when that was the last stage."""
        self._count(step, tokens, samples)
        self.index += 1
        self.start = Counts(self.now.steps, self.now.tokens, self.now.samples)
        self._detector = self._new_detector()
        return None if self.finished else self.stage

    # ------------------------------------------------------------------ the whole run
    def _feed_stop(self, step: int, metrics: Mapping[str, Any]) -> None:
        det = self._stop_detector
        if det is None or self._stop_first is not None or metrics.get(det.rule.metric) is None:
            return
        if det.update(step, metrics[det.rule.metric]).decide() is not None:
            self._stop_first = int(step)

    def should_stop(self) -> Decision | None:
        """The run's end, from its :class:`~handhold.rules.RunStop` (budget, or the stop rule held
        for ``after_steps`` steps), judged on the totals of the last step; else ``None``."""
        if self.stop is None:
            return None
        return run_decision(self.stop, self.now.steps, self.now.samples, self.now.tokens,
                            self._stop_detector, self._stop_first)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {"index": self.index, "start": vars(self.start).copy(), "now": vars(self.now).copy(),
                "detector": self._detector.state_dict() if self._detector is not None else None,
                "stop_detector": self._stop_detector.state_dict() if self._stop_detector is not None else None,
                "stop_first": self._stop_first}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.index = int(state["index"])
        self.start, self.now = Counts(**state["start"]), Counts(**state["now"])
        self._detector = self._new_detector()
        if self._detector is not None and state.get("detector"):
            self._detector.load_state_dict(state["detector"])
        self._stop_detector = stop_detector(self.stop)
        if self._stop_detector is not None and state.get("stop_detector"):
            self._stop_detector.load_state_dict(state["stop_detector"])
        self._stop_first = state.get("stop_first")
