"""Batched greedy generation and choice log-likelihoods, for evals, probes and chat.

Prompts are sorted by length and left-padded in batches, so one ``generate`` call serves a whole
eval task; the result is the same as generating each prompt alone (tested). Room for new
tokens is capped by the model's context length: a prompt never runs past the position table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..losses import token_losses
from ..models import BatchEncoder


def context_length(model: Any) -> int:
    cfg = model.config
    for name in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
        value = getattr(cfg, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


def _prompt_ids(tokenizer: Any, prompts: Sequence[str], limit: int) -> list[list[int]]:
    encoder = BatchEncoder(tokenizer, seq_len=limit)
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    # keep the end of an over-long prompt: that is where the question is
    return [(bos + ids)[-limit:] for ids in encoder.encode(list(prompts))]


@torch.no_grad()
def generate(model: Any, tokenizer: Any, prompts: Sequence[str], *, max_new_tokens: int,
             stop_at_newline: bool = False, batch_size: int = 64, max_prompt_tokens: int | None = None,
             ) -> list[str]:
    """Greedy continuations of ``prompts`` (special tokens removed)."""
    if not prompts:
        return []
    ctx = context_length(model)
    limit = min(max_prompt_tokens or ctx - 1, ctx - 1)
    ids = _prompt_ids(tokenizer, prompts, limit)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    stops = [tokenizer.eos_token_id]
    newline = tokenizer.convert_tokens_to_ids("\n") if stop_at_newline else None
    if newline is not None and newline != tokenizer.unk_token_id:
        stops.append(newline)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    was_training = model.training
    model.eval()
    out: list[str] = [""] * len(ids)
    try:
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            width = max(len(ids[i]) for i in rows)
            x = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, i in enumerate(rows):
                x[r, width - len(ids[i]):] = torch.tensor(ids[i])
                mask[r, width - len(ids[i]):] = 1
            room = min(max_new_tokens, ctx - width)
            if room <= 0:
                continue
            device = next(model.parameters()).device
            y = model.generate(input_ids=x.to(device), attention_mask=mask.to(device), max_new_tokens=room,
                               do_sample=False, eos_token_id=stops, pad_token_id=pad)
            texts = tokenizer.batch_decode(y[:, width:].cpu(), skip_special_tokens=True)
            for r, i in enumerate(rows):
                out[i] = texts[r].split("\n", 1)[0] if stop_at_newline else texts[r]
    finally:
        model.train(was_training)
    return out


@torch.no_grad()
def choice_logprobs(model: Any, tokenizer: Any, contexts: Sequence[str],
                    choices: Sequence[Sequence[str]], *, batch_size: int = 64) -> list[list[float]]:
    """Sum of log-probabilities of each choice given its context (benchmark-style MC scoring)."""
    ctx_len = context_length(model)
    encoder = BatchEncoder(tokenizer, seq_len=ctx_len)
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    rows: list[tuple[int, list[int], int]] = []  # (example index, token ids, continuation length)
    for i, (context, options) in enumerate(zip(contexts, choices)):
        head = bos + encoder.encode([context])[0]
        for cont in encoder.encode(list(options)):
            seq = (head + cont)[-(ctx_len + 1):]
            rows.append((i, seq, min(len(cont), len(seq) - 1)))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    scores: list[float] = []
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            width = max(len(seq) for _, seq, _ in chunk) - 1
            x = torch.full((len(chunk), width), pad, dtype=torch.long)
            y = torch.full((len(chunk), width), -100, dtype=torch.long)
            for r, (_, seq, n_cont) in enumerate(chunk):
                x[r, :len(seq) - 1] = torch.tensor(seq[:-1])
                y[r, len(seq) - 1 - n_cont:len(seq) - 1] = torch.tensor(seq[-n_cont:])
            losses = token_losses(model, x.to(device), y.to(device))
            scores.extend((-losses.sum(1)).tolist())
    finally:
        model.train(was_training)
    out: list[list[float]] = [[] for _ in contexts]
    for (i, _, _), s in zip(rows, scores):
        out[i].append(s)
    return out
