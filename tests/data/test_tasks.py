"""Procedural tasks: determinism, valid and coherent steps, the step format's parser/checker."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from handhold.data.tasks import general, physics
from handhold.data.tasks.base import Example
from handhold.data.tasks.steps import (
    ALLOWED_CONSTANTS,
    Step,
    check_step,
    coherent_steps,
    evaluate,
    format_number,
    is_coherent,
    make_step,
    numbers_in,
    parse_solution,
    parse_step,
    render_step,
)

DOMAINS = {"general": general, "physics": physics}
ALL_TASKS = [(d, name) for d, mod in DOMAINS.items() for name in mod.TASKS]
UNITS = {"kinematics": ("m/s", "m", "s"), "force": ("N", "m/s^2"), "energy": ("J", "W"),
         "circuit": ("V", "A", "ohm", "W")}


def _draw(fn, seed: int, n: int) -> list[Example]:
    rng = random.Random(seed)
    return [fn(rng) for _ in range(n)]


# --- generators ------------------------------------------------------------------------


@pytest.mark.parametrize("domain", DOMAINS)
def test_same_seed_same_examples_different_seed_differs(domain):
    gen = DOMAINS[domain].generate
    assert _draw(gen, 7, 200) == _draw(gen, 7, 200)
    assert _draw(gen, 7, 200) != _draw(gen, 8, 200)


@pytest.mark.parametrize("domain", DOMAINS)
def test_global_random_state_is_not_used(domain):
    gen = DOMAINS[domain].generate
    random.seed(1)
    a = _draw(gen, 3, 100)
    random.seed(2)
    b = _draw(gen, 3, 100)
    assert a == b


@pytest.mark.parametrize(("domain", "task"), ALL_TASKS)
def test_every_example_is_valid(domain, task):
    for ex in _draw(DOMAINS[domain].TASKS[task], 11, 500):
        where = f"\n{ex.text}"
        assert (ex.domain, ex.task) == (domain, task), where
        assert len(ex.text) <= 200, where
        assert all(c.isascii() and (c.isprintable() or c == "\n") for c in ex.text), where
        assert ex.text == f"Q: {ex.question}\nA:" + ex.solution, where
        assert all(check_step(s) for s in ex.steps), where
        assert is_coherent(ex.steps, ex.question), where
        assert parse_solution(ex.solution) == (list(ex.steps), ex.answer), where
        assert not ex.choices or ex.answer in ex.choices, where
        # Units only in the answer: step fields are bare arithmetic and numbers.
        for s in ex.steps:
            assert set(s.expr) <= set("0123456789.+-*/() "), where
            assert numbers_in(s.value) == [s.value], where


@pytest.mark.parametrize(("domain", "task"), ALL_TASKS)
def test_numeric_answers_come_from_the_last_step(domain, task):
    for ex in _draw(DOMAINS[domain].TASKS[task], 5, 300):
        if ex.choices:
            continue
        value, _, unit = ex.answer.partition(" ")
        assert value == ex.steps[-1].value, ex.text
        if domain == "physics":
            assert unit in UNITS[task], ex.text
        else:
            assert unit == "", ex.text


def test_most_general_examples_have_numeric_steps():
    exs = _draw(general.generate, 4, 400)
    assert sum(bool(ex.steps) for ex in exs) >= 0.85 * len(exs)
    assert all(ex.steps for ex in _draw(physics.generate, 4, 400))


def test_compare_and_logic_are_multiple_choice_with_balanced_answers():
    for task, choices in (("compare", None), ("logic", ("yes", "no"))):
        exs = _draw(general.TASKS[task], 9, 300)
        assert all(ex.choices for ex in exs)
        if choices:
            assert {ex.choices for ex in exs} == {choices}
        answers = Counter(ex.answer for ex in exs)
        assert len(answers) >= 2 and max(answers.values()) < 0.8 * len(exs), answers


@pytest.mark.parametrize("domain", DOMAINS)
def test_variety(domain):
    mod = DOMAINS[domain]
    exs = _draw(mod.generate, 0, 200)
    assert len({ex.question for ex in exs}) >= 100
    assert {ex.task for ex in exs} == set(mod.TASKS)
    assert len({ex.answer for ex in exs}) >= 50
    assert any("." in s.value for ex in _draw(mod.generate, 1, 400) for s in ex.steps)


def test_typical_lengths_are_short():
    for mod in DOMAINS.values():
        lengths = sorted(len(ex.text) for ex in _draw(mod.generate, 2, 400))
        assert 60 <= lengths[len(lengths) // 2] <= 160


def test_example_rejects_answer_outside_choices():
    with pytest.raises(ValueError):
        Example("general", "compare", "Which?", (), "C", ("A", "B"))


def test_solution_without_steps_renders_answer_only():
    ex = Example("general", "logic", "Is it?", (), "yes", ("yes", "no"))
    assert ex.solution == " Answer: yes"
    assert parse_solution(ex.solution) == ([], "yes")


# --- step format -------------------------------------------------------------------------


def test_render_and_parse_step_round_trip():
    step = Step("v", "3 + 2 * 4", "11")
    assert render_step(step) == "v = 3 + 2 * 4 = 11"
    assert parse_step("v = 3 + 2 * 4 = 11") == step
    assert parse_step("  KE = 2 * 9 / 2 = 9  ") == Step("KE", "2 * 9 / 2", "9")
    assert parse_step("diff = 9 - 17 = -8") == Step("diff", "9 - 17", "-8")


@pytest.mark.parametrize(
    "line",
    ["", "hello world", "Answer: 11", "v = 3", "v = 3 + 4 = seven", "= 3 = 3",
     "Q: What is 3 + 4?", "v == 3 == 3", "3 = 3 = 3", "v = = 3"],
)
def test_parse_step_returns_none_on_junk(line):
    assert parse_step(line) is None


def test_parse_step_keeps_symbolic_expr_for_check_step_to_reject():
    step = parse_step("v = u + a * t = 11")
    assert step == Step("v", "u + a * t", "11")
    assert not check_step(step)


def test_parse_solution_tolerates_junk_and_ignores_text_after_answer():
    text = " sum = 12 + 7 = 19\nhmm let me think\nprod = 19 * 3 = 57\nAnswer: 57 \nQ: next = 1 = 1"
    assert parse_solution(text) == ([Step("sum", "12 + 7", "19"), Step("prod", "19 * 3", "57")], "57")
    assert parse_solution("x = 1 + 1 = 2\nno answer here") == ([Step("x", "1 + 1", "2")], None)
    assert parse_solution("") == ([], None)
    assert parse_solution("Q: hi\nA: v = 2 * 3 = 6\nAnswer: 6 m/s") == ([Step("v", "2 * 3", "6")], "6 m/s")


def test_check_step_accepts_right_values_within_rounding():
    assert check_step(Step("v", "3 + 2 * 4", "11"))
    assert check_step(Step("v", "10 / 3", "3.33"))
    assert check_step(Step("v", "2 / 3", "0.67"))
    assert check_step(Step("v", "(-3 + 1) * 2.5", "-5"))
    assert check_step(Step("v", "4 * 3 ** 2 / 2", "18"))
    assert check_step(Step("PE", "3 * 9.8 * 5", "147"))
    assert check_step(Step("v", "11", "11.0"))


@pytest.mark.parametrize(
    ("expr", "value"),
    [("3 + 2 * 4", "12"), ("3 + 2 * 4", "14"), ("10 / 3", "3.3"), ("10 / 3", "3.34"),
     ("2 ** 3", "6"), ("1 - 5", "4")],
)
def test_check_step_rejects_wrong_values(expr, value):
    assert not check_step(Step("x", expr, value))


@pytest.mark.parametrize(
    "expr",
    ["__import__('os')", "__import__('os').system('true')", "x + 1", "abs(-3)", "(1).real",
     "'a' * 3", "True + 1", "[1][0]", "lambda: 1", "1 if 1 else 2", "3 // 2", "7 % 4",
     "1 / 0", "9 ** 99999", "2 ** 0.5", "1e308 * 1e308", "", "(((", "1 +", "3 == 3",
     "(" * 300 + "1" + ")" * 300, "1j * 1"],
)
def test_check_step_refuses_unsafe_or_malformed_exprs(expr):
    assert check_step(Step("x", expr, "1")) is False


@pytest.mark.parametrize("value", ["abc", "", "1 m/s", "1/2", "nan", "inf", "--1"])
def test_check_step_refuses_non_numeric_values(value):
    assert check_step(Step("x", "1", value)) is False


def test_evaluate_exact_uses_fractions():
    assert evaluate("0.1 + 0.2", exact=True) == evaluate("3 / 10", exact=True) * 1
    assert str(evaluate("0.1 + 0.2", exact=True)) == "3/10"
    with pytest.raises(ValueError):
        evaluate("x")


def test_format_number_rounds_half_up_to_two_decimals():
    from fractions import Fraction

    cases = {Fraction(11): "11", Fraction(5, 2): "2.5", Fraction(10, 3): "3.33",
             Fraction(2, 3): "0.67", Fraction(1, 200): "0.01", Fraction(-8): "-8",
             Fraction(-1, 1000): "0", Fraction(1471, 10): "147.1", Fraction(100): "100"}
    for x, want in cases.items():
        assert format_number(x) == want
    assert make_step("PE", "3 * 9.8 * 5") == Step("PE", "3 * 9.8 * 5", "147")


def test_numbers_in():
    assert numbers_in("x = -3 + 2.5, R1 and 12-5 at 9.8 m/s^2.") == ["-3", "2.5", "12", "5", "9.8", "2"]
    assert numbers_in("(-4) * 3") == ["-4", "3"]
    assert numbers_in("no numbers") == []


def test_coherence_flags_numbers_from_nowhere():
    q = "What is (12 + 7) * 3 - 5?"
    good = [Step("sum", "12 + 7", "19"), Step("prod", "19 * 3", "57"), Step("diff", "57 - 5", "52")]
    assert coherent_steps(good, q) == [True, True, True]
    bad = [Step("sum", "12 + 7", "19"), Step("prod", "19 * 4", "76")]
    assert coherent_steps(bad, q) == [True, False]
    # A value is known only after the step that writes it.
    early = [Step("prod", "19 * 3", "57"), Step("sum", "12 + 7", "19")]
    assert coherent_steps(early, q) == [False, True]
    assert ALLOWED_CONSTANTS == {"1", "2"}
    assert is_coherent([Step("count", "1 + 1 + 1", "3"), Step("h", "3 / 2", "1.5")], "How many?")
    assert not is_coherent([Step("g", "9.8 * 2", "19.6")], "A stone falls for 2 s.")
    assert is_coherent([Step("v", "9.8 * 2", "19.6")], "Use g = 9.8 m/s^2. Falls for 2 s.")
