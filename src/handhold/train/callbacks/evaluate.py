"""The eval suite in the loop: reasoning and standard metrics per task on a cadence and at stage ends.

Each process scores its shard of the examples; records are gathered and the main process
averages, so the numbers do not depend on the process count. Generations are kept as samples
(kind ``eval/<task>``) so ``handhold audit`` can re-read any step without the model.
"""

from __future__ import annotations

import time

from ...evals.suite import ExampleRecord, score_task, summarize, task_examples
from ...cadence import Cadence
from ..events import Callback
from ..state import State


class EvalSuite(Callback):
    def __init__(self) -> None:
        self.cadence: Cadence | None = None
        self.examples: dict[str, list] = {}

    def on_fit_start(self, state: State) -> None:
        ev = state.cfg.evals
        self.cadence = Cadence(ev.every, ev.log_spaced, state.total_steps)
        self.examples = {t.name: task_examples(t, state.sources) for t in ev.tasks}

    def _due(self, state: State) -> bool:
        return bool(state.cfg.evals.tasks) and self.cadence is not None and self.cadence.due(state.step)

    def wants_eval(self, state: State) -> bool:
        return self._due(state)

    def on_eval(self, state: State) -> None:
        if self._due(state):
            self._run(state)

    def on_milestone(self, state: State) -> None:
        """A stage ends: score it, unless its cadence did at this very step."""
        ev = state.cfg.evals
        if ev.tasks and ev.at_stage_end and state.decision is not None and not self._due(state):
            self._run(state)

    def _run(self, state: State) -> None:
        t0 = time.perf_counter()
        acc = state.accelerator
        model = acc.unwrap_model(state.model)
        records: list[ExampleRecord] = []
        for task in state.cfg.evals.tasks:
            examples = self.examples[task.name]
            mine = list(range(acc.process_index, len(examples), acc.num_processes))
            records += score_task(model, state.tokenizer, task, examples, mine, state.cfg.evals.batch_size,
                                  chat=getattr(state.sources.get(task.source), "chat", False))
        if acc.num_processes > 1:
            from accelerate.utils import gather_object

            records = gather_object(records)
        state.log(summarize(records, state.cfg.evals))
        from ...doc_scores import EVENT
        from ...evals.procedural_records import docs_event, suite_identity

        # every example's scores: the curves' sampling noise, paired tests (handhold.doc_scores)
        state.event(EVENT, **docs_event(records, state.cfg.evals, suite_identity(state.cfg.evals, self.examples)))
        for rec in sorted(records, key=lambda r: (r.task, r.index)):
            if rec.generation is not None:
                state.sample(f"eval/{rec.task}", self.examples[rec.task][rec.index].prompt, rec.generation)
        state.log({"eval/suite_time_s": time.perf_counter() - t0})


class LmEvalMilestones(Callback):
    """lm-eval tasks at stage ends and at the end of the run (they cost seconds per call)."""

    def on_milestone(self, state: State) -> None:
        lm = state.cfg.evals.lm_eval
        if lm is None or not state.is_main:
            return
        from ...evals.lm_eval_adapter import evaluate_model

        t0 = time.perf_counter()
        state.log(evaluate_model(state.accelerator.unwrap_model(state.model), state.tokenizer, lm.tasks,
                                 include_path=lm.include_path, limit=lm.limit, batch_size=lm.batch_size))
        state.log({"eval/lm_eval_time_s": time.perf_counter() - t0})
