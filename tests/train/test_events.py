"""`eval` fires once per step, and the milestones (a stage ending,
the run ending) are their own event, so evaluators need no "already ran at this step" guard."""

from __future__ import annotations

from collections import Counter

from handhold.config import load_config
from handhold.train.events import Callback
from handhold.train.runner import start


class Recorder(Callback):
    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def on_batch_end(self, state):
        if state.step == 4:  # at a scheduled eval step: readiness-style advance after the eval
            state.request_advance("manual")

    def on_eval(self, state):
        self.seen.append(("eval", state.step))

    def on_milestone(self, state):
        self.seen.append(("milestone", state.step))


def test_eval_once_per_step_and_milestones_at_stage_and_run_ends(tiny_config, tmp_path):
    rec = Recorder()
    state = start(load_config(tiny_config(), ["train.max_steps=10"]), tmp_path / "r", progress=False,
                  callbacks=[rec])
    assert state.step == 10
    evals = Counter(step for what, step in rec.seen if what == "eval")
    assert set(evals.values()) == {1}, evals  # never twice at one step
    assert sorted(evals) == [4, 8, 10]  # the cadence (every 4) and the run's end
    assert [step for what, step in rec.seen if what == "milestone"] == [4, 10]  # stage end, run end
    assert rec.seen.index(("eval", 4)) < rec.seen.index(("milestone", 4))  # milestone evaluators come after
