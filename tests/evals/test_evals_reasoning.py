"""Reasoning scores on hand-made chains, with exact expected values."""

from __future__ import annotations

import pytest

from handhold.data.tasks.base import Example
from handhold.data.tasks.steps import make_step
from handhold.evals.reasoning import ReasoningScore, chain_conclusion, mean_scores, score_reasoning


def example(domain, task, question, exprs, answer, choices=()):
    """An Example whose steps are ``(label, expr)`` pairs computed like the generators do."""
    return Example(domain, task, question, tuple(make_step(lab, e) for lab, e in exprs), answer, choices)


ARITH = example("general", "arithmetic", "What is (12 + 7) * 3 - 5?",
                [("sum", "12 + 7"), ("prod", "19 * 3"), ("diff", "57 - 5")], "52")
SPEED = example("physics", "kinematics",
                "A car goes 20 m in 2 s, then 60 m in 4 s. What is its average speed?",
                [("d", "20 + 60"), ("t", "2 + 4"), ("v", "80 / 6")], "13.33 m/s")
PARITY = example("general", "logic", "Is 23 + 18 an even number?",
                 [("sum", "23 + 18"), ("half", "41 / 2")], "no", ("yes", "no"))
THRESHOLD = example("general", "logic", "Mia has 4 boxes of 6 eggs. Does Mia have more than 22?",
                    [("total", "4 * 6"), ("diff", "24 - 22")], "yes", ("yes", "no"))
RANGE = example("general", "logic", "Let x = 14 + 9. Is x between 20 and 30?",
                [("x", "14 + 9"), ("low", "23 - 20"), ("high", "30 - 23")], "yes", ("yes", "no"))
LETTERS = example("general", "compare", "Which is larger: A = 6 * 7 or B = 40?",
                  [("A", "6 * 7"), ("diff", "42 - 40")], "A", ("A", "B"))
NAMES = example("general", "compare", "Ann has 3 bags of 4 pens. Bob has 10 pens. Who has more?",
                [("Ann", "3 * 4"), ("diff", "12 - 10")], "Ann", ("Ann", "Bob"))
SYLLOGISM = Example("general", "logic", "All wugs are zups. All zups are feps. Are all wugs feps?",
                    (), "yes", ("yes", "no"))

# Chains on ARITH: (12 + 7) * 3 - 5 = 52. Question numbers 12, 7, 3, 5; constants 1, 2.
CORRECT = ARITH.solution
SLIP = " sum = 12 + 7 = 19\nprod = 19 * 3 = 58\ndiff = 58 - 5 = 53\nAnswer: 53"
# 8 and 4 are invented; 20 * 4 = 80 not 85; 85 - 5 = 80 not 70.
UNSOUND = " sum = 12 + 8 = 20\nprod = 20 * 4 = 85\ndiff = 85 - 5 = 70\nAnswer: 70"
MISCOPY = " sum = 12 + 7 = 19\nprod = 19 * 3 = 57\ndiff = 57 - 5 = 52\nAnswer: 25"
JUNK = " hello hello world\nthe the the"
ANSWER_ONLY = " Answer: 52"
# Average speed read as the mean of the two speeds: every step valid and coherent, 12.5 not 13.33.
OTHER_ROUTE = " v1 = 20 / 2 = 10\nv2 = 60 / 4 = 15\nv = (10 + 15) / 2 = 12.5\nAnswer: 12.5 m/s"


def score(answer, validity, coherence, reaches, fmt, n):
    return (answer, validity, coherence, reaches, fmt, n)


def as_tuple(s: ReasoningScore):
    return (s.answer_correct, s.step_validity, s.coherence, s.reaches_answer, s.format_ok, s.n_steps)


@pytest.mark.parametrize(
    ("ex", "generated", "expected"),
    [
        (ARITH, CORRECT, score(True, 1.0, 1.0, True, True, 3)),  # coherence (3 + 1) / 4
        # the slip's value 58 is carried on, so every step is coherent: (3 + 1) / 4
        (ARITH, SLIP, score(False, 2 / 3, 1.0, True, True, 3)),
        # steps 1 and 2 incoherent, step 3 coherent, 70 is the last value: (1 + 1) / 4
        (ARITH, UNSOUND, score(False, 1 / 3, 0.5, True, True, 3)),
        (ARITH, MISCOPY, score(False, 1.0, 0.75, False, True, 3)),  # answer link broken: 3 / 4
        (ARITH, JUNK, score(False, None, None, False, False, 0)),
        (ARITH, "", score(False, None, None, False, False, 0)),
        (ARITH, ANSWER_ONLY, score(True, None, None, False, False, 0)),  # reference has steps
        (ARITH, MISCOPY.rsplit("\n", 1)[0], score(False, 1.0, 0.75, False, False, 3)),  # no answer line
        (ARITH, " sum = 12 + 7 = 19\nlet me think\nprod = 19 * 3 = 57\ndiff = 57 - 5 = 52\nAnswer: 52",
         score(True, 1.0, 1.0, True, False, 3)),  # a junk line before the answer
        (ARITH, CORRECT + "\n\nQ: What is 3 + 4?\nA: sum = 3 +", score(True, 1.0, 1.0, True, True, 3)),
        (ARITH, " sum = 12 + 7 = 19\n\nprod = 19 * 3 = 57\ndiff = 57 - 5 = 52\nAnswer:",
         score(False, 1.0, 0.75, False, False, 3)),  # empty answer
        (SPEED, SPEED.solution, score(True, 1.0, 1.0, True, True, 3)),
        (SPEED, SPEED.solution.replace(" m/s", ""), score(True, 1.0, 1.0, True, True, 3)),
        (SPEED, SPEED.solution.replace(" m/s", " m"), score(False, 1.0, 1.0, True, True, 3)),
        (SPEED, OTHER_ROUTE, score(False, 1.0, 1.0, True, True, 3)),
        (SYLLOGISM, SYLLOGISM.solution, score(True, None, None, False, True, 0)),
        (SYLLOGISM, " Answer: no", score(False, None, None, False, True, 0)),
    ],
)
def test_score_reasoning(ex, generated, expected):
    assert as_tuple(score_reasoning(ex, generated)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("ex", "generated", "expected"),
    [
        (PARITY, PARITY.solution, score(True, 1.0, 1.0, True, True, 2)),
        # slip 23 + 18 = 40, carried on: 40 / 2 = 20 is whole, so "yes" follows: (2 + 1) / 3
        (PARITY, " sum = 23 + 18 = 40\nhalf = 40 / 2 = 20\nAnswer: yes", score(False, 0.5, 1.0, True, True, 2)),
        # valid chain says odd (20.5) but answers yes: (2 + 0) / 3
        (PARITY, " sum = 23 + 18 = 41\nhalf = 41 / 2 = 20.5\nAnswer: yes",
         score(False, 1.0, 2 / 3, False, True, 2)),
        # 19 invented (step 1 incoherent); 21 whole -> "yes" follows: (1 + 1) / 3
        (PARITY, " sum = 23 + 19 = 42\nhalf = 42 / 2 = 21\nAnswer: yes", score(False, 1.0, 2 / 3, True, True, 2)),
        # parity read from the sum itself when no halving step is written
        (PARITY, " sum = 23 + 18 = 41\nAnswer: no", score(True, 1.0, 1.0, True, True, 1)),
        (THRESHOLD, THRESHOLD.solution, score(True, 1.0, 1.0, True, True, 2)),
        # limit - total = -2 still says total > limit, so "no" does not follow
        (THRESHOLD, " total = 4 * 6 = 24\ndiff = 22 - 24 = -2\nAnswer: no", score(False, 1.0, 2 / 3, False, True, 2)),
        (THRESHOLD, " total = 4 * 6 = 24\nAnswer: yes", score(True, 1.0, 1.0, True, True, 1)),
        (RANGE, RANGE.solution, score(True, 1.0, 1.0, True, True, 3)),
        (RANGE, " x = 14 + 9 = 23\nlow = 23 - 20 = 3\nhigh = 30 - 23 = -7\nAnswer: no",
         score(False, 2 / 3, 1.0, True, True, 3)),
        (LETTERS, LETTERS.solution, score(True, 1.0, 1.0, True, True, 2)),
        # slip 6 * 7 = 36: by the chain's values B = 40 is larger, so "B" follows
        (LETTERS, " A = 6 * 7 = 36\ndiff = 40 - 36 = 4\nAnswer: B", score(False, 0.5, 1.0, True, True, 2)),
        (LETTERS, " A = 6 * 7 = 42\ndiff = 42 - 40 = 2\nAnswer: B", score(False, 1.0, 2 / 3, False, True, 2)),
        (NAMES, NAMES.solution, score(True, 1.0, 1.0, True, True, 2)),
        (NAMES, " Ann = 3 * 4 = 12\ndiff = 12 - 10 = 2\nAnswer: Bob", score(False, 1.0, 2 / 3, False, True, 2)),
        # Ann's step skipped: 12 has no source (incoherent), but Ann's value comes from the question
        (NAMES, " diff = 12 - 10 = 2\nAnswer: Ann", score(True, 1.0, 0.5, True, True, 1)),
    ],
)
def test_score_reasoning_on_choice_tasks(ex, generated, expected):
    assert as_tuple(score_reasoning(ex, generated)) == pytest.approx(expected)


def test_chain_conclusion_decides_from_the_chains_own_values():
    assert chain_conclusion(PARITY, list(PARITY.steps)) == {"no"}
    assert chain_conclusion(THRESHOLD, list(THRESHOLD.steps)) == {"yes"}
    assert chain_conclusion(RANGE, list(RANGE.steps)) == {"yes"}
    assert chain_conclusion(LETTERS, list(LETTERS.steps)) == {"A"}
    assert chain_conclusion(NAMES, list(NAMES.steps)) == {"Ann"}
    smaller = example("general", "compare", "Which is smallest: A = 9, B = 2 * 3 or C = 4 + 2?",
                      [("B", "2 * 3"), ("C", "4 + 2"), ("diff", "9 - 6")], "B", ("A", "B", "C"))
    assert chain_conclusion(smaller, list(smaller.steps)) == {"B", "C"}  # a tie: either follows
    undecided = Example("general", "compare", "Pick one.", (), "A", ("A", "B"))
    assert chain_conclusion(undecided, [make_step("x", "1 + 1")]) is None
    # undecidable: any listed choice counts as reached, anything else does not
    assert score_reasoning(undecided, " x = 1 + 1 = 2\nAnswer: B").reaches_answer
    assert not score_reasoning(undecided, " x = 1 + 1 = 2\nAnswer: C").reaches_answer


def test_mean_scores():
    scores = [score_reasoning(ARITH, g) for g in (CORRECT, SLIP, UNSOUND, JUNK, "", ANSWER_ONLY)]
    assert mean_scores(scores) == pytest.approx({
        "answer_acc": 2 / 6,  # CORRECT and ANSWER_ONLY
        "step_validity": (1 + 2 / 3 + 1 / 3) / 3,  # the three chains with steps
        "coherence": (1 + 1 + 0.5) / 3,
        "format": 3 / 6,
    })
    assert mean_scores([score_reasoning(ARITH, "")]) == {"answer_acc": 0.0, "format": 0.0}
    with pytest.raises(ValueError, match="no scores"):
        mean_scores([])
