"""The optimizers of the published grokking recipes, with the lab's linear warm-up.

- ``adamw``: decoupled weight decay (Nanda et al., Power et al.);
- ``adam``: weight decay as L2 in the gradient: torch's ``Adam(weight_decay=...)``, which is what
  Grokfast's script runs (its default optimizer is ``Adam``; with ``AdamW`` its flags stay at chance);
- ``sgd``: plain or with momentum;
- ``muon``: ``torch.optim.Muon`` orthogonalises the update of 2-D matrices only (it refuses other
  shapes); as its authors prescribe, it takes the hidden weight matrices, while embeddings, the
  unembedding/head, biases and LayerNorm parameters go to AdamW at ``lr``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .config import OptimSpec

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


def build_optimizer(o: OptimSpec, model: nn.Module | list[nn.Parameter]) -> tuple[Any, Any]:
    """(optimizer, warm-up scheduler) for ``model`` (or a flat parameter list; not for ``muon``)."""
    params = list(model.parameters()) if isinstance(model, nn.Module) else list(model)
    if o.name == "adamw":
        opt: Any = torch.optim.AdamW(params, lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay,
                                     foreach=True)
    elif o.name == "adam":
        opt = torch.optim.Adam(params, lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay, foreach=True)
    elif o.name == "sgd":
        opt = torch.optim.SGD(params, lr=o.lr, momentum=o.momentum or 0.0, weight_decay=o.weight_decay, foreach=True)
    else:
        if not isinstance(model, nn.Module):
            raise ValueError("optim.name 'muon' needs the model (which parameters are hidden matrices)")
        hidden, rest = muon_split(model)
        muon = torch.optim.Muon(hidden, lr=o.muon_lr, weight_decay=o.weight_decay,
                                momentum=0.95 if o.momentum is None else o.momentum)
        adamw = torch.optim.AdamW(rest, lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay, foreach=True)
        factor = warmup_factor(o)
        return Chain(adamw, muon), Chain(*(torch.optim.lr_scheduler.LambdaLR(x, factor) for x in (adamw, muon)))
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, warmup_factor(o))
