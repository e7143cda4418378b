"""A curriculum as an endless ``IterableDataset``, for training loops handhold does not own.

    dataset = CurriculumDataset("curriculum.yaml", tokenizer)
    loader = DataLoader(dataset, batch_size=8, collate_fn=dataset.collate)

Rows ``{"input_ids": [...], "source": name}`` are drawn row by row by the current stage's
mixture; a stage changes when the loop's callback calls :meth:`CurriculumDataset.advance`, from
the next row drawn (a data loader draws ahead of training). The dataset keeps the sampler's state
at recent row boundaries (:meth:`CurriculumDataset.keep_states`), so a checkpoint written at the
rows training has consumed resumes on exactly the rows an uninterrupted run would draw. It owns
no stage rules: the Trainer and Lightning callbacks decide when a stage ends
(:mod:`handhold.integrations.stage_driver`).
"""

from __future__ import annotations

import os
from bisect import bisect_right
from collections import deque
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset

from ..config import RunConfig, load_config, validate_config
from ..data.chat_format import chat_formatted
from ..data.sources import build_sources
from ..models import BatchEncoder

__all__ = ["CurriculumDataset"]


def _load(config: Any, base_dir: str | os.PathLike[str] | None) -> tuple[RunConfig, Path | None]:
    if isinstance(config, RunConfig):
        return config, Path(base_dir) if base_dir else None
    if isinstance(config, dict):
        return validate_config(config), Path(base_dir) if base_dir else None
    path = Path(config)
    return load_config(path), Path(base_dir) if base_dir else path.parent


class CurriculumDataset(IterableDataset):
    """Rows ``{"input_ids": [...], "source": name}`` drawn by handhold's curriculum, forever.

    ``config``: a curriculum YAML path, a dict or a :class:`~handhold.config.RunConfig` (its
    ``stages``, ``sources``, ``seed`` and ``train.seq_len`` are used; model/optim are the
    Trainer's business). Each row is ``<bos> text <eos>`` cut to ``seq_len`` tokens.
    """

    def __init__(self, config: Any, tokenizer: Any, *, seq_len: int | None = None,
                 base_dir: str | os.PathLike[str] | None = None, rank: int | None = None,
                 world_size: int | None = None) -> None:
        super().__init__()
        self.cfg, base = _load(config, base_dir)
        self.tokenizer = tokenizer
        self.seq_len = seq_len or self.cfg.train.seq_len
        self._enc = BatchEncoder(tokenizer, self.seq_len)
        self.sources = chat_formatted(self.cfg, build_sources(self.cfg, base), tokenizer)
        self.names = list(self.sources)
        self.stages = self.cfg.stages
        self.rank, self.world = (rank or 0), (world_size or 1)
        self.stage_index = 0
        self.rng = np.random.Generator(np.random.PCG64(self.cfg.seed))
        self.cursors = {n: 0 for n in self.names}
        self.row = 0  # rows drawn from the global stream
        self.tokens = 0  # tokens in those rows
        self.switches: list[tuple[int, int]] = []  # (row, stage index): stage changes scheduled or done
        self.snapshot_every = 1  # rows between kept sampler states (keep_states)
        self._snapshots: deque[tuple[int, dict[str, Any]]] = deque(maxlen=256)
        self._rows: deque[tuple[int, int, int]] = deque(maxlen=1 << 16)  # (row, source index, tokens)
        self.skip_rows = 0  # placeholder rows for a Trainer that fast-forwards on resume
        self._mix_cache: dict[int, tuple[list[str], list[float]]] = {}

    # ------------------------------------------------------------------ drawing
    @property
    def stage(self) -> Any:
        return self.stages[min(self.stage_index, len(self.stages) - 1)]

    def _mixture(self) -> tuple[list[str], list[float]]:
        i = min(self.stage_index, len(self.stages) - 1)
        if i not in self._mix_cache:
            names = list(self.stages[i].mix)
            w = np.array([self.stages[i].mix[n] for n in names], dtype=np.float64)
            self._mix_cache[i] = (names, np.cumsum(w / w.sum()).tolist())
        return self._mix_cache[i]

    def _sampler_state(self) -> dict[str, Any]:
        return {"stage": self.stage_index, "cursors": dict(self.cursors), "rng": self.rng.bit_generator.state,
                "tokens": self.tokens}

    def _draw(self) -> dict[str, Any]:
        for at, k in self.switches:
            if at == self.row and k > self.stage_index:
                self.stage_index = k
        if self.row % self.snapshot_every == 0:
            self._snapshots.append((self.row, self._sampler_state()))
        names, cum = self._mixture()
        name = names[min(bisect_right(cum, self.rng.random()), len(names) - 1)]
        item, self.cursors[name] = self.sources[name].draw("train", self.cursors[name])
        ids = self._encode(item.text)
        self._rows.append((self.row, self.names.index(name), len(ids)))
        self.row += 1
        self.tokens += len(ids)
        return {"input_ids": ids, "source": name}

    def _encode(self, text: str) -> list[int]:
        e = self._enc
        seq = ([e.bos_id] if e.bos_id is not None else []) + e.encode([text])[0] + [e.eos_id]
        return seq[: self.seq_len]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            if self.skip_rows > 0:  # the Trainer discards these batches while it fast-forwards
                self.skip_rows -= 1
                yield {"input_ids": [self._enc.eos_id], "source": None}
                continue
            row_index = self.row
            row = self._draw()
            if row_index % self.world == self.rank:
                yield row

    # ------------------------------------------------------------------ batches
    def collate(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Pad to the longest row: ``input_ids``, ``attention_mask``, ``labels`` (-100 on padding)."""
        pad = self._enc.pad_id
        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n] = torch.as_tensor(r["input_ids"], dtype=torch.long)
            mask[i, :n] = 1
        labels = ids.masked_fill(mask == 0, -100)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    def eval_datasets(self, examples: int | None = None) -> dict[str, list[dict[str, Any]]]:
        """One held-out eval set per source (``eval_dataset=`` of the Trainer): its metrics come
        back as ``eval_<source>_loss``, stored as ``eval/loss/<source>``."""
        n = examples or self.cfg.eval.examples
        return {name: [{"input_ids": self._encode(item.text), "source": name} for item in src.heldout(n)]
                for name, src in self.sources.items()}

    # ------------------------------------------------------------------ stages and state
    def advance(self) -> int:
        """Move to the next stage from the next row drawn; returns that row."""
        self.switches.append((self.row, self.stage_index + 1))
        return self.row

    def keep_states(self, every: int, window: int = 256) -> None:
        """Keep the sampler's state every ``every`` rows (a micro-batch: where a checkpoint can
        fall), the last ``window`` of them: enough to cover what the data loader draws ahead."""
        self.snapshot_every = max(1, int(every))
        self._snapshots = deque(self._snapshots, maxlen=window)

    def rows(self, start: int, n: int) -> list[tuple[int, int]] | None:
        """(source index, tokens) of global rows ``start .. start+n-1``; None if not kept."""
        if not self._rows or self._rows[0][0] > start or self._rows[-1][0] < start + n - 1:
            return None
        first = start - self._rows[0][0]
        return [(s, t) for _, s, t in islice(self._rows, first, first + n)]

    def tokens_at(self, row: int) -> int | None:
        """Tokens in the rows before global row ``row`` (None if that far back is not kept)."""
        if row == self.row:
            return self.tokens
        for at, snap in reversed(self._snapshots):
            if at == row:
                return snap["tokens"]
        return None

    def state_at(self, row: int) -> dict[str, Any]:
        """The sampler as it was before drawing global row ``row`` (a micro-batch boundary), with
        the stage changes scheduled after it: what a checkpoint at that point must hold."""
        later = row if row == self.row else row + 1  # a snapshot is taken after the switches at its row
        if row == self.row:
            snap = self._sampler_state()
        else:
            found = [s for at, s in self._snapshots if at == row]
            if not found:
                raise RuntimeError(f"curriculum state at row {row} is no longer kept (drawn up to {self.row}); "
                                   "is dataloader_num_workers 0 and the collator dataset.collate?")
            snap = found[-1]
        return {"row": row, "sampler": snap, "switches": [[a, k] for a, k in self.switches if a >= later]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        snap = state["sampler"]
        missing = set(self.names) - set(snap["cursors"])
        if missing:
            raise ValueError(f"saved curriculum state has no cursor for sources {sorted(missing)}")
        self.row, self.tokens = int(state["row"]), int(snap["tokens"])
        self.stage_index = int(snap["stage"])
        self.cursors = {k: int(snap["cursors"][k]) for k in self.names}
        self.rng.bit_generator.state = snap["rng"]
        self.switches = [(int(a), int(k)) for a, k in state.get("switches", [])]
        self._snapshots.clear()
        self._rows.clear()
