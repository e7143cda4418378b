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

from ..runstore.layout import CKPT_DIR, checkpoint_dir, complete_checkpoints, disk_full, is_disk_full  # noqa: F401 - the layout lives there


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
    try:
        _write(tmp, step, model=model, tokenizer=tokenizer, optimizer=optimizer, state=state, rng=rng,
               scaler=scaler)
    except BaseException as exc:  # a failed save leaves no half-written directory behind
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, Exception) and (is_disk_full(exc) or _no_room(final.parent)):
            raise disk_full(run_dir, f"checkpoint {final.name} was") from None
        raise
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    _fsync_dir(final.parent)
    for old_step, old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _no_room(path: Path) -> bool:
    """Is the disk under ``path`` (nearly) full? For the libraries whose write errors do not say
    why (torch's "file write failed"), asked after the partial checkpoint is removed."""
    try:
        return shutil.disk_usage(path).free < 64 * 2**20 and _no_room_for(path)
    except OSError:
        return False


def _no_room_for(path: Path) -> bool:
    probe = path / f".tmp-space-{os.getpid()}"
    try:
        with open(probe, "wb") as fh:
            fh.write(b"\0" * 2**20)
            fh.flush()
            os.fsync(fh.fileno())
        return False
    except OSError as exc:
        return is_disk_full(exc)
    finally:
        probe.unlink(missing_ok=True)


def _write(tmp: Path, step: int, *, model: Any, tokenizer: Any, optimizer: Any, state: dict[str, Any],
           rng: list[dict[str, Any]], scaler: Any) -> None:
    """Every file of the checkpoint, durable on disk, under the temporary name ``tmp``."""
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


def load_training_state(path: Path, optimizer: Any, *, rank: int = 0, scaler: Any = None) -> dict[str, Any]:
    """Load optimizer, RNG (this rank's) and loss-scaler state; return ``state.json``."""
    with open(path / "state.json") as fh:
        state = json.load(fh)
    check_state(path, state)
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    extra = torch.load(path / "rng.pt", weights_only=True)
    per_rank = extra["per_rank"]
    set_rng_state(per_rank[rank] if rank < len(per_rank) else per_rank[0])
    if scaler is not None and extra.get("scaler") is not None:
        scaler.load_state_dict(extra["scaler"])
    return state


def check_state(path: Path, state: Any) -> None:
    """A ``ValueError`` (the checkpoint is damaged) unless ``state.json`` names the step of its
    directory and a whole, finite token count: a resume from a wrong step would skip or repeat
    training and call the run finished."""
    from ..runstore.layout import CKPT_PREFIX

    if not isinstance(state, dict):
        raise ValueError("state.json is not a JSON object")
    step, tokens = state.get("step"), state.get("tokens")
    name = path.name.removeprefix(CKPT_PREFIX)
    if type(step) is not int or not name.isdigit() or step != int(name):
        raise ValueError(f"state.json says step {step!r}, its directory is {path.name}")
    if type(tokens) is not int or tokens < 0:
        raise ValueError(f"state.json holds tokens {tokens!r}, not a whole number >= 0")
    for part in ("scheduler", "curriculum"):
        if not isinstance(state.get(part), dict):
            raise ValueError(f"state.json holds no {part} state")


class ModelMismatch(RuntimeError):
    """A sound checkpoint of another model than the one the run's config.yaml builds (the
    config was edited): not damage; ``str()`` says what differs."""


def load_weights(path: Path, model: Any) -> None:
    from safetensors.torch import load_model

    from ..adapters import is_adapter_checkpoint, load_adapter_weights

    if is_adapter_checkpoint(path):  # LoRA: the frozen base comes from model.path
        load_adapter_weights(path, model)
        return
    file = path / "model.safetensors"
    difference = model_difference(path, model)
    if difference is not None:
        raise ModelMismatch(f"{path.name} holds another model than config.yaml builds: {difference}")
    load_model(model, str(file))


def model_difference(path: Path, model: Any) -> str | None:
    """How the model ``model`` (built from config.yaml) differs from the one saved in the
    checkpoint ``path``, when the checkpoint is itself whole (its config.json fits its
    weights); ``None`` when they fit, or when the file cannot tell (damage, found later)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path / "model.safetensors"), framework="pt") as fh:
            saved = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
        with open(path / "config.json") as fh:
            saved_config = json.load(fh)
    except (OSError, ValueError, SafetensorError):
        return None
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    tied = set(ours) - set(saved)
    if saved.keys() <= ours.keys() and all(saved[k] == ours[k] for k in saved) and \
            all(k.endswith("lm_head.weight") for k in tied):
        return None
    config = model.config.to_dict() if hasattr(model, "config") else {}
    fields = [f"{k}: {saved_config[k]!r} in the checkpoint, {config[k]!r} in config.yaml"
              for k in sorted(saved_config.keys() & config.keys())
              if isinstance(saved_config[k], (int, float, str)) and saved_config[k] != config[k]
              and k not in ("transformers_version", "torch_dtype", "dtype", "_name_or_path")]
    if fields:
        return "; ".join(fields[:4]) + ". Restore the model section of config.yaml, or train a new run"
    extra = sorted(saved.keys() - ours.keys())[:1] or sorted(ours.keys() - saved.keys())[:1]
    changed = [k for k in saved.keys() & ours.keys() if saved[k] != ours[k]][:1]
    name = (changed or extra or ["?"])[0]
    return (f"tensor {name}: {saved.get(name)} in the checkpoint, {ours.get(name)} in config.yaml's model. "
            "Restore the model section of config.yaml, or train a new run")


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
