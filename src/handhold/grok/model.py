"""The grokking transformers of the literature, in plain PyTorch, with a fast path for training.

- Nanda et al. (2023, "Progress measures for grokking"): 1 layer, d_model 128, 4 heads, d_mlp 512,
  ReLU, no LayerNorm, the weights initialised N(0, 1/d_model) (the unembedding N(0, 1/d_vocab)).
- Power et al. (2022): 2 layers, d_model 128, 4 heads (here with pre-LayerNorm, a final
  LayerNorm and d_mlp 512).

The input is ``a b =`` (three tokens) and only the last position's prediction is trained, so
``forward`` computes only what that prediction depends on:

- Layer 0's input at position j is ``W_E[token] + W_pos[j]``: it depends on (j, token) only, so
  its queries, keys and values are looked up in per-position tables of ``vocab`` rows instead of
  being computed for all N*3 positions (the tables cost ``3 * vocab`` rows, not ``3 * N``).
- The last layer needs its query, attention output, MLP and unembedding at the last position
  only; earlier layers run on every position (later layers attend to them).

``forward_full`` is the textbook every-position computation (the reference the tests compare
against); both return the same logits up to float rounding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    """Attention + MLP with residual connections; LayerNorms only when ``layernorm``."""

    def __init__(self, d_model: int, n_heads: int, d_mlp: int, act: str, layernorm: bool,
                 init_scale: float) -> None:
        super().__init__()
        d, s = d_model, init_scale
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.W_Q = nn.Parameter(torch.randn(d, d) * s / math.sqrt(d))  # (d_model, n_heads * d_head)
        self.W_K = nn.Parameter(torch.randn(d, d) * s / math.sqrt(d))
        self.W_V = nn.Parameter(torch.randn(d, d) * s / math.sqrt(d))
        self.W_O = nn.Parameter(torch.randn(d, d) * s / math.sqrt(d))
        self.W_in = nn.Parameter(torch.randn(d, d_mlp) * s / math.sqrt(d))
        self.b_in = nn.Parameter(torch.zeros(d_mlp))
        self.W_out = nn.Parameter(torch.randn(d_mlp, d) * s / math.sqrt(d))
        self.b_out = nn.Parameter(torch.zeros(d))
        self.ln1 = nn.LayerNorm(d) if layernorm else nn.Identity()
        self.ln2 = nn.LayerNorm(d) if layernorm else nn.Identity()
        self.act = {"relu": F.relu, "gelu": F.gelu}[act]

    def mlp(self, x: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        # 2-D products: under torch.func.vmap (batched seeds) each becomes one bmm over the seeds,
        # where a (N, 1, d) @ (d, m) product would become N * seeds tiny ones
        post = self.act(self.ln2(x).reshape(-1, x.shape[-1]) @ self.W_in + self.b_in).reshape(*x.shape[:-1], -1)
        if cache is not None:
            cache["mlp_post"] = post[:, -1]  # (N, d_mlp) at the last position
        return (post.reshape(-1, post.shape[-1]) @ self.W_out + self.b_out).reshape(x.shape)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """q (N, Tq, d) for the last Tq positions; k, v (N, T, d) -> (N, Tq, d) after W_O."""
        n, tq, d = q.shape
        t, h, e = k.shape[1], self.n_heads, self.d_head
        if tq == 1:  # the last query sees every key: no mask, no tiny batched matmuls
            scores = (q.view(n, 1, h, e) * k.view(n, t, h, e)).sum(-1) / math.sqrt(e)  # (N, T, h)
            z = (scores.softmax(1).unsqueeze(-1) * v.view(n, t, h, e)).sum(1)  # (N, h, e)
            return (z.reshape(n, d) @ self.W_O).unsqueeze(1)
        q, k, v = (x.view(n, -1, h, e).transpose(1, 2) for x in (q, k, v))  # (N, h, T, e)
        z = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return z.transpose(1, 2).reshape(n, tq, d) @ self.W_O


class GrokTransformer(nn.Module):
    """A decoder-only transformer over ``n_ctx`` tokens that predicts one of ``n_out`` classes
    from the last position. Parameter names follow Nanda et al.'s code."""

    def __init__(self, vocab: int, n_out: int, *, n_layers: int = 1, d_model: int = 128, n_heads: int = 4,
                 d_mlp: int = 512, act: str = "relu", layernorm: bool = False, init_scale: float = 1.0,
                 n_ctx: int = 3) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be a multiple of n_heads ({n_heads})")
        d, s = d_model, init_scale
        self.W_E = nn.Parameter(torch.randn(vocab, d) * s / math.sqrt(d))
        self.W_pos = nn.Parameter(torch.randn(n_ctx, d) * s / math.sqrt(d))
        self.blocks = nn.ModuleList(Block(d, n_heads, d_mlp, act, layernorm, s) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d) if layernorm else nn.Identity()
        self.W_U = nn.Parameter(torch.randn(d, n_out) * s / math.sqrt(n_out))

    def forward(self, tokens: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        """Logits (N, n_out) at the last position of ``tokens`` (N, T).

        ``cache``, if given, receives ``mlp_post`` (N, d_mlp): the last layer's MLP activations
        at the last position (what the progress measures analyse).
        """
        n, t = tokens.shape
        last = len(self.blocks) == 1
        b0 = self.blocks[0]
        # layer 0 from per-position tables: rows j * vocab + token
        table_in = (self.W_pos[:t, None, :] + self.W_E[None]).flatten(0, 1)  # (T * vocab, d)
        h = b0.ln1(table_in)
        rows = tokens + torch.arange(t, device=tokens.device) * self.W_E.shape[0]  # (N, T)
        k = F.embedding(rows, h @ b0.W_K)  # (N, T, d)
        v = F.embedding(rows, h @ b0.W_V)
        q_rows = rows[:, -1:] if last else rows
        q = F.embedding(q_rows, h @ b0.W_Q)  # (N, Tq, d)
        x = F.embedding(q_rows, table_in)  # residual stream at the query positions
        x = x + b0.attend(q, k, v)
        x = x + b0.mlp(x, cache if last else None)
        for i, block in enumerate(self.blocks[1:], start=2):
            last = i == len(self.blocks)
            h = block.ln1(x)
            hq = h[:, -1:] if last else h
            x = (x[:, -1:] if last else x) + block.attend(hq @ block.W_Q, h @ block.W_K, h @ block.W_V)
            x = x + block.mlp(x, cache if last else None)
        return self.ln_f(x[:, -1]) @ self.W_U

    def forward_full(self, tokens: torch.Tensor) -> torch.Tensor:
        """The textbook computation at every position: logits (N, T, n_out)."""
        t = tokens.shape[1]
        x = self.W_E[tokens] + self.W_pos[:t]  # (N, T, d)
        for block in self.blocks:
            h = block.ln1(x)
            x = x + block.attend(h @ block.W_Q, h @ block.W_K, h @ block.W_V)
            x = x + block.mlp(x)
        return self.ln_f(x) @ self.W_U

    def weight_norms(self) -> dict[str, float]:
        """L2 norm of all weights and per part: ``embed`` (W_E, W_pos), ``layer<i>``, ``unembed``."""
        groups: dict[str, float] = {}
        for name, p in self.named_parameters():
            part = ("embed" if name.startswith(("W_E", "W_pos")) else
                    f"layer{name.split('.')[1]}" if name.startswith("blocks.") else "unembed")
            groups[part] = groups.get(part, 0.0) + float(p.detach().pow(2).sum())
        out = {k: math.sqrt(v) for k, v in groups.items()}
        out["total"] = math.sqrt(sum(groups.values()))
        return out


def loss_fn(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy in float64, as Nanda et al. do: at the tiny losses of a memorised training
    set float32 log-softmax rounds to exactly zero gradient (the "softmax collapse")."""
    return F.cross_entropy(logits.double(), labels)
