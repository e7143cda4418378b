"""The ranges numbers must lie in before they reach SQLite, numpy or torch.

One place for the limits every boundary checks (the Run API and the amend door, the importers,
the dashboard's label route, the config): a step is stored as an SQLite INTEGER (a signed
64-bit int), a seed goes to ``numpy.random.seed`` (an unsigned 32-bit int). A value outside is
refused where it comes in, with a message naming the call or field, never left to overflow
somewhere downstream.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

STEP_MAX = 2**63 - 1  # SQLite's INTEGER is a signed 64-bit int
SEED_MAX = 2**32 - 1  # numpy.random.seed takes an unsigned 32-bit int; torch and random take it too


def step_value(step: Any, where: str) -> int:
    """``step`` as an int in ``0 .. STEP_MAX``.

    A TypeError for a bool, a fraction, NaN/inf or a non-number; a ValueError for an integer out
    of range (negative, or too large for SQLite)."""
    if isinstance(step, bool):
        raise TypeError(f"{where}: step must be an integer, not {step!r}")
    if isinstance(step, numbers.Integral):
        value = int(step)
    else:
        try:
            f = float(step)
        except (TypeError, ValueError, OverflowError):
            raise TypeError(f"{where}: step must be an integer, not {type(step).__name__} {step!r:.40}") from None
        if not math.isfinite(f) or not f.is_integer():
            raise TypeError(f"{where}: step must be an integer, not {step!r:.40}")
        value = int(f)
    if value < 0:
        raise ValueError(f"{where}: step must be >= 0, not {_short(value)}")
    if value > STEP_MAX:
        raise ValueError(f"{where}: step {_short(value)} is out of range (at most 2**63-1, SQLite's INTEGER)")
    return value


def in_step_range(value: float) -> bool:
    """Whether a number read from a file is a usable step: finite, whole, ``0 .. STEP_MAX``."""
    return math.isfinite(value) and float(value).is_integer() and 0 <= value <= STEP_MAX


def _short(value: int) -> str:
    """An int for a message: whole when short, else its first digits and its length."""
    text = str(value)
    return text if len(text) <= 24 else f"{text[:8]}...({len(text.lstrip('-'))} digits)"
