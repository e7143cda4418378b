"""Chain-of-thought reading of a multiple-choice question: the model reasons, then answers.

**Asking.** The question, its lettered options and one instruction (reason briefly, end with
``Answer: <letter>``) form the user's message. A tokenizer with a chat template gets it through
the template (an instruction-tuned model continues the option list instead of answering when
asked as plain text); a tokenizer without one gets handhold's plain ``Q: ... A:`` format.

**Reading.** A small model rarely writes the requested last line, so the answer is read by the
first rule that finds one (``how`` in the result says which):

1. ``answer_line``: the last ``Answer: ...`` (or ``answer is ...``) names a choice by letter or text;
2. ``letter``: the lettered choice the text names: ``(B)``, ``B)``, ``B.`` at a line start,
   ``option B`` (only when every letter named is the same one: a repeated option list is no answer);
3. ``text``: the choice whose text the generation names last (whole words, longest match wins
   at a position), unless it names most of the choices (again a repeated list);
4. ``yes_no``: for a yes/no question, a leading ``Yes``/``No``.

Otherwise the question is **unanswered** (``choice`` None): unanswered is kept apart from
answered wrong, and the task reports ``cot_answered`` (share answered) beside ``cot_acc``
(accuracy over answered questions; see :mod:`handhold.evals.benchmarks.suite`).

The reasoning's **own conclusion** is the choice the text before the answer names last;
``consistent`` says whether the answer agrees with it (None when either is missing). A wrong
answer after reasoning that concluded otherwise is a slip; a wrong answer the reasoning argued
for is a reasoning error.
"""

from __future__ import annotations

import re
import string
from typing import Any

from ..answers import normalize_answer
from .data import Doc

LETTERS = string.ascii_uppercase
INSTRUCTION = 'Explain your reasoning in one sentence, then give the answer as "Answer: <letter>".'
_ANSWER_RE = re.compile(r"(?:\banswer\s*(?:is|:)\s*:?|\bcorrect (?:option|choice) is:?)\s*(.*)", re.IGNORECASE)
_LETTER_RE = re.compile(r"^\(?([A-Z])\)?(?:[.):,\s]|$)")
_LETTER_ANYWHERE_RE = re.compile(r"\(([A-Z])\)|(?:^|\n)\s*\**([A-Z])[.)]\s|\b(?:option|choice)\s+\(?([A-Z])\b"
                                 r"|\banswer is:?\s*\(?([A-Z])\b")
_YES_NO = {"yes", "no"}


def question_text(doc: Doc) -> str:
    """The question a person reads: the request's query without its ``Question:``/``Answer:`` frame."""
    text = doc.question.strip()
    text = re.sub(r"\n?Answer:\s*$", "", text).strip()
    return re.sub(r"^Question:\s*", "", text)


def question_message(doc: Doc) -> str:
    """The user's message: the question (a completion task asks for the best ending), the lettered
    options one per line, the instruction."""
    q = " ".join(question_text(doc).split(" "))
    if not q.rstrip().endswith("?") and "Question:" not in q:
        q = f"Which option best completes this text? {q} ..."
    options = "; ".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(doc.choices))
    return f"{q}\nOptions: {options}.\n{INSTRUCTION}"


def cot_prompt(doc: Doc, tokenizer: Any = None) -> str:
    """The prompt as generated from: through the chat template when ``tokenizer`` has one."""
    if tokenizer is not None:
        from ...data.chat_format import chat_prompt, has_chat_template

        if has_chat_template(tokenizer):
            return chat_prompt(tokenizer, question_message(doc))
    choices = " ".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(doc.choices))
    return f"Q: {' '.join(question_text(doc).split())}\nChoices: {choices}\n{INSTRUCTION}\nA:"


def _norm_choice(c: str) -> str:
    return " ".join(c.lower().split()).rstrip(".")


def _match_choice(text: str, choices: tuple[str, ...]) -> int | None:
    """A choice named at the start of an answer: its letter, its exact text, or the one choice it contains."""
    text = text.strip().strip("*\"'`").strip()
    m = _LETTER_RE.match(text)
    if m and LETTERS.index(m.group(1)) < len(choices):
        return LETTERS.index(m.group(1))
    norm = normalize_answer(text)
    for i, c in enumerate(choices):
        if norm == normalize_answer(c):
            return i
    found = [i for i, c in enumerate(choices) if normalize_answer(c) and normalize_answer(c) in norm]
    return found[0] if len(found) == 1 else None


def split_generation(text: str) -> tuple[str, str | None]:
    """(reasoning, the text of the last ``Answer:`` / ``answer is`` line or None)."""
    matches = [m for m in _ANSWER_RE.finditer(text) if m.group(1).split("\n", 1)[0].strip()]
    if not matches:
        return text.strip(), None
    last = matches[-1]
    return text[:last.start()].strip(), last.group(1).split("\n", 1)[0].strip()


def _last_letter(text: str, n: int, single: bool = True) -> tuple[int, int] | None:
    """(end position, choice) of the last lettered choice the text names; with ``single``, None when
    the text names several different letters (it repeats the option list rather than choosing)."""
    found = []
    for m in _LETTER_ANYWHERE_RE.finditer(text):
        letter = next(g for g in m.groups() if g)
        if LETTERS.index(letter) < n:
            found.append((m.end(), LETTERS.index(letter)))
    if not found or (single and len({c for _, c in found}) > 1):
        return None
    return found[-1]


def _last_text(text: str, choices: tuple[str, ...], single: bool = True) -> tuple[int, int] | None:
    """(end position, choice) of the choice text named last; a longer choice wins where two end
    together; with ``single``, None when the text names most of the choices (a repeated option list)."""
    best: tuple[int, int, int] | None = None  # (end, length, choice)
    named: set[int] = set()
    low = text.lower()
    for i, c in enumerate(choices):
        c = _norm_choice(c)
        if not c or c in _YES_NO:
            continue
        for m in re.finditer(r"(?<!\w)" + re.escape(c) + r"(?!\w)", low):
            named.add(i)
            if best is None or (m.end(), len(c)) > best[:2]:
                best = (m.end(), len(c), i)
    if best is None or (single and len(choices) > 2 and len(named) >= len(choices) - 1):
        return None
    return best[0], best[2]


def conclusion(reasoning: str, choices: tuple[str, ...]) -> int | None:
    """The choice the reasoning names last (by letter or by text)."""
    found = [x for x in (_last_letter(reasoning, len(choices), single=False),
                         _last_text(reasoning, choices, single=False)) if x]
    return max(found)[1] if found else None


def _yes_no(text: str, choices: tuple[str, ...]) -> int | None:
    norm = [_norm_choice(c) for c in choices]
    if set(norm) != _YES_NO:
        return None
    first = re.match(r"\W*(\w+)", text.lower())
    return norm.index(first.group(1)) if first and first.group(1) in _YES_NO else None


def extract_answer(text: str, choices: tuple[str, ...]) -> tuple[int | None, str | None, str]:
    """(choice or None, how it was found or None, the reasoning before it); see the module docstring."""
    reasoning, answer = split_generation(text)
    if answer is not None:
        choice = _match_choice(answer, choices)
        if choice is None and {_norm_choice(c) for c in choices} == _YES_NO:
            choice = _yes_no(answer, choices)
        if choice is not None:
            return choice, "answer_line", reasoning
    letter = _last_letter(text, len(choices))
    if letter is not None:
        return letter[1], "letter", text[:letter[0]].strip()
    named = _last_text(text, choices)
    if named is not None:
        return named[1], "text", text.strip()
    yn = _yes_no(text, choices)
    if yn is not None:
        return yn, "yes_no", text.strip()
    return None, None, text.strip()


def read_generation(doc: Doc, text: str) -> dict:
    """The answer-event fields read off one generation: ``choice`` (None: unanswered), ``answered``,
    ``correct`` (False when unanswered), ``how``, ``reasoning``, ``consistent``."""
    choice, how, reasoning = extract_answer(text, doc.choices)
    concl = conclusion(reasoning, doc.choices) if how == "answer_line" else None
    return {"choice": choice, "answered": choice is not None, "correct": choice == doc.gold, "how": how,
            "reasoning": reasoning, "consistent": None if choice is None or concl is None else choice == concl}
