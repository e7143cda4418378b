"""Held-out loss per source: the same fixed examples at every eval, so curves are comparable."""

from __future__ import annotations

import time

import torch

from ...models import BatchEncoder
from ..events import Callback
from ...losses import token_losses
from ..state import State


class HeldOutLoss(Callback):
    """Logs ``eval/loss/<source>`` for every source of the curriculum (forgetting shows too)."""

    def __init__(self) -> None:
        self.sets: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def on_fit_start(self, state: State) -> None:
        encoder = BatchEncoder(state.tokenizer, state.cfg.train.seq_len)
        for name, source in state.sources.items():
            texts = [item.text for item in source.heldout(state.cfg.eval.examples)]
            self.sets[name] = encoder(texts)

    @torch.no_grad()
    def on_eval(self, state: State) -> None:
        t0 = time.perf_counter()
        acc = state.accelerator
        rank, world, bs = acc.process_index, acc.num_processes, state.cfg.eval.batch_size
        state.model.eval()
        sums = torch.zeros(2 * len(self.sets), device=acc.device)
        for i, (x_all, y_all) in enumerate(self.sets.values()):
            x_mine, y_mine = x_all[rank::world], y_all[rank::world]
            for start in range(0, len(x_mine), bs):
                x = x_mine[start:start + bs].to(acc.device)
                y = y_mine[start:start + bs].to(acc.device)
                sums[2 * i] += token_losses(state.model, x, y).sum()
                sums[2 * i + 1] += (y != -100).sum()
        if world > 1:
            sums = acc.reduce(sums, reduction="sum")
        values = sums.tolist()
        for i, name in enumerate(self.sets):
            state.log({f"eval/loss/{name}": values[2 * i] / max(1.0, values[2 * i + 1])})
        state.log({"eval/time_s": time.perf_counter() - t0})
