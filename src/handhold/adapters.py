"""Prepare a loaded model for training: gradient checkpointing and LoRA adapters (peft).

With ``model.lora`` only the adapters train. ``save_pretrained`` of the wrapped model writes the
adapters alone (``adapter_model.safetensors`` + ``adapter_config.json``, which names the base
model directory), so a checkpoint is a few MB; ``transformers`` with ``peft`` installed loads
such a directory as the base model plus its adapters (chat, eval and lm-eval need no change).
A resume puts the saved adapters back into the freshly wrapped model: exact, since the frozen
base weights are read from the same directory.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from .config import ModelConfig

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


def prepare_model(model: Any, cfg: ModelConfig) -> Any:
    """Gradient checkpointing when asked, then LoRA adapters when ``cfg.lora`` is set."""
    if cfg.gradient_checkpointing:
        # non-reentrant: works when the inputs need no grad (frozen embeddings under LoRA)
        if hasattr(model, "activation_checkpointing_enable"):  # transformers 5
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if cfg.lora is None:
        return model
    from .extras import require

    require("peft", "real")
    from peft import LoraConfig, get_peft_model

    # peft asks transformers 5 a deprecated question on every step; the answer is right, the warning noise
    warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.* is deprecated", category=FutureWarning)
    lora = cfg.lora
    spec = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                      target_modules=list(lora.target_modules), task_type="CAUSAL_LM")
    try:
        return get_peft_model(model, spec)
    except ValueError as exc:  # e.g. no module matches target_modules
        from .config import ConfigError

        raise ConfigError([f"model.lora.target_modules: {exc}"]) from None


def is_adapter_checkpoint(path: Path) -> bool:
    return (Path(path) / ADAPTER_WEIGHTS).is_file()


def load_adapter_weights(path: Path, model: Any) -> None:
    """Put a checkpoint's adapter weights back into a model wrapped by :func:`prepare_model`."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    result = set_peft_model_state_dict(model, load_file(str(Path(path) / ADAPTER_WEIGHTS)))
    unexpected = getattr(result, "unexpected_keys", None) or []
    if unexpected:
        raise ValueError(f"{path}: adapter weights do not fit this model ({len(unexpected)} unexpected "
                         f"keys, e.g. {unexpected[0]})")
