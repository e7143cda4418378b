"""Per-token losses of a causal LM: what training, held-out evaluation and choice scoring share.

``labels[b, t]`` is the token expected after ``input_ids[b, :t + 1]`` (the caller shifts);
``-100`` marks a position that is not scored (padding, the context of a choice).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def token_losses(model: Any, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-token cross-entropy (B, T), zero on padding (label -100)."""
    logits = model(input_ids=input_ids).logits  # (B, T, V)
    B, T, V = logits.shape
    loss = F.cross_entropy(logits.reshape(B * T, V).float(), labels.reshape(B * T),
                           ignore_index=-100, reduction="none")
    return loss.view(B, T)
