"""Many seeds of one variant trained at once (stacked weights): see ``train_batched``."""

from __future__ import annotations

from .config import RunSpec


def batched_unsupported(spec: RunSpec) -> str:
    """Why ``spec`` cannot train its seeds together ("" when it can)."""
    return "the batched path is not built yet"


def train_batched(spec: RunSpec, seeds: list[int], run_dirs: list[str]) -> list:
    raise NotImplementedError(batched_unsupported(spec))
