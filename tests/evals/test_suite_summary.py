"""From per-example records to task means and the reasoning/standard family scores."""

import pytest

from handhold.config import EvalSuiteConfig
from handhold.evals.suite import ExampleRecord, summarize

SUITE = EvalSuiteConfig(tasks=[
    {"name": "gen", "source": "general", "metrics": ["answer_acc", "step_validity", "exact_match", "mc_acc"]},
    {"name": "phys", "source": "physics", "metrics": ["answer_acc", "exact_match"]},
])


def rec(task, i, n_choices=0, **scores):
    return ExampleRecord(task, i, scores=scores, n_choices=n_choices)


def test_worked_example():
    records = [
        rec("gen", 0, answer_acc=1.0, step_validity=1.0, exact_match=0.0, mc_acc=1.0, n_choices=2),
        rec("gen", 1, answer_acc=0.0, step_validity=0.5, exact_match=0.0, mc_acc=0.0, n_choices=4),
        rec("gen", 2, answer_acc=1.0, step_validity=None, exact_match=1.0),  # no steps, no choices
        rec("phys", 0, answer_acc=1.0, exact_match=0.0),
        rec("phys", 1, answer_acc=0.0, exact_match=0.0),
    ]
    out = summarize(records, SUITE)
    # task means (None = undefined, excluded)
    assert out["eval/gen/answer_acc"] == pytest.approx(2 / 3)
    assert out["eval/gen/step_validity"] == pytest.approx(0.75)
    assert out["eval/gen/mc_acc"] == pytest.approx(0.5)
    assert out["eval/phys/answer_acc"] == pytest.approx(0.5)
    # reasoning family: category general = mean(2/3, 0.75) = 17/24; physics = 0.5 -> (17/24 + 1/2) / 2
    assert out["eval/family/reasoning"] == pytest.approx((17 / 24 + 0.5) / 2)
    # standard: mc baseline = mean(1/2, 1/4) = 3/8, centred mc = (0.5 - 3/8) / (5/8) = 0.2;
    # general = mean(exact 1/3, 0.2) = 4/15; physics = exact 0 -> (4/15 + 0) / 2
    assert out["eval/family/standard"] == pytest.approx(2 / 15)
    assert out["eval/category/standard/general"] == pytest.approx(4 / 15)


def test_categories_group_tasks_of_the_same_domain():
    suite = EvalSuiteConfig(tasks=[
        {"name": "a", "source": "general", "metrics": ["answer_acc"], "category": "maths"},
        {"name": "b", "source": "physics", "metrics": ["answer_acc"], "category": "maths"},
    ], families={"reasoning": ["answer_acc"]})
    out = summarize([rec("a", 0, answer_acc=1.0), rec("b", 0, answer_acc=0.0)], suite)
    assert out["eval/category/reasoning/maths"] == pytest.approx(0.5)
    assert "eval/family/standard" not in out
