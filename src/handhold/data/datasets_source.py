"""Sources over a Hugging Face ``datasets`` dataset: a ``save_to_disk`` folder, Parquet, Arrow or
JSON files (config: :class:`handhold.config.DatasetSource`).

The rows are read from memory-mapped Arrow by index rather than streamed (``IterableDataset``).
Memory-mapping keeps data larger than memory on disk (the OS pages in the rows that are read),
and random access is what makes exact resume free: the cursor counts rows walked in a seeded
per-epoch permutation, so a checkpoint holds one integer per source and a resumed run reads the
very same rows without replaying anything. A stream could only resume by re-reading up to its
position (or by shard offsets, which lose the shuffle buffer). Parquet and JSON are converted to
Arrow once, by ``datasets``, in its cache; ``save_to_disk`` folders and Arrow files are mapped
where they are.

Held-out rows are the ones whose example hashes into the held-out share (the rule of every
source), decided as rows are read, so opening a dataset reads no more than its first rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..config import DatasetSource
from ..dataset_files import INSTALL, data_files, disk_split, full_path, problems
from ..yamlconfig import dotted
from .items import DataError, Item, Source, is_heldout


class Example:
    """A row as a source yields it: its text, its split key and, for chat rows, its messages."""

    __slots__ = ("key", "text", "messages")

    def __init__(self, text: str, key: str, messages: list[dict[str, str]] | None = None) -> None:
        self.text, self.key, self.messages = text, key, messages


class RowsSource(Source):
    """Rows ``0 .. n-1`` read by index through ``read(i) -> Example | None`` (None: a row to skip).

    Train order: a permutation of all rows, fresh each epoch (seeded by ``seed`` and the epoch),
    in which held-out rows are passed over; held-out order: the rows in their stored order. A
    cursor counts rows walked, so it is all a checkpoint needs. As for small files, a dataset
    whose rows all fall on one side gives its last row to the other (one row: both share it).
    """

    def __init__(self, name: str, n: int, read: Any, seed: int, heldout: float, where: str) -> None:
        self.name, self.n, self._read, self.seed, self.fraction = name, n, read, seed, heldout
        self._perm_epoch, self._perm = -1, np.arange(0, dtype=np.int64)
        self._moved: int | None = None  # a row given to the other side (one side was empty)
        self._shared = False  # a single usable row: both sides read it
        if n == 0:
            raise DataError(f"{where}: no rows")
        self._balance(where)

    def _balance(self, where: str) -> None:
        """Find a usable row on each side, reading from the first row on (a few rows, unless a
        side is empty: then every row once)."""
        sides: set[bool] = set()
        usable, last = 0, -1
        for i in range(self.n):
            example = self._read(i)
            if example is None:
                continue
            usable, last = usable + 1, i
            sides.add(is_heldout(example.key, self.fraction))
            if len(sides) == 2:
                return
        if not usable:
            raise DataError(f"{where}: no examples (the field is empty in every row)")
        if usable == 1:
            self._shared = True
        else:
            self._moved = last

    def _held(self, i: int, example: Example) -> bool:
        held = is_heldout(example.key, self.fraction)
        return not held if i == self._moved else held

    def _row(self, split: str, cursor: int) -> int:
        if split == "heldout":
            return cursor % self.n
        epoch, pos = divmod(cursor, self.n)
        if epoch != self._perm_epoch:
            # the smallest index type keeps a permutation of 100M rows at 400 MB
            dtype = np.uint32 if self.n < 2**32 else np.int64
            perm = np.arange(self.n, dtype=dtype)
            np.random.default_rng([self.seed, epoch]).shuffle(perm)
            self._perm, self._perm_epoch = perm, epoch
        return int(self._perm[pos])

    def draw(self, split: str, cursor: int) -> tuple[Item, int]:
        want = split == "heldout"
        while True:
            i = self._row(split, cursor)
            cursor += 1
            example = self._read(i)
            if example is not None and (self._shared or self._held(i, example) == want):
                return Item(self.name, example.text, example.messages), cursor


# ----------------------------------------------------------------- reading rows
def _text_row(value: Any) -> Example | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return Example(value, value)


def _chat_row(value: Any) -> Example | None:
    """A conversation: each message's role and content, nothing else (the template's input)."""
    if not isinstance(value, list) or not value:
        return None
    messages = []
    for m in value:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            return None
        messages.append({"role": m["role"], "content": m["content"]})
    plain = "\n".join(f"{m['role']}: {m['content']}" for m in messages)  # before the template renders it
    return Example(plain, json.dumps(messages, ensure_ascii=False, sort_keys=True), messages)


@contextmanager
def _quiet_datasets() -> Iterator[Any]:
    """``datasets`` without its progress bars and info logs (a Parquet conversion prints both)."""
    try:
        import datasets
    except ImportError:
        raise DataError(f"dataset sources read through the datasets package: {INSTALL}") from None
    from datasets import utils as ds_utils

    bars_off, level = ds_utils.are_progress_bars_disabled(), ds_utils.logging.get_verbosity()
    ds_utils.disable_progress_bars()
    ds_utils.logging.set_verbosity_error()
    try:
        yield datasets
    finally:
        ds_utils.logging.set_verbosity(level)
        if not bars_off:
            ds_utils.enable_progress_bars()


def load_rows(spec: DatasetSource, path: Path) -> Any:
    """The ``datasets.Dataset`` of the source's rows, memory-mapped, with only its field's column."""
    field = spec.messages_field if spec.format == "chat" else spec.text_field
    with _quiet_datasets() as datasets:
        if spec.type == "hf_dataset":
            folder, _ = disk_split(path, spec.split)
            ds = datasets.load_from_disk(str(folder))
        else:
            files = [str(f) for f in data_files(spec.type, path)]
            if spec.type == "arrow":
                ds = datasets.concatenate_datasets([datasets.Dataset.from_file(f) for f in files])
            else:
                read = datasets.Dataset.from_parquet if spec.type == "parquet" else datasets.Dataset.from_json
                ds = read(files, cache_dir=spec.cache_dir)
    return ds.select_columns([field])


def open_dataset_source(name: str, spec: DatasetSource, base_dir: Path | None, run_seed: int) -> RowsSource:
    """The source ``name`` of a run config; a problem with its files is a ``DataError`` naming the key."""
    found = problems(spec, base_dir)
    if found:
        key, msg = found[0]
        raise DataError(f"{dotted(('sources', name, *key))}: {msg}")
    path = full_path(spec, base_dir)
    try:
        ds = load_rows(spec, path)
    except (OSError, ValueError, TypeError) as exc:  # a file datasets cannot parse
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"sources.{name}.path: {spec.path}: cannot be read as {spec.type} ({reason[:200]})") from None
    read = RowReader(ds, spec.messages_field if spec.format == "chat" else spec.text_field, spec.format == "chat")
    return RowsSource(name, len(ds), read, spec.seed + run_seed, spec.heldout, f"sources.{name} ({spec.path})")


class RowReader:
    """Row ``i`` of a dataset as an :class:`Example` (None if its field is empty); picklable, as
    a memory-mapped dataset is, for data loaders that send their dataset to worker processes."""

    def __init__(self, ds: Any, field: str, chat: bool) -> None:
        self.ds, self.field, self.chat = ds, field, chat
        self._column: Any = None

    def _value(self, i: int) -> Any:
        if self._column is None:
            # the Arrow column itself: a scalar from it costs a few microseconds, a row through
            # the dataset's formatting tens; an index mapping (none in what load_rows opens)
            # goes through the dataset
            self._column = self.ds.data.column(self.field) if getattr(self.ds, "_indices", None) is None else False
        return self.ds[i][self.field] if self._column is False else self._column[i].as_py()

    def __call__(self, i: int) -> Example | None:
        value = self._value(i)
        return _chat_row(value) if self.chat else _text_row(value)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_column": None}  # the dataset pickles by its files; a column would copy
