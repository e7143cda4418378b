"""The mean training loss per source, measured inside a Trainer that computes only the batch mean.

A forward hook on the model takes the per-row token losses of training forwards on logging steps
and adds them to the source each row was drawn from (the curriculum dataset remembers the source
and length of every recent row). It needs the batches to line up with the dataset's rows: the
collator ``dataset.collate``, no shuffling, one process; otherwise it switches itself off and
says why (:attr:`SourceLosses.off`).
"""

from __future__ import annotations

from typing import Any

import torch

from .dataset import CurriculumDataset

__all__ = ["SourceLosses"]


class SourceLosses:
    """``attach(model)``, then :meth:`take` after each optimizer step: ``{"train/loss/<source>": mean}``.

    ``logging_steps``: measure only on steps that are multiples of it (a ratio below 1: every
    step); ``micro``: micro-batches already trained (a resumed run).
    """

    def __init__(self, dataset: CurriculumDataset, *, grad_accum: int, logging_steps: Any, micro: int = 0) -> None:
        self.dataset = dataset
        self.grad_accum = grad_accum
        self.logging_steps = logging_steps
        self.micro = micro
        self.off: str | None = None  # why the losses are not measured
        self._sums: dict[int, list[float]] = {}  # source index -> [loss sum, tokens]
        self._hook: Any = None

    def attach(self, model: Any) -> None:
        self._hook = model.register_forward_hook(self._on_forward, with_kwargs=True)

    def detach(self) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    def take(self) -> dict[str, float]:
        """The means since the last call (empty off logging steps)."""
        names = self.dataset.names
        out = {f"train/loss/{names[s]}": tot / n for s, (tot, n) in self._sums.items() if n}
        self._sums = {}
        return out

    def _on_forward(self, module: Any, args: Any, kwargs: dict[str, Any], output: Any) -> None:
        if not module.training:
            return
        m = self.micro
        self.micro += 1
        if self.off:
            return
        step = m // self.grad_accum + 1  # the optimizer step this micro-batch belongs to
        every = self.logging_steps
        if isinstance(every, (int, float)) and every >= 1 and step % int(every):
            return
        labels, logits = kwargs.get("labels"), getattr(output, "logits", None)
        if labels is None or logits is None:
            self.off = "the model was called without labels"
            return
        B = labels.shape[0]
        rows = self.dataset.rows(m * B, B)
        with torch.no_grad():
            tgt = labels[:, 1:]
            counts = (tgt != -100).sum(1)
            if rows is None or [t - 1 for _, t in rows] != counts.tolist():
                self.off = ("batches do not line up with the curriculum's rows (use data_collator=dataset.collate, "
                            "no shuffling sampler)")
                return
            V = logits.shape[-1]
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V).float(), tgt.reshape(-1),
                                                     ignore_index=-100, reduction="none").view(B, -1).sum(1)
            for (src, _), s, c in zip(rows, loss.tolist(), counts.tolist()):
                acc = self._sums.setdefault(src, [0.0, 0])
                acc[0] += s
                acc[1] += c
