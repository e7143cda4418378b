"""Answer matching: strict exact match for benchmarks, lenient agreement for reasoning accuracy."""

from __future__ import annotations

import pytest

from handhold.evals.answers import answers_agree, exact_match, normalize_answer, split_quantity


@pytest.mark.parametrize(
    ("text", "expected"),
    [(" Yes. ", "yes"), ("11  m/s", "11 m/s"), ("B", "b"), ("Ann.", "ann"), ("7 . ", "7"), (None, ""),
     ("\t\n", "")],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


@pytest.mark.parametrize(
    ("reference", "predicted", "expected"),
    [("11 m/s", "11 m/s.", True), ("11 m/s", " 11  M/S ", True), ("B", "b", True), ("yes", "Yes.", True),
     ("11", "11.0", False), ("11 m/s", "11", False), ("B", "(B)", False), ("yes", "no", False),
     ("7", None, False), ("7", "", False)],
)
def test_exact_match_is_strict(reference, predicted, expected):
    assert exact_match(reference, predicted) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("11.5 m/s", (11.5, "m/s")), ("11m/s", (11.0, "m/s")), ("-8", (-8.0, "")), (".5 A", (0.5, "A")),
     ("2.5 m / s^2.", (2.5, "m/s^2")), ("5 ohms", (5.0, "ohm")), ("5 Ω", (5.0, "ohm")),
     ("yes", (None, "yes")), ("B", (None, "B")), ("11.5.3", (None, "11.5.3")), (None, (None, ""))],
)
def test_split_quantity(text, expected):
    assert split_quantity(text) == expected


@pytest.mark.parametrize(
    ("reference", "predicted", "expected"),
    [
        # units: a stated unit must be the reference's; a bare number is accepted
        ("11 m/s", "11 m/s", True), ("11 m/s", "11", True), ("11 m/s", "11m/s", True),
        ("11 m/s", "11 m", False), ("11 m/s", "11 m/s^2", False), ("5 ohm", "5 ohms", True),
        ("5 ohm", "5 Ω", True), ("2.5 m/s^2", "2.5 m / s^2", True), ("12 W", "12 w", False),
        ("7", "7 apples", False),
        # decimals: within 0.005 absolute (the generators' rounding) plus 1e-6 relative
        ("11 m/s", "11.0 m/s", True), ("3.33 A", "3.333", True), ("3.33 A", "3.335", True),
        ("3.33 A", "3.34", False), ("3.33 A", "3.3", False), ("-8", "-8.00", True), ("-8", "8", False),
        ("0.5 A", ".5 A", True), ("1000000", "1000000.9", True), ("1000000", "1000001.1", False),
        ("52", "fifty-two", False), ("52", None, False), ("52", "", False),
        # yes/no, choice letters and names compare normalised text
        ("yes", "Yes.", True), ("no", " NO ", True), ("yes", "no", False), ("yes", "yes, because", False),
        ("B", "b", True), ("B", "A", False), ("Ann", "ann", True), ("Ann", "Bob", False),
    ],
)
def test_answers_agree(reference, predicted, expected):
    assert answers_agree(reference, predicted) is expected


def test_answers_agree_tolerance_is_a_parameter():
    assert not answers_agree("3.33 A", "3.4")
    assert answers_agree("3.33 A", "3.4", tol=0.1)
