"""The layout of a run directory, in one place (train, resume, chat and eval all read it here).

::

    RUN_DIR/
      run.db                      the run store (every metric, event, sample)
      config.yaml                 the resolved config the run trains with
      checkpoints/step_0000500/   one complete checkpoint per kept step (see CHECKPOINT_FILES)

A checkpoint is written under a temporary name and renamed when complete (``train/checkpoint``);
a ``step_*`` directory that lacks one of CHECKPOINT_FILES, or holds an empty one, is damaged
(a file deleted or lost later) and never counts as complete.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

DB_NAME = "run.db"
CONFIG_NAME = "config.yaml"
CKPT_DIR = "checkpoints"
CKPT_PREFIX = "step_"
DAMAGED_PREFIX = "damaged-"  # a checkpoint resume could not load, set aside (not deleted)
# what makes a checkpoint complete: a Hugging Face model directory plus the training state
MODEL_FILES = ("config.json", "model.safetensors")  # enough to talk to or evaluate
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")  # a LoRA checkpoint's model part
CHECKPOINT_FILES = (*MODEL_FILES, "optimizer.pt", "rng.pt", "state.json")  # enough to resume
_STEP = re.compile(rf"^{CKPT_PREFIX}(\d{{1,12}})$")


def db_path(run_dir: str | os.PathLike[str]) -> Path:
    return Path(run_dir) / DB_NAME


def config_path(run_dir: str | os.PathLike[str]) -> Path:
    return Path(run_dir) / CONFIG_NAME


def checkpoint_dir(run_dir: str | os.PathLike[str], step: int) -> Path:
    return Path(run_dir) / CKPT_DIR / f"{CKPT_PREFIX}{step:07d}"


def checkpoint_problem(path: Path, files: tuple[str, ...] = CHECKPOINT_FILES) -> str | None:
    """Why the checkpoint directory ``path`` is not complete, or ``None`` when it is
    (``files=MODEL_FILES``: complete as a model, for chat and eval). A LoRA checkpoint (it holds
    ``adapter_config.json``) counts its adapter files in place of the model's."""
    if (path / ADAPTER_FILES[0]).is_file():
        files = tuple(name for name in files if name not in MODEL_FILES)
        files = (*ADAPTER_FILES, *files)
    for name in files:
        f = path / name
        if not f.is_file():
            return f"{name} is missing"
        if f.stat().st_size == 0:
            return f"{name} is empty"
    return None


def step_dirs(run_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """Every ``checkpoints/step_*`` directory, complete or not, in step order."""
    root = Path(run_dir) / CKPT_DIR
    if not root.is_dir():
        return []
    out = []
    for p in root.iterdir():
        m = _STEP.match(p.name)
        if m and p.is_dir():
            out.append((int(m.group(1)), p))
    return sorted(out)


def complete_checkpoints(run_dir: str | os.PathLike[str],
                         files: tuple[str, ...] = CHECKPOINT_FILES) -> list[tuple[int, Path]]:
    """(step, directory) of every complete checkpoint, in step order."""
    return [(s, p) for s, p in step_dirs(run_dir) if checkpoint_problem(p, files) is None]


def set_aside(path: Path) -> Path:
    """Rename a damaged checkpoint out of the way (kept for a post-mortem, never deleted)."""
    target = path.with_name(DAMAGED_PREFIX + path.name)
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{DAMAGED_PREFIX}{n}-{path.name}")
    os.rename(path, target)
    return target


class CheckpointError(RuntimeError):
    """A checkpoint directory that cannot be loaded; ``str()`` is one line naming it."""


def load_model(path: Path) -> tuple[object, object]:
    """(model, tokenizer) of a checkpoint directory, offline; a damaged or tampered checkpoint
    (a config.json that no longer fits the weights, a missing file) is a ``CheckpointError``.

    Every tensor of ``model.safetensors`` must be used and every parameter of the model filled
    from it: a config.json edited to fewer layers would otherwise drop weights silently, and
    one edited to more would leave layers at random.
    """
    from safetensors import SafetensorError  # a truncated or garbled model.safetensors
    from transformers import AutoModelForCausalLM, AutoTokenizer

    problem = checkpoint_problem(path) if (path / "state.json").exists() else None
    if problem:
        raise CheckpointError(f"{path}: cannot load this checkpoint ({problem})")
    whole = (path / MODEL_FILES[1]).is_file() and not (path / ADAPTER_FILES[0]).is_file()
    try:
        if whole:
            model, info = AutoModelForCausalLM.from_pretrained(path, local_files_only=True,
                                                               output_loading_info=True)
        else:  # LoRA adapters over a base model named in adapter_config.json
            model, info = AutoModelForCausalLM.from_pretrained(path, local_files_only=True), {}
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, AttributeError, SafetensorError) as exc:
        text = " ".join(str(exc).split())
        if "mismatched" in text or "size mismatch" in text:
            text = "its config.json does not fit its weights (tensor sizes differ)"
        raise CheckpointError(f"{path}: cannot load this checkpoint ({text[:300]})") from None
    misfit = _misfit(info)
    if misfit:
        raise CheckpointError(f"{path}: cannot load this checkpoint (its config.json does not fit its "
                              f"weights: {misfit})")
    return model, tokenizer


def _misfit(info: dict) -> str | None:
    """What ``from_pretrained``'s loading info says did not fit, in a few words, or ``None``."""
    parts = []
    for field, what in (("missing_keys", "parameters not in the file"),
                        ("unexpected_keys", "tensors of the file unused"),
                        ("mismatched_keys", "tensors of another size")):
        keys = [k if isinstance(k, str) else str(k[0]) for k in info.get(field) or ()]
        if keys:
            parts.append(f"{len(keys)} {what}, e.g. {keys[0]}")
    return "; ".join(parts) or None


class DiskFull(OSError):
    """The disk holding a run has no space left; ``str()`` is one line naming it and what to do."""

    def __str__(self) -> str:
        return str(self.strerror)


def disk_full(path: str | os.PathLike[str], what: str) -> DiskFull:
    """The error for ``what`` (a checkpoint, the run store) not written under ``path`` for want of
    space: names the mount point, the run, and how to continue."""
    mount = Path(os.path.abspath(path))
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    run = Path(path)
    return DiskFull(errno.ENOSPC, f"no space left on the disk mounted at {mount} (it holds {run}): {what} "
                                  f"not written; free space there, then `handhold resume {run}`")


def is_disk_full(exc: BaseException) -> bool:
    """Did ``exc`` (an OSError, or a library's own error: safetensors, torch, SQLite) come from a
    full disk or an exhausted quota?"""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return any(sign in text for sign in ("no space left", "disk is full", "disk quota exceeded",
                                         "database or disk is full"))
