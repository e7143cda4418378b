"""Log-likelihood scoring of (context, continuation) requests for any HF causal LM.

The numbers OLMES / oe-eval and lm-eval compute: the sum of log-probabilities of the
continuation's tokens given the context, after the tokenizer's own start tokens
(`start_tokens`), the pair split into tokens as lm-eval splits it (`encode_requests`), the
context cut from the left when the pair is longer than the model's window. On top of that:

- **shared contexts are encoded once**: the requests of one document (the choices of one
  question, or WinoGrande's two contexts) run their longest common token prefix once; its
  key/value cache is copied to one row per request and only the rest runs again
  (``share_context=False`` runs every pair whole; a test holds the two equal).
- **batched by length**: groups are sorted by length so a batch wastes little padding.
- **only the needed logits**: the LM head runs on the continuation positions alone (a 50k
  vocabulary over every context position is most of the work for a small model).

Each request also reports whether greedy decoding reproduces the continuation exactly
(argmax at every continuation position), which is LAMBADA's accuracy.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..generation import context_length


@dataclass(frozen=True)
class RequestScore:
    logprob: float  # sum of log-probabilities (nats) of the continuation tokens
    n_tokens: int
    greedy: bool  # greedy decoding reproduces the continuation


def encode_requests(tokenizer: Any, requests: Sequence[tuple[str, str]], max_len: int,
                    ) -> list[tuple[list[int], list[int]]]:
    """(context ids after the start tokens, continuation ids), cut so that ``len(ctx) + len(cont) <= max_len + 1``.

    Split the way lm-eval and oe-eval (the published OLMES numbers) split a pair: trailing spaces
    of the context move to the continuation, ``context + continuation`` is tokenized whole and
    the continuation is what follows the context's own tokens. A BPE tokenizer can merge across
    the boundary ("_'s" in WinoGrande), so tokenizing the two apart would score other tokens.
    """
    from ...models import BatchEncoder

    encoder = BatchEncoder(tokenizer, seq_len=max_len)
    lead = start_tokens(tokenizer)
    pairs = []
    for context, cont in requests:
        spaces = len(context) - len(context.rstrip(" "))
        pairs.append((context[:len(context) - spaces], context[len(context) - spaces:] + cont))
    contexts = sorted({c for c, _ in pairs})
    ctx_ids = dict(zip(contexts, encoder.encode(contexts)))  # each distinct context tokenized once
    wholes = encoder.encode([c + k for c, k in pairs])
    out = []
    for (context, _), whole in zip(pairs, wholes):
        own = list(ctx_ids[context])
        ctx = lead + own or [tokenizer.eos_token_id]  # an empty context: lm-eval's <eot>
        cont = list(whole[len(own):])[-max_len:] or [tokenizer.eos_token_id]
        room = max_len + 1 - len(cont)
        out.append((ctx[-room:] if room > 0 else ctx[-1:], cont))
    return out


def start_tokens(tokenizer: Any) -> list[int]:
    """The tokens the tokenizer itself puts before a text (``<bos>`` for Llama-style and handhold's
    character tokenizer, nothing for GPT-2 or SmolLM2): what the model saw in training, and what
    lm-eval's ``add_bos_token=True`` prefixes."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    return list(full[:full.index(plain[0])]) if plain and plain[0] in full else []


def _head(model: Any) -> tuple[Any, Any] | None:
    """(the body that returns hidden states, the LM head), or None to use full logits (a wrapper
    such as a PEFT model, or a head that rescales its logits)."""
    from transformers import PreTrainedModel

    if not isinstance(model, PreTrainedModel):
        return None
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
                   share_context: bool = True, groups: Sequence[Sequence[int]] | None = None,
                   ) -> list[RequestScore]:
    """Score every (context, continuation) pair; results in the order of ``requests``.

    ``groups`` (lists of request indices, e.g. one per document) share the forward pass of their
    longest common token prefix; by default requests with the same context form a group.
    """
    if not requests:
        return []
    max_len = context_length(model)
    encoded = encode_requests(tokenizer, requests, max_len)
    if not share_context:
        groups = [[i] for i in range(len(requests))]
    elif groups is None:
        by_context: dict[tuple[int, ...], list[int]] = {}
        for i, (ctx, _) in enumerate(encoded):
            by_context.setdefault(tuple(ctx), []).append(i)
        groups = list(by_context.values())
    order = sorted(groups, key=lambda ms: -max(len(encoded[i][0]) + len(encoded[i][1]) for i in ms))
    parts = _head(model)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    results: list[RequestScore | None] = [None] * len(requests)
    try:
        batch: list[list[int]] = []
        rows = 0
        for members in order:
            if batch and rows + len(members) > batch_size:
                _score_batch(model, parts, encoded, batch, results, device)
                batch, rows = [], 0
            batch.append(list(members))
            rows += len(members)
        if batch:
            _score_batch(model, parts, encoded, batch, results, device)
    finally:
        model.train(was_training)
    return results  # type: ignore[return-value]


def _common_prefix(seqs: list[list[int]]) -> int:
    n = min(len(s) for s in seqs)
    for k in range(n):
        if any(s[k] != seqs[0][k] for s in seqs[1:]):
            return k
    return n


def _score_batch(model: Any, parts: Any, encoded: list, batch: list[list[int]], results: list, device: Any,
                 ) -> None:
    """A batch of groups: each group's common prefix runs once (phase 1), its cache is copied to one
    row per request, and each request's remainder runs after it (phase 2)."""
    # the shared prefix stays inside every member's context, so each target's predictor is known
    prefix = [min(_common_prefix([encoded[i][0] for i in ms]), *(len(encoded[i][0]) for i in ms)) for ms in batch]
    if all(len(ms) == 1 for ms in batch) or min(prefix) == 0:  # nothing shared: one pass is cheaper
        _score_whole(model, parts, encoded, [m for ms in batch for m in ms], results, device)
        return
    # 1. each group's prefix once: (G, P) right-padded
    width = max(prefix)
    x = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for g, ms in enumerate(batch):
        x[g, :prefix[g]] = torch.tensor(encoded[ms[0]][0][:prefix[g]])
        mask[g, :prefix[g]] = 1
    h, cache = _forward(model, parts, input_ids=x.to(device), attention_mask=mask.to(device), use_cache=True)
    # 2. each request's remainder (the rest of its context, its continuation but the last token)
    members = [(g, i) for g, ms in enumerate(batch) for i in ms]
    rests = [(encoded[i][0] + encoded[i][1])[prefix[g]:-1] for g, i in members]
    tk = max(len(r) for r in rests)
    first_rows: list[int] = []  # targets predicted by the prefix's last position (phase 1)
    first_owner: list[int] = []
    first_target: list[int] = []
    rows_idx: list[int] = []  # targets predicted inside the remainder (phase 2)
    pos_idx: list[int] = []
    owners: list[int] = []
    targets: list[int] = []
    for r, (g, i) in enumerate(members):
        ctx, cont = encoded[i]
        for q in range(len(ctx), len(ctx) + len(cont)):  # absolute position of each continuation token
            if q - 1 == prefix[g] - 1:
                first_rows.append(g)
                first_owner.append(r)
                first_target.append(cont[q - len(ctx)])
            else:
                rows_idx.append(r)
                pos_idx.append(q - 1 - prefix[g])
                owners.append(r)
                targets.append(cont[q - len(ctx)])
    selected = [h[torch.tensor(first_rows, dtype=torch.long), torch.tensor([prefix[g] - 1 for g in first_rows],
                                                                           dtype=torch.long)]]
    if tk > 0:
        rows = torch.tensor([g for g, _ in members])
        cache.reorder_cache(rows.to(device))
        y = torch.zeros((len(members), tk), dtype=torch.long)
        for r, rest in enumerate(rests):
            y[r, :len(rest)] = torch.tensor(rest, dtype=torch.long)
        pos = torch.tensor([prefix[g] for g, _ in members]).unsqueeze(1) + torch.arange(tk)
        pos = pos.clamp(max=context_length(model) - 1)  # only padding can pass the window
        full_mask = torch.cat([mask[rows], torch.ones((len(members), tk), dtype=torch.long)], dim=1)
        h2, _ = _forward(model, parts, input_ids=y.to(device), attention_mask=full_mask.to(device),
                         position_ids=pos.to(device), cache=cache, use_cache=True)
        selected.append(h2[torch.tensor(rows_idx, dtype=torch.long), torch.tensor(pos_idx, dtype=torch.long)])
    sums, greedy = _sum_by_owner(parts, torch.cat(selected), first_target + targets, first_owner + owners,
                                 len(members))
    for r, (_, i) in enumerate(members):
        results[i] = RequestScore(float(sums[r]), len(encoded[i][1]), bool(greedy[r]))


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
