"""Log-likelihood scoring of (context, continuation) requests for any HF causal LM.

The same numbers OLMo's in-loop evaluation computes (``olmo_eval/metrics.py``): the sum of
log-probabilities of the continuation's tokens given ``<bos> + context``, the context and the
continuation tokenized apart, the context cut from the left when the pair is longer than the
model's window. On top of that:

- **shared contexts are encoded once**: requests with the same context (the choices of one
  question) are grouped; the context runs once, its key/value cache is copied to one row per
  continuation, and only the continuations run again (``share_context=False`` runs every pair
  whole; a test holds the two equal).
- **batched by length**: groups are sorted by length so a batch wastes little padding.
- **only the needed logits**: the LM head runs on the continuation positions alone (a 50k
  vocabulary over every context position is most of the work for a small model).

Each request also reports whether greedy decoding reproduces the continuation exactly
(argmax at every continuation position), which is LAMBADA's accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import inspect

import torch

from ..generation import context_length


@dataclass(frozen=True)
class RequestScore:
    logprob: float  # sum of log-probabilities (nats) of the continuation tokens
    n_tokens: int
    greedy: bool  # greedy decoding reproduces the continuation


def encode_requests(tokenizer: Any, requests: Sequence[tuple[str, str]], max_len: int,
                    ) -> list[tuple[list[int], list[int]]]:
    """(context ids with <bos>, continuation ids), cut so that ``len(ctx) + len(cont) <= max_len + 1``."""
    from ...models import BatchEncoder

    encoder = BatchEncoder(tokenizer, seq_len=max_len)
    prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    contexts = sorted({c for c, _ in requests})
    ctx_ids = dict(zip(contexts, encoder.encode(contexts)))  # each distinct context tokenized once
    conts = encoder.encode([c for _, c in requests])
    out = []
    for (context, _), cont in zip(requests, conts):
        ctx = ([prefix] if prefix is not None else []) + list(ctx_ids[context])
        cont = list(cont)[-max_len:] or [prefix]
        room = max_len + 1 - len(cont)
        out.append((ctx[-room:] if room > 0 else ctx[-1:], cont))
    return out


def _head(model: Any) -> tuple[Any, Any] | None:
    """(the body that returns hidden states, the LM head), or None to use full logits."""
    body = getattr(model, "base_model", None)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    cfg = getattr(model, "config", None)
    if (body is None or body is model or head is None
            or getattr(cfg, "final_logit_softcapping", None) or getattr(cfg, "logit_scale", None)):
        return None
    return body, head


def _forward(model: Any, parts: tuple[Any, Any] | None, cache: Any = None, **kw: Any) -> tuple[Any, Any]:
    """(hidden states or logits, cache); ``_project`` turns selected rows into log-probs."""
    if cache is not None:  # transformers 5 names it ``cache``; 4.x ``past_key_values``
        fn = model.forward if parts is None else parts[0].forward
        kw["cache" if "cache" in inspect.signature(fn).parameters else "past_key_values"] = cache
    if parts is None:
        out = model(**kw, return_dict=True)
        return out.logits, _cache_of(out)
    out = parts[0](**kw, return_dict=True)
    return out.last_hidden_state, _cache_of(out)


def _cache_of(out: Any) -> Any:
    return out.get("cache", None) or out.get("past_key_values", None)  # a ModelOutput is a dict


def _project(parts: tuple[Any, Any] | None, h: torch.Tensor) -> torch.Tensor:
    logits = h if parts is None else parts[1](h)
    return torch.log_softmax(logits.float(), dim=-1)


@torch.no_grad()
def score_requests(model: Any, tokenizer: Any, requests: Sequence[tuple[str, str]], *, batch_size: int = 32,
                   share_context: bool = True) -> list[RequestScore]:
    """Score every (context, continuation) pair; results in the order of ``requests``."""
    if not requests:
        return []
    max_len = context_length(model)
    encoded = encode_requests(tokenizer, requests, max_len)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, (ctx, _) in enumerate(encoded):
        groups.setdefault(tuple(ctx) if share_context else (i, *ctx), []).append(i)
    order = sorted(groups.items(), key=lambda kv: -(len(kv[0]) + max(len(encoded[i][1]) for i in kv[1])))
    parts = _head(model)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    results: list[RequestScore | None] = [None] * len(requests)
    try:
        batch: list[tuple[list[int], list[int]]] = []
        rows = 0
        for key, members in order:
            if batch and rows + len(members) > batch_size:
                _score_batch(model, parts, encoded, batch, results, device, share_context)
                batch, rows = [], 0
            batch.append((list(encoded[members[0]][0]), members))
            rows += len(members)
        if batch:
            _score_batch(model, parts, encoded, batch, results, device, share_context)
    finally:
        model.train(was_training)
    return results  # type: ignore[return-value]


def _score_batch(model: Any, parts: Any, encoded: list, batch: list, results: list, device: Any,
                 share_context: bool) -> None:
    if not share_context or all(len(ms) == 1 for _, ms in batch):  # nothing shared: one pass is cheaper
        _score_whole(model, parts, encoded, [m for _, members in batch for m in members], results, device)
        return
    # 1. each distinct context once: (G, Lc) right-padded; the last real position predicts cont[0]
    lengths = [len(ctx) for ctx, _ in batch]
    width = max(lengths)
    x = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for g, (ctx, _) in enumerate(batch):
        x[g, :len(ctx)] = torch.tensor(ctx)
        mask[g, :len(ctx)] = 1
    h, cache = _forward(model, parts, input_ids=x.to(device), attention_mask=mask.to(device), use_cache=True)
    last = h[torch.arange(len(batch)), torch.tensor(lengths) - 1]  # (G, d)
    # 2. every continuation after its context's cache: (R, Tk) with positions continuing the context
    members = [(g, i) for g, (_, ms) in enumerate(batch) for i in ms]
    conts = [encoded[i][1] for _, i in members]
    tk = max(len(c) for c in conts) - 1
    selected = [last[[g for g, _ in members]]]  # (R, d): the first token of each continuation
    rows_idx: list[int] = []
    pos_idx: list[int] = []
    owners = list(range(len(members)))
    targets = [c[0] for c in conts]
    if tk > 0:
        rows = torch.tensor([g for g, _ in members])
        cache.reorder_cache(rows.to(device))
        y = torch.zeros((len(members), tk), dtype=torch.long)
        for r, c in enumerate(conts):
            y[r, :len(c) - 1] = torch.tensor(c[:-1])
            rows_idx += [r] * (len(c) - 1)
            pos_idx += range(len(c) - 1)
            owners += [r] * (len(c) - 1)
            targets += c[1:]
        pos = torch.tensor([lengths[g] for g, _ in members]).unsqueeze(1) + torch.arange(tk)
        pos = pos.clamp(max=context_length(model) - 1)  # only padding can pass the window
        full_mask = torch.cat([mask[rows], torch.ones((len(members), tk), dtype=torch.long)], dim=1)
        h2, _ = _forward(model, parts, input_ids=y.to(device), attention_mask=full_mask.to(device),
                         position_ids=pos.to(device), cache=cache, use_cache=True)
        selected.append(h2[torch.tensor(rows_idx), torch.tensor(pos_idx)])
    sums, greedy = _sum_by_owner(parts, torch.cat(selected), targets, owners, len(members))
    for r, (_, i) in enumerate(members):
        results[i] = RequestScore(float(sums[r]), len(conts[r]), bool(greedy[r]))


def _sum_by_owner(parts: Any, h: torch.Tensor, targets: list[int], owners: list[int], n: int,
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities of ``targets`` at the selected rows ``h``, summed per owner (request), and
    whether every target was the argmax: one head projection and one softmax for the whole batch."""
    lp = _project(parts, h)  # (N, V)
    t = torch.tensor(targets, device=lp.device)
    own = torch.tensor(owners, device=lp.device)
    token_lp = lp.gather(1, t[:, None]).squeeze(1)
    misses = (lp.argmax(-1) != t).float()
    sums = torch.zeros(n, device=lp.device).index_add_(0, own, token_lp)
    missed = torch.zeros(n, device=lp.device).index_add_(0, own, misses)
    return sums.cpu(), (missed == 0).cpu()


def _score_whole(model: Any, parts: Any, encoded: list, members: list[int], results: list, device: Any) -> None:
    """Every request as one right-padded sequence ``(ctx + cont)[:-1]`` (the reference path)."""
    seqs = [encoded[i][0] + encoded[i][1] for i in members]
    width = max(len(s) for s in seqs) - 1
    x = torch.zeros((len(seqs), width), dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    rows_idx: list[int] = []
    pos_idx: list[int] = []
    owners: list[int] = []
    targets: list[int] = []
    for r, (s, i) in enumerate(zip(seqs, members)):
        x[r, :len(s) - 1] = torch.tensor(s[:-1])
        mask[r, :len(s) - 1] = 1
        cont = encoded[i][1]
        end = len(s) - 1
        rows_idx += [r] * len(cont)
        pos_idx += range(end - len(cont), end)
        owners += [r] * len(cont)
        targets += cont
    h, _ = _forward(model, parts, input_ids=x.to(device), attention_mask=mask.to(device), use_cache=False)
    sums, greedy = _sum_by_owner(parts, h[torch.tensor(rows_idx), torch.tensor(pos_idx)], targets, owners,
                                 len(members))
    for r, i in enumerate(members):
        results[i] = RequestScore(float(sums[r]), len(encoded[i][1]), bool(greedy[r]))
