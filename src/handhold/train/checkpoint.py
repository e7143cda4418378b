"""Atomic checkpoints: a directory per step, written under a temporary name and renamed.

``checkpoints/step_000500/`` holds an ordinary Hugging Face model directory (config.json,
model.safetensors, tokenizer files — so chat and lm-eval can load it as is), plus
``optimizer.pt`` and ``state.json`` (step, tokens, scheduler, sampler, RNG). A kill at any
moment leaves either the previous complete checkpoint or the new one, never half of one:
only directories named ``step_*`` count, and the rename is the commit.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from ..runstore.layout import CKPT_DIR, checkpoint_dir, complete_checkpoints  # noqa: F401 - the layout lives there


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, directory) of the complete checkpoints, oldest first (see :mod:`handhold.runstore.layout`)."""
    return complete_checkpoints(run_dir)


def latest_checkpoint(run_dir: Path) -> tuple[int, Path] | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def rng_state() -> dict[str, Any]:
    """This process's random state: CPU, and every visible GPU (dropout draws from it)."""
    return {"cpu": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(saved: dict[str, Any]) -> None:
    torch.set_rng_state(saved["cpu"])
    if saved.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["cuda"])


def save_checkpoint(run_dir: Path, step: int, *, model: Any, tokenizer: Any, optimizer: Any,
                    state: dict[str, Any], keep: int, rng: list[dict[str, Any]],
                    scaler: Any = None) -> Path:
    """Write everything needed to continue at ``step`` + 1; keep the newest ``keep``.

    ``rng`` holds one random state per process (in rank order); ``scaler`` is the fp16 loss
    scaler, whose scale must survive a resume or the first steps after it are skipped.
    """
    final = checkpoint_dir(run_dir, step)
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save({"per_rank": rng, "scaler": None if scaler is None else scaler.state_dict()}, tmp / "rng.pt")
    with open(tmp / "state.json", "w") as fh:
        json.dump({**state, "step": step}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    for f in tmp.iterdir():  # make the content durable before the rename commits it
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    _fsync_dir(final.parent)
    for old_step, old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_training_state(path: Path, optimizer: Any, *, rank: int = 0, scaler: Any = None) -> dict[str, Any]:
    """Load optimizer, RNG (this rank's) and loss-scaler state; return ``state.json``."""
    with open(path / "state.json") as fh:
        state = json.load(fh)
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    extra = torch.load(path / "rng.pt", weights_only=True)
    per_rank = extra["per_rank"]
    set_rng_state(per_rank[rank] if rank < len(per_rank) else per_rank[0])
    if scaler is not None and extra.get("scaler") is not None:
        scaler.load_state_dict(extra["scaler"])
    return state


def load_weights(path: Path, model: Any) -> None:
    from safetensors.torch import load_model

    from ..adapters import is_adapter_checkpoint, load_adapter_weights

    if is_adapter_checkpoint(path):  # LoRA: the frozen base comes from model.path
        load_adapter_weights(path, model)
        return
    load_model(model, str(path / "model.safetensors"))


def clean_partial(run_dir: Path) -> None:
    """Remove temporary directories left by a kill during a save."""
    root = Path(run_dir) / CKPT_DIR
    if root.is_dir():
        for p in root.iterdir():
            if p.name.startswith(".tmp-"):
                shutil.rmtree(p, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
