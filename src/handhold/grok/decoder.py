"""Power et al.'s 2-layer decoder as Grokfast's own script (``ironjr/grokfast``, ``main.py``) builds it.

Power et al. (2022): "a standard decoder-only transformer with causal attention masking ... 2
layers, width 128, and 4 attention heads"; loss and accuracy on the answer only. Grokfast's script
(the reference its README's 910 / 790 iterations come from) realises it with torch's own modules,
and so does this class, module for module, so that one seed draws the same initial weights:

- token and position embeddings (``nn.Embedding``, N(0, 1); five positions, the answer's included);
- per block: LayerNorm, causal ``nn.MultiheadAttention`` (with biases), LayerNorm, MLP
  ``d -> d_mlp -> d`` with biases and GELU. As in that script the first LayerNorm's output *replaces*
  the residual stream (``x = ln_1(x); x = x + attn(x)``) and the MLP adds to it pre-normed
  (``x = x + mlp(ln_2(x))``): an unusual block, kept because the published figures come from it;
- a final LayerNorm and an untied linear head without bias over the whole vocabulary (operation
  and "=" tokens included, as in the script).

The input is the 4 tokens ``a op b =`` (or 3, ``a b =``); the logits at the last position predict
the answer.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class DecoderBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_mlp: int, act: str) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model)
        self.ln_2 = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_mlp), nn.GELU() if act == "gelu" else nn.ReLU(),
                                 nn.Linear(d_mlp, d_model))

    def forward(self, x: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """(N, T, d) -> (N, T, d), or (N, 1, d) at the last position only with ``last_only`` (the last
        block: nothing else reaches the answer). The attention runs on ``self.attn``'s own weights
        through ``scaled_dot_product_attention`` (the module's training path is far slower)."""
        x = self.ln_1(x)
        n, t, d = x.shape
        h = self.attn.num_heads
        w, b = self.attn.in_proj_weight, self.attn.in_proj_bias
        xq = x[:, -1:] if last_only else x
        q = F.linear(xq, w[:d], b[:d]).view(n, -1, h, d // h).transpose(1, 2)
        k, v = (F.linear(x, w[i * d:(i + 1) * d], b[i * d:(i + 1) * d]).view(n, t, h, d // h).transpose(1, 2)
                for i in (1, 2))
        z = F.scaled_dot_product_attention(q, k, v, is_causal=not last_only)  # the last query sees every key
        x = xq + self.attn.out_proj(z.transpose(1, 2).reshape(n, -1, d))
        return x + self.mlp(self.ln_2(x))


class PowerDecoder(nn.Module):
    """Decoder over ``vocab`` tokens predicting the next token at the last input position."""

    def __init__(self, vocab: int, *, n_layers: int = 2, d_model: int = 128, n_heads: int = 4,
                 d_mlp: int = 512, act: str = "gelu", n_ctx: int = 5) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be a multiple of n_heads ({n_heads})")
        self.token_embeddings = nn.Embedding(vocab, d_model)
        self.position_embeddings = nn.Embedding(n_ctx, d_model)
        self.layers = nn.ModuleList(DecoderBlock(d_model, n_heads, d_mlp, act) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab, bias=False)

    def forward(self, tokens: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        """Logits (N, vocab) at the last position of ``tokens`` (N, T)."""
        t = tokens.shape[1]
        h = self.token_embeddings(tokens) + self.position_embeddings.weight[:t]
        for i, layer in enumerate(self.layers):
            h = layer(h, last_only=i == len(self.layers) - 1)
        return self.head(self.ln_f(h[:, -1]))

    def forward_full(self, tokens: torch.Tensor) -> torch.Tensor:
        """The textbook computation through ``nn.MultiheadAttention`` at every position: logits
        (N, T, vocab) (the reference the tests compare ``forward`` with)."""
        t = tokens.shape[1]
        h = self.token_embeddings(tokens) + self.position_embeddings.weight[:t]
        mask = torch.triu(torch.full((t, t), -math.inf, dtype=h.dtype), diagonal=1)
        for layer in self.layers:
            x = layer.ln_1(h)
            x = x + layer.attn(x, x, x, attn_mask=mask, need_weights=False)[0]
            h = x + layer.mlp(layer.ln_2(x))
        return self.head(self.ln_f(h))

    def weight_norms(self) -> dict[str, float]:
        """L2 norm of all weights and per part, named as ``GrokTransformer.weight_norms`` names them."""
        groups: dict[str, float] = {}
        for name, p in self.named_parameters():
            part = ("embed" if name.endswith("embeddings.weight") else
                    f"layer{name.split('.')[1]}" if name.startswith("layers.") else "unembed")
            groups[part] = groups.get(part, 0.0) + float(p.detach().pow(2).sum())
        out = {k: math.sqrt(v) for k, v in groups.items()}
        out["total"] = math.sqrt(sum(groups.values()))
        return out

