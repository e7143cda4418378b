"""The optimizers of the published grokking recipes, with the lab's linear warm-up.

- ``adamw``: decoupled weight decay (Nanda et al., Power et al.);
- ``adam``: weight decay as L2 in the gradient: torch's ``Adam(weight_decay=...)``, which is what
  Grokfast's script runs (its default optimizer is ``Adam``; with ``AdamW`` its flags stay at chance);
- ``sgd``: plain or with momentum;
- ``muon``: ``torch.optim.Muon`` orthogonalises the update of 2-D matrices only (it refuses other
  shapes); as its authors prescribe, it takes the hidden weight matrices, while embeddings, the
  unembedding/head, biases and LayerNorm parameters go to AdamW at ``lr``.

An optimizer is a lab mechanism chosen by ``optim.name``: adding one is a function that builds
it from :class:`OptimSpec` and one entry in :data:`OPTIMIZERS` (its name, and why the batched
path cannot stack it, if it cannot). One that needs settings of its own adds them to ``OptimSpec``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from pydantic import Field, field_validator
from torch import nn

from ..yamlconfig import StrictModel as _Strict


class OptimSpec(_Strict):
    """AdamW as in the literature: lr 1e-3, betas (0.9, 0.98), weight decay 1, 10 warm-up steps.

    ``name``: a key of :data:`OPTIMIZERS`: ``adamw`` (decoupled decay), ``adam`` (decay as L2 in
    the gradient, as Grokfast's script uses it), ``sgd`` (``momentum``, default 0), ``muon``
    (``torch.optim.Muon`` with ``muon_lr`` on the hidden weight matrices, AdamW with ``lr`` on
    embeddings, unembedding, biases and LayerNorms, as Muon's authors do; ``momentum`` default 0.95).
    """

    name: str = "adamw"
    lr: float = Field(default=1e-3, gt=0)
    momentum: float | None = Field(default=None, ge=0, lt=1, description="sgd: 0; muon: 0.95")
    muon_lr: float = Field(default=0.02, gt=0, description="muon: lr of the hidden matrices")
    warmup_from_zero: bool = Field(default=False, description="the warm-up's first update at lr 0 "
                                   "(lr * step / warmup_steps, Grokfast's schedule)")
    betas: tuple[float, float] = (0.9, 0.98)
    weight_decay: float = Field(default=1.0, ge=0)
    eps: float = Field(default=1e-8, gt=0)
    warmup_steps: int = Field(default=10, ge=0)

    @field_validator("name")
    @classmethod
    def _registered(cls, v: str) -> str:
        if v not in OPTIMIZERS:
            raise ValueError(f"expected one of {', '.join(OPTIMIZERS)} (the optimizers of optim.OPTIMIZERS)")
        return v


# parameters that are not hidden matrices even when 2-D (Muon's authors keep them on AdamW)
_EMBEDDING_NAMES = ("W_E", "W_pos", "W_U", "token_embeddings.weight", "position_embeddings.weight", "head.weight")


def muon_split(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(hidden 2-D matrices for Muon, everything else for AdamW)."""
    hidden, rest = [], []
    for name, p in model.named_parameters():
        (hidden if p.ndim == 2 and name not in _EMBEDDING_NAMES else rest).append(p)
    return hidden, rest


class Chain:
    """Several optimizers (or schedulers) stepped as one."""

    def __init__(self, *parts: Any) -> None:
        self.parts = parts

    def zero_grad(self, set_to_none: bool = True) -> None:
        for part in self.parts:
            part.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for part in self.parts:
            part.step()

    def get_last_lr(self) -> list[float]:
        return [lr for part in self.parts for lr in part.get_last_lr()]

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [g for part in self.parts for g in part.param_groups]


def warmup_factor(o: OptimSpec) -> Any:
    """lr multiplier per scheduler step: linear to 1 over ``warmup_steps`` updates, from 1/warmup_steps
    at the first update, or from 0 with ``warmup_from_zero`` (Grokfast's ``update / 10``)."""
    warm = max(1, o.warmup_steps)
    if o.warmup_from_zero and o.warmup_steps:
        return lambda s: min(1.0, s / warm)
    return lambda s: min(1.0, (s + 1) / warm)


def _adamw(o: OptimSpec, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay, foreach=True)


def _adam(o: OptimSpec, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay, foreach=True)


def _sgd(o: OptimSpec, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum or 0.0, weight_decay=o.weight_decay, foreach=True)


def _muon(o: OptimSpec, model: nn.Module) -> Chain:
    hidden, rest = muon_split(model)
    muon = torch.optim.Muon(hidden, lr=o.muon_lr, weight_decay=o.weight_decay,
                            momentum=0.95 if o.momentum is None else o.momentum)
    return Chain(_adamw(o, rest), muon)


@dataclass(frozen=True)
class Optimizer:
    """One optimizer: ``build(spec, params)`` (``needs_model``: ``build(spec, model)``, for an
    optimizer that treats parameters by their role) and why seeds cannot share it stacked."""

    build: Callable[[OptimSpec, Any], Any]
    needs_model: bool = False
    batched: str = ""  # why the batched path cannot run it ("": it can; it must act element-wise)


OPTIMIZERS: dict[str, Optimizer] = {
    "adamw": Optimizer(_adamw),
    "adam": Optimizer(_adam),
    "sgd": Optimizer(_sgd),
    "muon": Optimizer(_muon, needs_model=True, batched="Muon (orthogonalises whole matrices)"),
}


def build_optimizer(o: OptimSpec, model: nn.Module | list[nn.Parameter]) -> tuple[Any, Any]:
    """(optimizer, warm-up scheduler) for ``model`` (or a flat parameter list, for optimizers that
    do not need the model)."""
    entry = OPTIMIZERS[o.name]
    if entry.needs_model and not isinstance(model, nn.Module):
        raise ValueError(f"optim.name {o.name!r} needs the model (which parameters are hidden matrices)")
    params = list(model.parameters()) if isinstance(model, nn.Module) else list(model)
    opt = entry.build(o, model if entry.needs_model else params)
    factor = warmup_factor(o)
    if isinstance(opt, Chain):
        return opt, Chain(*(torch.optim.lr_scheduler.LambdaLR(x, factor) for x in opt.parts))
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)
