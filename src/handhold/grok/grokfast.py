"""Grokfast (Lee et al., 2024): gradient filters that amplify the slow component of the gradient.

A lab mechanism (registered in ``mechanisms.py``): a variant's ``grokfast:`` section
(:class:`GrokfastSpec`) switches it on, and the run loop calls the filter after every backward
pass, before the optimizer step. Each filter acts element by element, so it also runs on the
batched path's stacked weights (``keep`` drops the rows of seeds that have finished).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from ..yamlconfig import StrictModel as _Strict


class GrokfastSpec(_Strict):
    """Lee et al. (2024) gradient filters: EMA (alpha 0.98, lamb 2) or MA (window 100, lamb 5)."""

    kind: Literal["ema", "ma"]
    alpha: float = Field(default=0.98, ge=0, lt=1)
    window: int = Field(default=100, ge=1)
    lamb: float | None = Field(default=None, ge=0, description="default: 2 for ema, 5 for ma")

    @property
    def amplification(self) -> float:
        return self.lamb if self.lamb is not None else (2.0 if self.kind == "ema" else 5.0)


class EMAFilter:
    """Grokfast-EMA (Lee et al., 2024): g_slow <- alpha g_slow + (1 - alpha) g; g <- g + lamb g_slow.
    g_slow starts at the first gradient, as in the authors' code."""

    def __init__(self, params: list[torch.nn.Parameter], alpha: float = 0.98, lamb: float = 2.0) -> None:
        self.params, self.alpha, self.lamb = params, alpha, lamb
        self.slow: list[torch.Tensor] | None = None

    def __call__(self) -> None:
        grads = [p.grad for p in self.params]
        if self.slow is None:
            self.slow = [g.detach().clone() for g in grads]
        else:
            torch._foreach_mul_(self.slow, self.alpha)
            torch._foreach_add_(self.slow, grads, alpha=1 - self.alpha)
        torch._foreach_add_(grads, self.slow, alpha=self.lamb)

    def keep(self, idx: torch.Tensor, params: list[torch.nn.Parameter]) -> None:
        """Stacked weights (seeds first): follow ``params``, keeping the seed rows ``idx``."""
        self.params, self.slow = params, None if self.slow is None else [t[idx].clone() for t in self.slow]


class MAFilter:
    """Grokfast-MA: g <- g + lamb * mean of the last ``window`` raw gradients (this one included),
    applied once ``window`` gradients have been seen (the authors' ``warmup``). A ring buffer and a
    running sum (recomputed exactly once per lap) keep it O(parameters) per step."""

    def __init__(self, params: list[torch.nn.Parameter], window: int = 100, lamb: float = 5.0) -> None:
        self.params, self.window, self.lamb = params, window, lamb
        self.ring = [torch.zeros((window, *p.shape), dtype=p.dtype) for p in params]
        self.sums = [torch.zeros_like(p, memory_format=torch.contiguous_format) for p in params]
        self.seen = 0

    def __call__(self) -> None:
        slot = self.seen % self.window
        for p, ring, total in zip(self.params, self.ring, self.sums):
            g = p.grad
            if slot == 0 and self.seen:  # a lap is complete: refresh the sum (no drift)
                total.copy_(ring.sum(0))
            total.add_(g - ring[slot] if self.seen >= self.window else g)
            ring[slot].copy_(g)
        self.seen += 1
        if self.seen >= self.window:
            torch._foreach_add_([p.grad for p in self.params], self.sums, alpha=self.lamb / self.window)

    def keep(self, idx: torch.Tensor, params: list[torch.nn.Parameter]) -> None:
        """Stacked weights (seeds first; the ring is (window, seeds, ...)): keep the seed rows ``idx``."""
        self.params, self.ring = params, [t[:, idx].clone() for t in self.ring]
        self.sums = [t[idx].clone() for t in self.sums]


def gradient_filter(spec: GrokfastSpec, params: list[torch.nn.Parameter]) -> EMAFilter | MAFilter:
    """The filter of ``spec`` over ``params`` (called after each backward pass)."""
    if spec.kind == "ema":
        return EMAFilter(params, spec.alpha, spec.amplification)
    return MAFilter(params, spec.window, spec.amplification)
