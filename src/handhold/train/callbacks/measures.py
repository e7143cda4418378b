"""Internal measures: weight norm, gradient norm and update/weight ratio, total and per layer.

Cheap enough for every few steps: norms are reductions over tensors the step touches anyway;
the update ratio needs one copy of the weights, taken only on measured steps.
"""

from __future__ import annotations

import re
from collections import defaultdict

import torch

from ..events import Callback
from ..state import State

_LAYER = re.compile(r"(?:^|\.)(?:h|layers|layer|blocks|block)\.(\d+)\.")
_WRAPPERS = ("module.", "_orig_mod.", "transformer.", "model.")


def layer_of(name: str) -> str:
    """``transformer.h.3.attn.c_attn.weight`` -> ``layer3``; ``transformer.wte.weight`` -> ``wte``."""
    m = _LAYER.search(name)
    if m:
        return f"layer{int(m.group(1))}"
    while name.startswith(_WRAPPERS):
        name = name.split(".", 1)[1]
    return name.split(".", 1)[0]


def _norms(tensors: dict[str, list[torch.Tensor]]) -> tuple[float, dict[str, float]]:
    per = {k: float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in ts])))
           for k, ts in tensors.items()}
    total = sum(v * v for v in per.values()) ** 0.5
    return total, per


class Measures(Callback):
    def __init__(self) -> None:
        self.before: dict[str, torch.Tensor] | None = None

    def _measured(self, state: State, step: int) -> bool:
        m = state.cfg.measures
        return m.enabled and step % m.every == 0

    def _grouped(self, state: State, grads: bool = False) -> dict[str, list[torch.Tensor]]:
        groups: dict[str, list[torch.Tensor]] = defaultdict(list)
        for name, p in state.accelerator.unwrap_model(state.model).named_parameters():
            t = p.grad if grads else p
            if t is not None:
                groups[layer_of(name)].append(t.detach().float())
        return groups

    def on_batch_start(self, state: State) -> None:
        if self._measured(state, state.step + 1):
            model = state.accelerator.unwrap_model(state.model)
            self.before = {n: p.detach().float().clone() for n, p in model.named_parameters()}

    def on_after_backward(self, state: State) -> None:
        if self._measured(state, state.step + 1):
            _, per = _norms(self._grouped(state, grads=True))
            state.log({f"internal/grad_norm/{k}": v for k, v in per.items()})

    def on_batch_end(self, state: State) -> None:
        if not self._measured(state, state.step):
            return
        total, per = _norms(self._grouped(state))
        state.log({"internal/weight_norm": total, **{f"internal/weight_norm/{k}": v for k, v in per.items()}})
        if self.before is not None:
            deltas: dict[str, list[torch.Tensor]] = defaultdict(list)
            olds: dict[str, list[torch.Tensor]] = defaultdict(list)
            for name, p in state.accelerator.unwrap_model(state.model).named_parameters():
                deltas[layer_of(name)].append(p.detach().float() - self.before[name])
                olds[layer_of(name)].append(self.before[name])
            d_total, d_per = _norms(deltas)
            w_total, w_per = _norms(olds)
            state.log({"internal/update_ratio": d_total / max(w_total, 1e-12),
                       **{f"internal/update_ratio/{k}": d_per[k] / max(w_per[k], 1e-12) for k in d_per}})
            self.before = None
