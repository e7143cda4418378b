"""Comparing a stated final answer with the reference, two ways.

`exact_match` is how benchmarks score: the normalised strings must be equal, so ``"11.0"``
against ``"11"`` is wrong. `answers_agree` is what reasoning accuracy uses: quantities are
compared by value within the rounding the task generators use (steps are rounded to 2
decimals), so ``"11.0 m/s"`` agrees with ``"11 m/s"``; a stated unit must still be the
reference's unit. Keeping both lets a report show how much of a "wrong" benchmark answer is
only formatting.
"""

from __future__ import annotations

import re

_QUANTITY_RE = re.compile(r"^(-?(?:\d+(?:\.\d+)?|\.\d+))(?:\s+|(?=[^\d.])|$)(.*)$")
# Spellings of the same unit a model might reasonably write; keys are compared space-free.
_UNIT_ALIASES = {"ohms": "ohm", "Ohm": "ohm", "Ohms": "ohm", "Ω": "ohm", "m/s²": "m/s^2", "m/s/s": "m/s^2",
                 "sec": "s", "secs": "s"}


def normalize_answer(text: str | None) -> str:
    """Strip, collapse inner whitespace, lowercase, drop trailing periods: ``" Yes. "`` -> ``"yes"``."""
    if text is None:
        return ""
    return " ".join(text.split()).lower().rstrip(".").rstrip()


def exact_match(reference: str, predicted: str | None) -> bool:
    """Benchmark-style strict match: equal after `normalize_answer`; no answer is never a match."""
    return predicted is not None and normalize_answer(reference) == normalize_answer(predicted)


def split_quantity(text: str | None) -> tuple[float | None, str]:
    """``"11.5 m/s"`` -> ``(11.5, "m/s")``; ``"yes"`` -> ``(None, "yes")``.

    The unit is the rest of the text with spaces removed, trailing periods dropped and common
    aliases mapped (``"ohms"``/``"Ω"`` -> ``"ohm"``). Units stay case-sensitive (mW is not MW).
    """
    text = " ".join((text or "").split()).rstrip(".").rstrip()
    m = _QUANTITY_RE.match(text)
    if not m:
        return None, text
    unit = m.group(2).replace(" ", "").rstrip(".")
    return float(m.group(1)), _UNIT_ALIASES.get(unit, unit)


def numbers_agree(a: float, b: float, tol: float = 0.005, rel_tol: float = 1e-6) -> bool:
    """``|a - b| <= tol + rel_tol * |a|``: the generators' 2-decimal rounding, as in `check_step`."""
    return abs(a - b) <= tol + rel_tol * abs(a)


def answers_agree(reference: str, predicted: str | None, tol: float = 0.005) -> bool:
    """Lenient match used for reasoning accuracy.

    A numeric reference needs a numeric prediction within ``tol`` (plus 1e-6 relative); if
    the prediction states a unit it must equal the reference's unit (a unitless reference
    accepts no unit: ``"7 apples"`` does not agree with ``"7"``), while a bare number is
    accepted for a reference with a unit. Non-numeric references (yes/no, names, choice
    letters) compare `normalize_answer` text.
    """
    if predicted is None:
        return False
    ref_value, ref_unit = split_quantity(reference)
    if ref_value is None:
        return exact_match(reference, predicted)
    value, unit = split_quantity(predicted)
    if value is None or not numbers_agree(ref_value, value, tol):
        return False
    return unit == "" or unit == ref_unit
