"""Atomic checkpoints: a directory per step, written under a temporary name and renamed.

``checkpoints/step_000500/`` holds an ordinary Hugging Face model directory (config.json,
model.safetensors, tokenizer files — so chat and lm-eval can load it as is), plus
``optimizer.pt`` and ``state.json`` (step, tokens, scheduler, sampler, RNG). A kill at any
moment leaves either the previous complete checkpoint or the new one, never half of one:
only directories named ``step_*`` count, and the rename is the commit.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

CKPT_DIR = "checkpoints"
_PREFIX = "step_"


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / CKPT_DIR / f"{_PREFIX}{step:07d}"


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    root = Path(run_dir) / CKPT_DIR
    if not root.is_dir():
        return []
    out = []
    for p in root.iterdir():
        if p.is_dir() and p.name.startswith(_PREFIX) and (p / "state.json").is_file():
            try:
                out.append((int(p.name[len(_PREFIX):]), p))
            except ValueError:
                continue
    return sorted(out)


def latest_checkpoint(run_dir: Path) -> tuple[int, Path] | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def save_checkpoint(run_dir: Path, step: int, *, model: Any, tokenizer: Any, optimizer: Any,
                    state: dict[str, Any], keep: int) -> Path:
    """Write everything needed to continue at ``step`` + 1; keep the newest ``keep``."""
    final = checkpoint_dir(run_dir, step)
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    rng = {"torch": base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode("ascii")}
    with open(tmp / "state.json", "w") as fh:
        json.dump({**state, "step": step, "rng": rng}, fh)
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


def load_training_state(path: Path, optimizer: Any) -> dict[str, Any]:
    """Load optimizer and RNG state from a checkpoint; return its ``state.json``."""
    with open(path / "state.json") as fh:
        state = json.load(fh)
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    raw = base64.b64decode(state["rng"]["torch"])
    torch.set_rng_state(torch.frombuffer(bytearray(raw), dtype=torch.uint8))
    return state


def load_weights(path: Path, model: Any) -> None:
    from safetensors.torch import load_model

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
