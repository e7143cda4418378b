"""When periodic work happens: every N steps, or N times log-spaced over the run.

Log spacing puts many evaluations early, where learning curves change fastest (the grokking
and progress-measure literature logs this way), and few late.
"""

from __future__ import annotations

import numpy as np


def log_spaced_steps(count: int, total: int) -> set[int]:
    """``count`` distinct steps in [1, total], geometrically spaced (fewer if total is small).

    >>> sorted(log_spaced_steps(5, 10_000))
    [1, 10, 100, 1000, 10000]
    """
    if total < 1 or count < 1:
        return set()
    return {int(s) for s in np.unique(np.rint(np.geomspace(1, total, count)).astype(int))}


class Cadence:
    def __init__(self, every: int | None, log_spaced: int | None, total_steps: int) -> None:
        self.every = every
        self.steps = log_spaced_steps(log_spaced, total_steps) if log_spaced else set()

    def due(self, step: int) -> bool:
        return bool(self.every and step % self.every == 0) or step in self.steps
