"""The contract between task generators and scorers: every reference solution scores perfect."""

from __future__ import annotations

import random

import pytest

from handhold.data.tasks import general, physics
from handhold.evals.audit import audit
from handhold.evals.reasoning import mean_scores, score_reasoning


@pytest.mark.parametrize("module", [general, physics], ids=["general", "physics"])
def test_reference_solutions_score_perfect(module):
    rng = random.Random(20240601)
    scores = []
    for _ in range(500):
        ex = module.generate(rng)
        s = score_reasoning(ex, ex.solution)
        perfect = 1.0 if ex.steps else None  # step-less references (syllogisms) rate no steps
        where = f"\n{ex.text}\n{s}"
        assert s.answer_correct and s.format_ok, where
        assert (s.step_validity, s.coherence) == (perfect, perfect), where
        assert s.reaches_answer == bool(ex.steps), where
        assert s.n_steps == len(ex.steps), where
        assert audit(ex, ex.solution).kind == "correct", where
        scores.append(s)
    assert mean_scores(scores) == {"answer_acc": 1.0, "step_validity": 1.0, "coherence": 1.0, "format": 1.0}


@pytest.mark.parametrize("module", [general, physics], ids=["general", "physics"])
def test_another_choice_or_value_breaks_the_answer_link(module):
    """On real examples, any other stated answer is neither correct nor reached from the chain."""
    rng = random.Random(7)
    for _ in range(300):
        ex = module.generate(rng)
        if not ex.steps:
            continue
        wrong = [c for c in ex.choices if c != ex.answer] or [f"{float(ex.steps[-1].value) + 1:g}"]
        for answer in wrong:
            s = score_reasoning(ex, ex.solution.replace(f"Answer: {ex.answer}", f"Answer: {answer}"))
            assert not s.answer_correct and not s.reaches_answer, f"\n{ex.text}\n{answer}"
            assert audit(ex, ex.solution.replace(f"Answer: {ex.answer}", f"Answer: {answer}")).kind == "sound_slip"
