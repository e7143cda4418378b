"""Wrong-answer audit: verdicts on hand-made chains, the table's shares, its rendering."""

from __future__ import annotations

import pytest
from rich.console import Console

from handhold.evals.audit import VERDICTS, audit, audit_table, format_audit_examples, format_audit_table
from test_evals_reasoning import (
    ANSWER_ONLY, ARITH, CORRECT, JUNK, LETTERS, MISCOPY, NAMES, OTHER_ROUTE, PARITY, SLIP, SPEED,
    SYLLOGISM, THRESHOLD, UNSOUND,
)


@pytest.mark.parametrize(
    ("ex", "generated", "kind", "reason"),
    [
        (ARITH, CORRECT, "correct", "agrees"),
        (ARITH, ANSWER_ONLY, "correct", "agrees"),
        (ARITH, SLIP, "sound_slip", "one slip in step 2: 19 * 3 = 57, not 58"),
        (ARITH, MISCOPY, "sound_slip", "valid chain ends at 52 but answer '25'"),
        (ARITH, MISCOPY.rsplit("\n", 1)[0], "sound_slip", "ends at 52 but no answer line"),
        (SPEED, OTHER_ROUTE, "sound_other_route", "reaching '12.5 m/s'; reference '13.33 m/s'"),
        (SPEED, SPEED.solution.replace(" m/s", " m"), "sound_slip", "right number, wrong unit 'm'"),
        (ARITH, UNSOUND, "unsound", "numbers from nowhere in step 1 'sum = 12 + 8 = 20', step 2"),
        # two arithmetic slips, every number sourced
        (ARITH, " sum = 12 + 7 = 18\nprod = 18 * 3 = 55\ndiff = 55 - 5 = 50\nAnswer: 50", "unsound",
         "2 invalid steps"),
        # symbolic step: not arithmetic, so not a slip
        (ARITH, " sum = 12 + 7 = 19\nprod = 19 * x = 57\ndiff = 57 - 5 = 52\nAnswer: 50", "unsound",
         "not arithmetic"),
        # one slip and an answer that ignores the chain: two faults
        (ARITH, SLIP.replace("Answer: 53", "Answer: 60"), "unsound", "does not reach"),
        (ARITH, JUNK, "no_reasoning", "no parseable steps; no answer line"),
        (ARITH, "", "no_reasoning", "no parseable steps"),
        (ARITH, " Answer: 50", "no_reasoning", "answer '50', reference '52'"),
        (SYLLOGISM, " Answer: no", "no_reasoning", "no parseable steps"),
        (PARITY, " sum = 23 + 18 = 40\nhalf = 40 / 2 = 20\nAnswer: yes", "sound_slip", "23 + 18 = 41, not 40"),
        (PARITY, " sum = 23 + 18 = 41\nhalf = 41 / 2 = 20.5\nAnswer: yes", "sound_slip", "ends at 20.5"),
        (PARITY, " sum = 23 + 19 = 42\nhalf = 42 / 2 = 21\nAnswer: yes", "unsound", "from nowhere"),
        (THRESHOLD, " total = 4 * 6 = 24\ndiff = 22 - 24 = -2\nAnswer: no", "sound_slip", "ends at -2"),
        (LETTERS, " A = 6 * 7 = 36\ndiff = 40 - 36 = 4\nAnswer: B", "sound_slip", "6 * 7 = 42, not 36"),
        (NAMES, " Ann = 3 * 4 = 12\ndiff = 12 - 10 = 2\nAnswer: Bob", "sound_slip", "ends at 2"),
    ],
)
def test_audit_verdicts(ex, generated, kind, reason):
    verdict = audit(ex, generated)
    assert verdict.kind == kind, verdict.reason
    assert reason in verdict.reason
    assert verdict.kind in VERDICTS


PAIRS = [
    (ARITH, CORRECT),  # correct
    (ARITH, SLIP),  # sound_slip
    (SPEED, OTHER_ROUTE),  # sound_other_route
    (ARITH, UNSOUND),  # unsound
    (ARITH, JUNK),  # no_reasoning
    (ARITH, MISCOPY),  # sound_slip
    (ARITH, ANSWER_ONLY),  # correct
]


def test_audit_table_counts_and_shares():
    table = audit_table(PAIRS, examples_per_kind=1)
    assert table.counts == {"correct": 2, "sound_slip": 2, "sound_other_route": 1, "unsound": 1,
                            "no_reasoning": 1}
    assert (table.n, table.n_wrong) == (7, 5)
    assert table.sound_share_of_wrong == pytest.approx(3 / 5)  # 2 slips + 1 other route of 5 wrong
    assert table.examples["sound_slip"] == [(ARITH, SLIP)]  # the first one only
    assert table.examples["correct"] == [(ARITH, CORRECT)]
    assert audit_table(PAIRS).examples["sound_slip"] == [(ARITH, SLIP), (ARITH, MISCOPY)]


def test_audit_table_with_nothing_wrong_has_no_share():
    table = audit_table([(ARITH, CORRECT)])
    assert (table.n, table.n_wrong, table.sound_share_of_wrong) == (1, 0, None)
    assert audit_table([]).counts == dict.fromkeys(VERDICTS, 0)


def _render(renderable) -> str:
    console = Console(width=400, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_format_audit_table_shows_counts_and_shares():
    text = _render(format_audit_table(audit_table(PAIRS)))
    lines = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
             for line in text.splitlines() if line.count("│") == 5}
    assert lines["correct"] == ["2", "28.6%", ""]
    assert lines["sound_slip"] == ["2", "28.6%", "40.0%"]
    assert lines["sound_other_route"] == ["1", "14.3%", "20.0%"]
    assert lines["no_reasoning"] == ["1", "14.3%", "20.0%"]
    assert "7 answers, 5 wrong" in text
    assert "sound reasoning among wrong answers: 60.0%" in text


def test_format_audit_examples_shows_reasons():
    text = _render(format_audit_examples(audit_table(PAIRS)))
    assert "one slip in step 2: 19 * 3 = 57, not 58" in text
    assert "reaching '12.5 m/s'" in text
    assert "13.33 m/s" in text and "average speed" in text
    assert "agrees" not in text  # correct answers are not listed by default


@pytest.mark.parametrize(
    "generated",
    [" x = 12 / (7 - 7) = 1\nAnswer: 1", " x = 3 ** 12 ** 2 = 1\nAnswer: 1", " x = " + "(" * 300 + "1 = 1\nAnswer: 1",
     " x = __import__('os') = 1\nAnswer: 1"],
)
def test_steps_that_cannot_be_computed_are_unsound_not_slips(generated):
    verdict = audit(ARITH, generated)
    assert (verdict.kind, verdict.score.step_validity) == ("unsound", 0.0)
    assert "not arithmetic" in verdict.reason
