"""Chain-of-thought reading of a multiple-choice question: the model reasons, then answers.

The prompt is handhold's own worked-solution format (``Q: ...`` / ``A:``, a final
``Answer: <letter>`` line), with the choices lettered. Two things are read off a generation:

- the **answer**: the last ``Answer:`` line, matched to a choice by its letter or its text;
- the reasoning's **own conclusion**: the choice the reasoning (everything before that line)
  names last, by letter ("(B)", "answer is B") or by text.

``consistent`` says whether the two agree; it is None when either is missing, so the share of
consistent answers counts only answers that have both. A wrong answer after reasoning that
concluded otherwise is a slip; a wrong answer the reasoning argued for is a reasoning error.
"""

from __future__ import annotations

import re
import string

from ..answers import normalize_answer
from .data import Doc

LETTERS = string.ascii_uppercase
INSTRUCTION = 'Think step by step, then end with "Answer: <letter>".'
_ANSWER_RE = re.compile(r"answer\s*:\s*(.*)", re.IGNORECASE)
_LETTER_RE = re.compile(r"^\(?([A-Z])\)?(?:[.):\s]|$)")


def question_text(doc: Doc) -> str:
    """The question a person reads: the request's query without its ``Question:``/``Answer:`` frame."""
    text = doc.question.strip()
    text = re.sub(r"\n?Answer:\s*$", "", text).strip()
    return re.sub(r"^Question:\s*", "", text)


def cot_prompt(doc: Doc) -> str:
    choices = " ".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(doc.choices))
    return f"Q: {' '.join(question_text(doc).split())}\nChoices: {choices}\n{INSTRUCTION}\nA:"


def _match_choice(text: str, choices: tuple[str, ...]) -> int | None:
    text = text.strip()
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
    """(reasoning, the text of the last ``Answer:`` line or None)."""
    matches = list(_ANSWER_RE.finditer(text))
    if not matches:
        return text.strip(), None
    last = matches[-1]
    return text[:last.start()].strip(), last.group(1).split("\n", 1)[0].strip()


def conclusion(reasoning: str, choices: tuple[str, ...]) -> int | None:
    """The choice the reasoning names last (by letter in parentheses / after "answer is", or by text)."""
    best: tuple[int, int] | None = None  # (end position, choice)
    n = len(choices)
    for m in re.finditer(r"\(([A-Z])\)|answer is:?\s*\(?([A-Z])\b", reasoning, re.IGNORECASE):
        letter = (m.group(1) or m.group(2)).upper()
        if LETTERS.index(letter) < n and (best is None or m.end() >= best[0]):
            best = (m.end(), LETTERS.index(letter))
    low = reasoning.lower()
    for i, c in enumerate(choices):
        c = " ".join(c.lower().split()).rstrip(".")
        if not c:
            continue
        for m in re.finditer(r"(?<!\w)" + re.escape(c) + r"(?!\w)", low):
            if best is None or m.end() > best[0]:
                best = (m.end(), i)
    return None if best is None else best[1]


def read_generation(doc: Doc, text: str) -> dict:
    """The answer-event fields read off one generation (see the module docstring)."""
    reasoning, answer = split_generation(text)
    choice = _match_choice(answer, doc.choices) if answer is not None else None
    concl = conclusion(reasoning, doc.choices)
    return {"choice": choice, "correct": choice == doc.gold, "reasoning": reasoning,
            "consistent": None if choice is None or concl is None else choice == concl}
