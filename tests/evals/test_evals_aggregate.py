"""Gauntlet aggregation against a worked example."""

from __future__ import annotations

import math

import pytest

from handhold.evals.aggregate import GauntletSpec, aggregate, centered

SPEC = GauntletSpec(
    categories={
        "reasoning/general": ["general/answer_acc", "general/step_validity"],
        "reasoning/physics": ["physics/answer_acc"],
        "standard/general": ["general/mc_acc", "general/exact_match"],
        "standard/physics": ["physics/exact_match"],
    },
    baselines={"general/mc_acc": 0.25},  # 4-way multiple choice; everything else 0
    families={
        "reasoning": ["reasoning/general", "reasoning/physics"],
        "standard": ["standard/general", "standard/physics"],
    },
)
SCORES = {
    "general/answer_acc": 0.6,
    "general/step_validity": 0.9,
    "physics/answer_acc": 0.3,
    "general/mc_acc": 0.4,
    "general/exact_match": 0.2,
    # physics/exact_match missing
    "unrelated/metric": 0.99,  # in no category: ignored
}


def test_worked_example():
    out = aggregate(SCORES, SPEC)
    # general/mc_acc: (0.4 - 0.25) / (1 - 0.25) = 0.15 / 0.75 = 0.2; baseline-0 scores stay as they are
    assert out["centered"] == pytest.approx({
        "general/answer_acc": 0.6, "general/step_validity": 0.9, "physics/answer_acc": 0.3,
        "general/mc_acc": 0.2, "general/exact_match": 0.2,
    })
    # reasoning/general = (0.6 + 0.9) / 2 = 0.75; reasoning/physics = 0.3
    # standard/general = (0.2 + 0.2) / 2 = 0.2; standard/physics: its only member is missing -> None
    assert out["categories"] == pytest.approx({
        "reasoning/general": 0.75, "reasoning/physics": 0.3, "standard/general": 0.2, "standard/physics": None,
    })
    # reasoning = (0.75 + 0.3) / 2 = 0.525; standard = 0.2 (standard/physics skipped, not counted as 0)
    assert out["families"] == pytest.approx({"reasoning": 0.525, "standard": 0.2})
    # overall = (0.75 + 0.3 + 0.2) / 3 = 1.25 / 3
    assert out["overall"] == pytest.approx(1.25 / 3)
    assert out["missing"] == ["physics/exact_match"]


def test_partial_category_averages_members_present():
    scores = {k: v for k, v in SCORES.items() if k != "general/exact_match"}
    out = aggregate(scores, SPEC)
    assert out["categories"]["standard/general"] == pytest.approx(0.2)  # mc_acc alone
    assert out["missing"] == ["general/exact_match", "physics/exact_match"]


def test_nan_and_none_count_as_missing():
    out = aggregate({**SCORES, "physics/answer_acc": math.nan, "general/mc_acc": None}, SPEC)
    assert out["missing"] == ["general/mc_acc", "physics/answer_acc", "physics/exact_match"]
    assert out["categories"]["reasoning/physics"] is None
    assert out["families"]["reasoning"] == pytest.approx(0.75)
    assert out["overall"] == pytest.approx((0.75 + 0.2) / 2)


def test_nothing_present():
    out = aggregate({}, SPEC)
    assert out["overall"] is None
    assert out["families"] == {"reasoning": None, "standard": None}
    assert len(out["missing"]) == 6  # every member of every category


@pytest.mark.parametrize(
    ("acc", "baseline", "expected"),
    [(0.25, 0.25, 0.0), (1.0, 0.25, 1.0), (0.1, 0.25, -0.2), (0.5, 0.0, 0.5), (0.75, 0.5, 0.5)],
)
def test_centered(acc, baseline, expected):
    assert centered(acc, baseline) == pytest.approx(expected)


def test_centered_refuses_a_baseline_of_one():
    with pytest.raises(ValueError, match="baseline must be < 1"):
        centered(0.5, 1.0)


def test_spec_errors_name_the_field():
    with pytest.raises(ValueError, match=r"baselines\['x'\]"):
        GauntletSpec(categories={"c": ["x"]}, baselines={"x": 1.0})
    with pytest.raises(ValueError, match=r"families\['f'\]: unknown categories \['nope'\]"):
        GauntletSpec(categories={"c": ["x"]}, families={"f": ["c", "nope"]})
