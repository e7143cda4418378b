"""The step format: a contract between task generators and reasoning scorers.

A worked solution is some step lines (each a `Step`) and one answer line::

    v = 3 + 2 * 4 = 11
    Answer: 11 m/s

A step is ``<label> = <expr> = <value>``. ``expr`` is arithmetic over numbers only
(``+ - * / **``, unary minus, parentheses, decimals); ``value`` is its result rounded to at
most 2 decimals. Units appear only in the answer line. The format is strict so that a
scorer can check every step exactly (`check_step`) without running any model output.

Coherence (`coherent_steps`): every number in a step's ``expr`` must appear in the
question, in an earlier step's value, or in `ALLOWED_CONSTANTS`. Those are only the
integers 1 (counting: ``count = 1 + 1 + 1``) and 2 (squares and halves: ``v ** 2``,
``m * v ** 2 / 2``, parity ``n / 2``). Every other constant, such as g = 9.8, is stated in
the question. Numbers are compared by value ignoring sign, so ``3.0`` matches ``3`` and
``-8`` may reuse a value ``8``.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Step:
    """One worked step, rendered as ``<label> = <expr> = <value>``."""

    label: str  # short name of the quantity: "v", "F", "sum", "diff"
    expr: str  # arithmetic over numbers only: "3 + 2 * 4"
    value: str  # the result as written, rounded to at most 2 decimals: "11", "2.5"


ALLOWED_CONSTANTS: frozenset[str] = frozenset({"1", "2"})

MAX_EXPR_CHARS = 200  # longer exprs are refused unread: bounds parse time and recursion
MAX_EXPONENT = 10  # bounds ``**`` so a generated "9 ** 99999" can't stall a scorer

_NUMBER = r"-?\d+(?:\.\d+)?"
_STEP_RE = re.compile(rf"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*([^=\s][^=]*?)\s*=\s*({_NUMBER})\s*$")
_VALUE_RE = re.compile(rf"^\s*{_NUMBER}\s*$")
# A sign counts only where it can't be a binary minus: "12-5" -> 12, 5; "x = -3" -> -3.
_NUMBERS_RE = re.compile(r"(?<![\w.])-?(?:\d+(?:\.\d+)?|\.\d+)")
_ANSWER = "Answer:"

_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def format_number(x: Fraction | int | float) -> str:
    """Round half up to at most 2 decimals and drop trailing zeros: 2.50 -> "2.5"."""
    cents = math.floor(Fraction(x) * 100 + Fraction(1, 2))
    whole, frac = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    return f"{sign}{whole}" if frac == 0 else f"{sign}{whole}.{frac:02d}".rstrip("0")


def evaluate(expr: str, exact: bool = False) -> Fraction | float:
    """Evaluate arithmetic over number literals; raise ValueError on anything else.

    Walks a whitelisted `ast` (never `eval`). ``exact=True`` computes with Fractions (what
    generators use to write values); otherwise floats (what `check_step` uses).
    """
    if len(expr) > MAX_EXPR_CHARS:
        raise ValueError("expression too long")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError) as e:
        raise ValueError(f"not an expression: {expr!r}") from e

    def walk(node: ast.AST) -> Fraction | float:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return Fraction(repr(node.value)) if exact else float(node.value)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and (right != int(right) or abs(right) > MAX_EXPONENT):
                raise ValueError("only small integer exponents are allowed")
            if isinstance(node.op, ast.Pow):
                right = int(right)
            return _BINOPS[type(node.op)](left, right)
        raise ValueError(f"not allowed in a step: {type(node).__name__}")

    try:
        result = walk(tree.body)
    except (ZeroDivisionError, OverflowError, RecursionError) as e:
        raise ValueError(str(e)) from e
    if not exact and not math.isfinite(result):
        raise ValueError("result is not finite")
    return result


def make_step(label: str, expr: str) -> Step:
    """Build a step whose value is ``expr`` computed exactly, then rounded for writing."""
    return Step(label, expr, format_number(evaluate(expr, exact=True)))


def render_step(step: Step) -> str:
    """``Step("v", "3 + 2 * 4", "11")`` -> ``"v = 3 + 2 * 4 = 11"``."""
    return f"{step.label} = {step.expr} = {step.value}"


def parse_step(line: str) -> Step | None:
    """Parse one ``<label> = <expr> = <value>`` line; None if the line isn't a step.

    The expr is not validated here (``v = u + a * t = 11`` parses); `check_step` judges it.
    """
    m = _STEP_RE.match(line)
    return Step(m.group(1), m.group(2), m.group(3)) if m else None


def parse_solution(text: str) -> tuple[list[Step], str | None]:
    """Split a generated solution into its steps and final answer.

    Steps are the parseable lines before the first ``Answer:`` line; other lines are
    skipped. The answer is the rest of that line, stripped (None if there is none), so
    anything a model writes after it is ignored. A leading ``A:`` is tolerated.
    """
    steps: list[Step] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("A:"):
            line = line[2:].strip()
        if line.startswith(_ANSWER):
            return steps, line[len(_ANSWER):].strip()
        step = parse_step(line)
        if step is not None:
            steps.append(step)
    return steps, None


def check_step(step: Step, rel_tol: float = 1e-6) -> bool:
    """True if ``expr`` safely evaluates to ``value`` within the generators' rounding.

    Accepts ``|eval - value| <= 0.005 + rel_tol * |value|``. Never raises: an unsafe or
    malformed expr, or a value that is not a plain number, is simply False.
    """
    if not isinstance(step.value, str) or not _VALUE_RE.match(step.value):
        return False
    try:
        got = float(evaluate(step.expr))
    except (ValueError, TypeError):
        return False
    value = float(step.value)
    return abs(got - value) <= 0.005 + rel_tol * abs(value)


def numbers_in(text: str) -> list[str]:
    """Numbers as they appear in ``text``: ``"x = -3 + 2.5, R1"`` -> ``["-3", "2.5"]``."""
    return _NUMBERS_RE.findall(text)


def _key(number: str) -> Fraction:
    return abs(Fraction(number))


def coherent_steps(
    steps: list[Step] | tuple[Step, ...],
    question: str,
    constants: frozenset[str] = ALLOWED_CONSTANTS,
) -> list[bool]:
    """Per step: does its expr use only numbers from the question, earlier values, constants?"""
    known = {_key(n) for n in numbers_in(question)} | {_key(c) for c in constants}
    flags = []
    for step in steps:
        flags.append(all(_key(n) in known for n in numbers_in(step.expr)))
        if _VALUE_RE.match(step.value):
            known.add(_key(step.value))
    return flags


def is_coherent(steps, question: str, constants: frozenset[str] = ALLOWED_CONSTANTS) -> bool:
    """True if every step is coherent (see `coherent_steps`)."""
    return all(coherent_steps(steps, question, constants))
