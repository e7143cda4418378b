"""Named data sources: infinite, reproducible streams of training texts with a held-out split.

Procedural generators, small JSONL and text files (read here into memory), and datasets read
through ``datasets`` (:mod:`.datasets_source`, memory-mapped). Every source is addressed by a
cursor and splits train from held-out by a hash of the example (:mod:`.items`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import procedural_sources
from ..config import DatasetSource, GeneratedSource, JsonlSource, RunConfig, TextSource
from .datasets_source import open_dataset_source
from .items import DataError, Item, Source, is_heldout

__all__ = ["DataError", "Item", "Source", "GeneratorSource", "ListSource", "build_sources"]


class GeneratorSource(Source):
    """A procedural task generator; example ``i`` comes from ``Random(f"{seed}:{i}")``."""

    def __init__(self, name: str, generate: Callable[[random.Random], Any], seed: int, heldout: float) -> None:
        self.name, self._generate, self.seed, self.fraction = name, generate, seed, heldout

    def draw(self, split: str, cursor: int) -> tuple[Item, int]:
        want_heldout = split == "heldout"
        while True:
            example = self._generate(random.Random(f"{self.name}:{self.seed}:{cursor}"))
            cursor += 1
            if is_heldout(example.question, self.fraction) == want_heldout:
                return Item(self.name, example.text, example), cursor


class ListSource(Source):
    """A fixed list of texts (from a file): train order is a fresh permutation each epoch."""

    def __init__(self, name: str, texts: list[str], seed: int, heldout: float) -> None:
        self.name, self.seed = name, seed
        self.train = [t for t in texts if not is_heldout(t, heldout)]
        self.held = [t for t in texts if is_heldout(t, heldout)]
        # Tiny files: keep at least one example on each side. With a single example the two
        # splits share it (the only case where they overlap).
        if not self.train:
            self.train = [self.held.pop()] if len(self.held) > 1 else list(self.held)
        if not self.held:
            self.held = [self.train.pop()] if len(self.train) > 1 else list(self.train)
        self._perm_epoch, self._perm = -1, np.arange(0)

    def draw(self, split: str, cursor: int) -> tuple[Item, int]:
        if split == "heldout":
            return Item(self.name, self.held[cursor % len(self.held)]), cursor + 1
        epoch, pos = divmod(cursor, len(self.train))
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.train))
            self._perm_epoch = epoch
        return Item(self.name, self.train[int(self._perm[pos])]), cursor + 1


def read_jsonl(path: Path, field: str) -> list[str]:
    texts = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
            if not isinstance(record, dict) or field not in record:
                raise DataError(f"{path}:{lineno}: no field {field!r} in this record")
            if not isinstance(record[field], str):
                raise DataError(f"{path}:{lineno}: field {field!r} is not a string")
            texts.append(record[field])
    return texts


def read_text(path: Path, split: str) -> list[str]:
    body = path.read_text(encoding="utf-8")
    parts = body.split("\n\n") if split == "paragraph" else body.splitlines()
    return [p.strip() for p in parts if p.strip()]


def build_sources(cfg: RunConfig, base_dir: Path | None = None) -> dict[str, Source]:
    """Instantiate every source a stage uses (relative file paths resolve from ``base_dir``)."""
    used = {name for stage in cfg.stages for name in stage.mix} | {t.source for t in cfg.evals.tasks}
    out: dict[str, Source] = {}
    for name, sc in cfg.sources.items():
        if name not in used:
            continue
        if isinstance(sc, GeneratedSource):
            generate = procedural_sources.generator(sc.type)
            out[name] = GeneratorSource(name, generate, sc.seed + cfg.seed, sc.heldout)
            continue
        if isinstance(sc, DatasetSource):
            out[name] = open_dataset_source(name, sc, base_dir, cfg.seed)
            continue
        path = Path(sc.path)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise DataError(f"sources.{name}.path: file not found: {path}")
        try:
            if isinstance(sc, JsonlSource):
                texts = read_jsonl(path, sc.text_field)
            else:
                assert isinstance(sc, TextSource)
                texts = read_text(path, sc.split)
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
        if not texts:
            raise DataError(f"{path}: no examples in this file")
        out[name] = ListSource(name, texts, sc.seed + cfg.seed, sc.heldout)
    return out

