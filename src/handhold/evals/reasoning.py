"""Score a generated chain of thought exactly against a procedural example.

Every procedural `Example` carries its worked solution, and steps follow the strict
``<label> = <expr> = <value>`` format of `handhold.data.tasks.steps`, so a chain can be
checked without a judge model:

- ``answer_correct``: the stated answer agrees with the reference (`answers_agree`).
- ``step_validity``: the share of written steps whose arithmetic is right (`check_step`).
- ``coherence``: the chain's links, each 1 or 0, averaged. There is one link per step (its
  numbers all come from the question, earlier step values or the allowed constants:
  `coherent_steps`) plus one link for the answer line (``reaches_answer``). So a chain of
  ``n`` steps scores ``(coherent steps + reaches_answer) / (n + 1)``: 1.0 only if every
  number has a source *and* the answer follows from the chain.
- ``reaches_answer``: for numeric answers, the stated number equals the last step's value;
  for yes/no and multiple-choice tasks, the stated choice is the one the chain's own values
  pick (see `chain_conclusion`); where the chain decides nothing, any listed choice counts.
- ``format_ok``: an ``Answer:`` line with text, only step lines (or blank lines) before it,
  and at least one step when the reference has steps. Text after the answer line is not
  judged: generation runs to a token budget and often starts the next ``Q:``.

Step validity and coherence are None when no step was written: there is nothing to rate,
and a zero would conflate "no reasoning" with "wrong reasoning".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from handhold.data.tasks.base import Example, Step
from handhold.data.tasks.steps import check_step, coherent_steps, evaluate, parse_solution, parse_step
from handhold.evals.answers import answers_agree, normalize_answer, numbers_agree, split_quantity

_NUM = r"-?\d+(?:\.\d+)?"
_DIFF_RE = re.compile(rf"^\s*({_NUM})\s*-\s*({_NUM})\s*$")
_HALF_RE = re.compile(r"^.*/\s*2\s*$")
_EVEN_RE = re.compile(r"\ban? (even|odd) number\?\s*$")
_THRESHOLD_RE = re.compile(rf"\b(more|fewer|less) than ({_NUM})\?\s*$")
_RANGE_RE = re.compile(rf"\bbetween ({_NUM}) and ({_NUM})\?\s*$")
_MAX_WORDS = re.compile(r"\b(larger|largest|greater|greatest|bigger|biggest|more)\b")
_MIN_WORDS = re.compile(r"\b(smaller|smallest|fewer|less|least)\b")
_ANSWER = "Answer:"


@dataclass(frozen=True)
class ReasoningScore:
    """One generated chain scored against its example (see the module docstring)."""

    answer_correct: bool
    step_validity: float | None
    coherence: float | None
    reaches_answer: bool
    format_ok: bool
    n_steps: int
    # Detail for audits and sample views; not averaged by `mean_scores`.
    stated_answer: str | None = None
    steps_valid: tuple[bool, ...] = ()
    steps_coherent: tuple[bool, ...] = ()


def score_reasoning(example: Example, generated: str) -> ReasoningScore:
    """Score what a model wrote after ``example.prompt`` (``"Q: ...\\nA:"``)."""
    steps, stated = parse_solution(generated)
    valid = tuple(check_step(s) for s in steps)
    coherent = tuple(coherent_steps(steps, example.question))
    reaches = reaches_answer(example, steps, stated)
    n = len(steps)
    return ReasoningScore(
        answer_correct=answers_agree(example.answer, stated),
        step_validity=sum(valid) / n if n else None,
        coherence=(sum(coherent) + reaches) / (n + 1) if n else None,
        reaches_answer=reaches,
        format_ok=format_ok(example, generated),
        n_steps=n,
        stated_answer=stated,
        steps_valid=valid,
        steps_coherent=coherent,
    )


def mean_scores(scores: list[ReasoningScore]) -> dict[str, float]:
    """Averages: ``answer_acc`` and ``format`` over all chains; ``step_validity`` and
    ``coherence`` over the chains that wrote steps only (None excluded), and left out of the
    dict when no chain wrote any, rather than reported as a made-up 0.
    """
    if not scores:
        raise ValueError("mean_scores: no scores to average")
    out = {
        "answer_acc": sum(s.answer_correct for s in scores) / len(scores),
        "step_validity": _mean([s.step_validity for s in scores]),
        "coherence": _mean([s.coherence for s in scores]),
        "format": sum(s.format_ok for s in scores) / len(scores),
    }
    return {k: v for k, v in out.items() if v is not None}


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def format_ok(example: Example, generated: str) -> bool:
    """An answer line with text, nothing but steps before it, a step if the reference has any."""
    before: list[str] = []
    for raw in generated.splitlines():
        line = raw.strip()
        if line.startswith("A:"):  # tolerated, as in `parse_solution`
            line = line[2:].strip()
        if line.startswith(_ANSWER):
            written = [x for x in before if x]
            return (bool(line[len(_ANSWER):].strip())
                    and all(parse_step(x) is not None for x in written)
                    and (bool(written) or not example.steps))
        before.append(line)
    return False


def reaches_answer(example: Example, steps: list[Step], stated: str | None) -> bool:
    """Does the stated answer follow from the chain? False with no steps or no answer."""
    if not steps or stated is None:
        return False
    ref_value, _ = split_quantity(example.answer)
    if not example.choices and ref_value is not None:
        value, _ = split_quantity(stated)
        return value is not None and numbers_agree(_value(steps[-1]), value)
    conclusion = chain_conclusion(example, steps)
    if conclusion is None:  # undecidable: any listed choice (or any text) is allowed
        return bool(stated.strip()) and (not example.choices or _in(stated, example.choices))
    return _in(stated, conclusion)


def chain_conclusion(example: Example, steps: list[Step]) -> set[str] | None:
    """The answer(s) a yes/no or multiple-choice chain's own values pick; None if undecidable.

    Reads the question forms the general tasks use: parity ("Is 12 + 7 an even number?"),
    thresholds ("... more than 20?"), ranges ("Is x between 3 and 9?") and comparisons
    ("Which is larger: A = 3 * 4 or B = 15?", "Who has more?").
    """
    choices = {normalize_answer(c) for c in example.choices}
    if choices == {"yes", "no"}:
        verdict = _yes_no(example.question, steps)
        return None if verdict is None else {"yes" if verdict else "no"}
    if example.choices:
        return _compare(example, steps)
    return None


def _in(answer: str, options) -> bool:
    return normalize_answer(answer) in {normalize_answer(o) for o in options}


def _value(step: Step) -> float:
    return float(step.value)  # parse_step only accepts plain numbers as values


def _diff(step: Step) -> tuple[float, float] | None:
    m = _DIFF_RE.match(step.expr)
    return (float(m.group(1)), float(m.group(2))) if m else None


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _yes_no(question: str, steps: list[Step]) -> bool | None:
    last = steps[-1]
    if m := _EVEN_RE.search(question):
        v = _value(last)
        even = v.is_integer() if _HALF_RE.match(last.expr) else v.is_integer() and int(v) % 2 == 0
        return even if m.group(1) == "even" else not even
    if m := _THRESHOLD_RE.search(question):
        limit = float(m.group(2))
        ops = _diff(last)
        if ops and ops[1] == limit:  # total - limit
            rel = _sign(_value(last))
        elif ops and ops[0] == limit:  # limit - total
            rel = -_sign(_value(last))
        else:  # the last value is the total itself
            rel = _sign(_value(last) - limit)
        return rel > 0 if m.group(1) == "more" else rel < 0
    if m := _RANGE_RE.search(question):
        lo, hi = float(m.group(1)), float(m.group(2))
        low = [s for s in steps if (ops := _diff(s)) and ops[1] == lo]  # x - lo
        high = [s for s in steps if (ops := _diff(s)) and ops[0] == hi]  # hi - x
        if low and high:
            return _value(low[-1]) > 0 and _value(high[-1]) > 0
        if not low and not high:  # the last value is x itself
            return lo < _value(last) < hi
    return None


def _compare(example: Example, steps: list[Step]) -> set[str] | None:
    question = example.question
    if _MAX_WORDS.search(question):
        pick = max
    elif _MIN_WORDS.search(question):
        pick = min
    else:
        return None
    values = {}
    for choice in example.choices:
        value = _choice_value(choice, question, steps)
        if value is None:
            return None
        values[choice] = value
    best = pick(values.values())
    return {c for c, v in values.items() if v == best}


def _choice_value(choice: str, question: str, steps: list[Step]) -> float | None:
    """The chain's value for a choice: its own step if written, else what the question says."""
    mine = [s for s in steps if s.label == choice]
    if mine:
        return _value(mine[-1])
    c = re.escape(choice)
    if m := re.search(rf"\b{c} = ([^,?=]+?)(?:,| or |\?)", question):  # "A = 3 * 4 or B = 15?"
        try:
            return float(evaluate(m.group(1)))
        except ValueError:
            return None
    if m := re.search(rf"\b{c} has ({_NUM}) bags of ({_NUM})\b", question):
        return float(m.group(1)) * float(m.group(2))
    if m := re.search(rf"\b{c} has ({_NUM}) [A-Za-z]+[.?]", question):  # "Bob has 10 apples."
        return float(m.group(1))
    return None
