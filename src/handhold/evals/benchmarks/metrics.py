"""Per-document scores from request log-likelihoods, as OLMES / OLMo's in-loop evaluation define them.

Multiple choice ranks the choices by
- ``acc_raw``: the summed log-likelihood of the continuation,
- ``acc_per_char``: that sum divided by the continuation's length in characters (leading space
  included, the OLMES convention; olmo_eval's ``len_norm``),
- ``acc_per_token``: divided by its length in tokens,
- ``acc_per_byte``: divided by its length in UTF-8 bytes.
Ties go to the first choice (``argmax``), as in lm-eval and olmo_eval.

A generative task's gold continuation is scored as ``bpb``: bits per byte,
``-logprob / bytes * log2(e)`` per document, averaged over documents (olmo_eval's ``bpb``);
``exact_match`` is whether greedy decoding reproduces it token for token (LAMBADA's accuracy).
"""

from __future__ import annotations

import math

from .data import BenchmarkTask, Doc
from .scoring import RequestScore

MC_METRICS = ("acc_raw", "acc_per_char", "acc_per_token", "acc_per_byte")
LOG2_E = 1 / math.log(2)


def _argmax(values: list[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))


def mc_scores(doc: Doc, scores: list[RequestScore]) -> dict[str, float]:
    conts = [cont for _, cont in doc.requests]
    ll = [s.logprob for s in scores]
    ranked = {
        "acc_raw": ll,
        "acc_per_char": [x / max(len(c), 1) for x, c in zip(ll, conts)],
        "acc_per_token": [x / max(s.n_tokens, 1) for x, s in zip(ll, scores)],
        "acc_per_byte": [x / max(len(c.encode("utf-8")), 1) for x, c in zip(ll, conts)],
    }
    return {name: float(_argmax(v) == doc.gold) for name, v in ranked.items()}


def bpb_scores(task: BenchmarkTask, doc: Doc, score: RequestScore) -> dict[str, float]:
    cont = doc.requests[0][1]
    out = {"bpb": -score.logprob / max(len(cont.encode("utf-8")), 1) * LOG2_E}
    if task.greedy:
        out["exact_match"] = float(score.greedy)
    return out


def doc_scores(task: BenchmarkTask, doc: Doc, scores: list[RequestScore]) -> dict[str, float]:
    return mc_scores(doc, scores) if task.kind == "mc" else bpb_scores(task, doc, scores[0])
