"""A shock on a benchmark curve is stated only where the paired change across it clears the
sampling noise of its documents (16 documents scored at a switch move by chance)."""

from __future__ import annotations

from handhold.doc_scores import DocScores
from handhold.phases.noise import gate_shocks
from handhold.phases.shocks import Shock

KEY = "eval/arc_easy/acc"


def docs(step: int, scores: list[float]) -> DocScores:
    return DocScores(step, {"suite": {"name": "toy", "version": 1, "digest": "d"}, "prefix": "eval/",
                            "tasks": {"arc_easy": {"family": "reasoning", "ids": [str(i) for i in range(len(scores))],
                                                   "scores": {"acc": scores}, "members": [["acc", 0.25, "acc"]]}}})


def shock(step: int) -> Shock:
    return Shock(step=step, peak=0.5, baseline=0.6, recovered_at=None, kind="switch")


def test_a_drop_of_two_documents_in_sixteen_is_no_shock_but_a_collapse_is():
    before = docs(10, [1.0] * 10 + [0.0] * 6)
    wobble = docs(20, [1.0] * 8 + [0.0] * 8)  # 2 documents flipped: within noise
    collapse = docs(20, [0.0] * 16)           # every correct document lost
    assert gate_shocks(KEY, [shock(20)], [before, wobble]) == []
    assert gate_shocks(KEY, [shock(20)], [before, collapse]) == [shock(20)]


def test_a_shock_no_two_evals_bound_is_kept():
    assert gate_shocks(KEY, [shock(5)], [docs(10, [1.0] * 16)]) == [shock(5)]
