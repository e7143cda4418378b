"""Wrong-answer audit: was a "wrong" answer reasoned well?

A benchmark marks an answer right or wrong; this module asks, for each wrong one, whether
the chain behind it was sound. Verdicts (first that applies):

- ``correct``: the answer agrees with the reference (`answers_agree`).
- ``no_reasoning``: no parseable step was written.
- ``sound_other_route``: every step valid and coherent and the stated answer follows from
  the chain, yet it differs from the reference: a different but valid reading or route.
- ``sound_slip``: the chain is valid and coherent except for exactly one slip: one step
  whose arithmetic evaluates but to a different value (with the answer following from the
  chain), or a valid chain whose last value is mis-copied into the answer (a different
  number, the right number with a wrong unit, or no answer line at all).
- ``unsound``: anything else: invented numbers (incoherent steps), steps that are not
  arithmetic, more than one slip.

``sound_share_of_wrong`` counts both sound kinds over all wrong answers, ``no_reasoning``
included: a wrong answer with no reasoning was not reasoned well.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from handhold.data.tasks.base import Example
from handhold.data.tasks.steps import evaluate, format_number, parse_solution, render_step
from handhold.evals.answers import numbers_agree, split_quantity
from handhold.evals.reasoning import ReasoningScore, score_reasoning

VERDICTS = ("correct", "sound_slip", "sound_other_route", "unsound", "no_reasoning")
SOUND = ("sound_slip", "sound_other_route")


@dataclass(frozen=True)
class AuditVerdict:
    kind: str  # one of VERDICTS
    reason: str  # one line a person can check against the chain
    score: ReasoningScore


def audit(example: Example, generated: str) -> AuditVerdict:
    """Classify one generated chain (what followed ``example.prompt``); see the module doc."""
    score = score_reasoning(example, generated)
    stated = score.stated_answer
    if score.answer_correct:
        return AuditVerdict("correct", f"answer {stated!r} agrees with the reference", score)
    said = "no answer line" if stated is None else f"answer {stated!r}"
    wrong = f"{said}, reference {example.answer!r}"
    if score.n_steps == 0:
        return AuditVerdict("no_reasoning", f"no parseable steps; {wrong}", score)

    steps, _ = parse_solution(generated)
    incoherent = [i for i, ok in enumerate(score.steps_coherent) if not ok]
    invalid = [i for i, ok in enumerate(score.steps_valid) if not ok]
    slips = [i for i in invalid if _computable(steps[i].expr)]
    if incoherent:
        where = ", ".join(f"step {i + 1} {render_step(steps[i])!r}" for i in incoherent[:2])
        return AuditVerdict("unsound", f"numbers from nowhere in {where}; {wrong}", score)
    if len(invalid) > 1 or (invalid and not slips):
        kinds = f"{len(invalid)} invalid steps" if len(invalid) > 1 else "a step that is not arithmetic"
        return AuditVerdict("unsound", f"{kinds} (first: {render_step(steps[invalid[0]])!r}); {wrong}", score)
    if slips and score.reaches_answer:
        step = steps[slips[0]]
        got = format_number(evaluate(step.expr, exact=True))
        return AuditVerdict("sound_slip", f"one slip in step {slips[0] + 1}: {step.expr} = {got}, "
                                          f"not {step.value}; {wrong}", score)
    if slips:
        return AuditVerdict("unsound", f"a slip in step {slips[0] + 1} and an answer the chain does not "
                                       f"reach; {wrong}", score)
    # Every step valid and coherent from here on.
    last = steps[-1].value
    if not score.reaches_answer:
        return AuditVerdict("sound_slip", f"valid chain ends at {last} but {wrong}", score)
    ref_value, _ = split_quantity(example.answer)
    value, unit = split_quantity(stated)
    if ref_value is not None and value is not None and numbers_agree(ref_value, value):
        return AuditVerdict("sound_slip", f"right number, wrong unit {unit!r}; {wrong}", score)
    return AuditVerdict("sound_other_route", f"valid, coherent chain reaching {stated!r}; "
                                             f"reference {example.answer!r}", score)


def _computable(expr: str) -> bool:
    try:
        evaluate(expr, exact=True)
    except ValueError:
        return False
    return True


@dataclass
class AuditTable:
    counts: dict[str, int]  # every verdict kind, zeros included
    n: int
    n_wrong: int
    sound_share_of_wrong: float | None  # None when nothing was wrong
    examples: dict[str, list[tuple[Example, str]]] = field(default_factory=dict)  # first few per kind


def audit_table(pairs: list[tuple[Example, str]], examples_per_kind: int = 3) -> AuditTable:
    """Audit every (example, generated) pair; keep the first ``examples_per_kind`` of each kind."""
    counts = dict.fromkeys(VERDICTS, 0)
    examples: dict[str, list[tuple[Example, str]]] = {k: [] for k in VERDICTS}
    for example, generated in pairs:
        kind = audit(example, generated).kind
        counts[kind] += 1
        if len(examples[kind]) < examples_per_kind:
            examples[kind].append((example, generated))
    n = len(pairs)
    n_wrong = n - counts["correct"]
    share = sum(counts[k] for k in SOUND) / n_wrong if n_wrong else None
    return AuditTable(counts, n, n_wrong, share, examples)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def format_audit_table(table: AuditTable):
    """A rich Table: count, share of all and share of wrong answers per verdict."""
    from rich.table import Table

    share = "-" if table.sound_share_of_wrong is None else f"{100 * table.sound_share_of_wrong:.1f}%"
    out = Table(title=f"Wrong-answer audit: {table.n} answers, {table.n_wrong} wrong",
                caption=f"sound reasoning among wrong answers: {share}")
    for name in ("verdict", "count", "share of all", "share of wrong"):
        out.add_column(name, justify="left" if name == "verdict" else "right")
    for kind in VERDICTS:
        count = table.counts.get(kind, 0)
        of_wrong = "" if kind == "correct" else _pct(count, table.n_wrong)
        out.add_row(kind, str(count), _pct(count, table.n), of_wrong)
    return out


def format_audit_examples(table: AuditTable, kinds: tuple[str, ...] = VERDICTS[1:], max_chars: int = 300):
    """A rich Table of the kept examples per kind: question, reference, generated chain, reason."""
    from rich.table import Table

    out = Table(title="Audit examples", show_lines=True)
    for name in ("verdict", "question", "reference", "generated", "reason"):
        out.add_column(name, overflow="fold")
    for kind in kinds:
        for example, generated in table.examples.get(kind, []):
            text = generated.strip()
            text = text if len(text) <= max_chars else text[:max_chars] + "..."
            out.add_row(kind, example.question, example.answer, text, audit(example, generated).reason)
    return out
