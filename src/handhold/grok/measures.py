"""Nanda et al.'s progress measures for modular addition, computed online from the model.

A network that groks ``a + b mod p`` represents residues by a few *key frequencies* w_k = 2πk/p:
its embedding is sparse in the Fourier basis, its MLP neurons each respond to one frequency, and
its logits are built from cos(w_k(a + b - c)). The measures (Nanda et al., 2023, section 5):

- **key frequencies**: a neuron belongs to frequency k when k's terms (cos/sin w_k a, of b, and
  their products) explain at least ``neuron_frac`` of the variance of its activation over all
  p*p inputs; a key frequency holds at least ``min_neurons`` of the neurons. (The paper reads
  them off the finished model; here they are read at every measurement, from the model as it is.)
- **restricted loss**: the loss over all p*p pairs when the logits keep only their components
  along cos(w_k(a+b)) and sin(w_k(a+b)) for the key k (plus each class's mean): low once the
  Fourier circuit alone solves the task.
- **excluded loss**: the training loss with those components removed: it rises while the
  circuit forms, showing the training set is no longer solved by memorisation alone.
- **weight norm** (total and per part) and the **Gini coefficient** of the Fourier norms of the
  embedding and of the neuron-to-logit map W_out W_U (high = sparse in frequency).
"""

from __future__ import annotations

import math

import torch

from .model import GrokTransformer
from .tasks import Task


def fourier_basis(p: int) -> torch.Tensor:
    """(p, p) orthonormal rows over the residues: constant, then cos(w_k x), sin(w_k x) for
    k = 1..p//2 (p odd), the order Nanda et al. use."""
    x = torch.arange(p, dtype=torch.float64)
    rows = [torch.ones(p, dtype=torch.float64)]
    for k in range(1, p // 2 + 1):
        rows += [torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)]
    basis = torch.stack(rows)
    return basis / basis.norm(dim=1, keepdim=True)


def freq_norms(weights: torch.Tensor) -> torch.Tensor:
    """Norm of each frequency's component of ``weights`` (p, d) along the residue axis:
    (p//2 + 1,), index 0 the constant, index k the combined cos/sin of frequency k."""
    p = weights.shape[0]
    coef = fourier_basis(p) @ weights.double()  # (p, d)
    sq = coef.pow(2).sum(1)
    return torch.cat([sq[:1], sq[1:].view(-1, 2).sum(1)]).sqrt()


def gini(values: torch.Tensor) -> float:
    """Gini coefficient of non-negative values: 0 when all equal, (n-1)/n when one holds all."""
    x = values.double().flatten().sort().values
    n, total = len(x), float(x.sum())
    if n == 0 or total <= 0:
        return 0.0
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return float(((2 * i - n - 1) * x).sum() / (n * total))


def neuron_frequencies(acts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For activations (p, p, n) over every (a, b): each neuron's dominant frequency (n,) and
    the share of its variance that frequency's terms explain (n,).

    Computed with a 2D FFT (Parseval: the energy of the real cos/sin terms of frequencies
    (k1, k2) is that of the DFT bins (+-k1, +-k2)), so it costs n p^2 log p, not n p^3.
    """
    p, n = acts.shape[0], acts.shape[-1]
    centred = acts.float() - acts.float().mean((0, 1))
    spec = torch.view_as_real(torch.fft.rfft2(centred.permute(2, 0, 1)))  # (n, p, p//2 + 1, 2)
    half = p // 2 + 1
    power = spec.pow(2).sum(-1).reshape(n, p * half).double()
    total = (centred.double().pow(2).sum((0, 1)) * p * p).clamp_min(1e-30)  # Parseval
    k = torch.arange(1, p // 2 + 1)
    both = torch.stack([k, p - k], 1)  # the two DFT bins of frequency k
    zero = torch.zeros_like(k)[:, None]
    # terms of frequency k: (k, k), (k, const) and (const, k)
    rows = torch.cat([both.repeat_interleave(2, 1), both, zero.expand(-1, 2)], 1)
    cols = torch.cat([both.repeat(1, 2), zero.expand(-1, 2), both], 1)
    # rfft keeps columns 0..p//2; |X[u, v]| = |X[-u, -v]| gives the others
    upper = cols >= half
    rows, cols = torch.where(upper, (p - rows) % p, rows), torch.where(upper, p - cols, cols)
    energy = power[:, rows * half + cols].sum(-1)  # (n, p//2)
    frac, best = (energy / total[:, None]).max(1)
    return best + 1, frac


def key_frequencies(freq: torch.Tensor, frac: torch.Tensor, neuron_frac: float, min_neurons: float) -> list[int]:
    """Frequencies that at least ``min_neurons`` of the neurons belong to (see the module doc)."""
    member = freq[frac >= neuron_frac]
    if len(member) == 0:
        return []
    counts = torch.bincount(member, minlength=int(freq.max()) + 1)
    need = max(1, math.ceil(min_neurons * len(freq)))
    return [int(k) for k in (counts >= need).nonzero().flatten()]


def sum_directions(p: int, freqs: list[int]) -> torch.Tensor:
    """(2 * len(freqs), p*p) orthonormal directions cos(w_k(a+b)), sin(w_k(a+b)) over the grid."""
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    s = (a + b).flatten().double()
    rows = []
    for k in freqs:
        rows += [torch.cos(2 * math.pi * k * s / p), torch.sin(2 * math.pi * k * s / p)]
    if not rows:
        return torch.zeros(0, p * p, dtype=torch.float64)
    d = torch.stack(rows)
    return d / d.norm(dim=1, keepdim=True)


def restricted_and_excluded_loss(logits: torch.Tensor, labels: torch.Tensor, train: torch.Tensor,
                                 freqs: list[int]) -> tuple[float, float]:
    """``logits`` (p*p, p_out) over the grid in (a, b) row-major order; ``labels`` (p*p,);
    ``train`` (p*p,) bool. Returns (restricted loss on every pair, excluded loss on train pairs)."""
    p = math.isqrt(logits.shape[0])
    x = logits.double()
    d = sum_directions(p, freqs)  # (2K, p*p)
    key_part = d.T @ (d @ x)  # the logits' components along the key directions
    mean = x.mean(0, keepdim=True)  # each class's mean over inputs (Nanda's bias correction)
    ce = torch.nn.functional.cross_entropy
    restricted = ce(mean + key_part, labels)
    excluded = ce((x - key_part)[train], labels[train])
    return float(restricted), float(excluded)


@torch.no_grad()
def progress_measures(model: GrokTransformer, task: Task, *, neuron_frac: float = 0.5,
                      min_neurons: float = 0.02, key_freqs: list[int] | None = None,
                      op: str = "add") -> tuple[dict[str, float], dict]:
    """Metrics (``grok/measure/...``) and an event payload (the per-frequency norms and the key
    frequencies, too many numbers for metric keys) for the model as it is now."""
    metrics = {f"grok/measure/weight_norm/{k}": v for k, v in model.weight_norms().items()}
    metrics["grok/measure/weight_norm"] = metrics.pop("grok/measure/weight_norm/total")
    p = task.p
    if isinstance(model, GrokTransformer):  # any task: a training-side signal (no labels)
        embed = freq_norms(model.W_E[:p])
        metrics["grok/measure/gini_embed"] = gini(embed[1:])
    if op not in task.ops or not isinstance(model, GrokTransformer):  # Fourier measures: Nanda's model
        return metrics, {}
    tokens, labels = task.grid(op)
    cache: dict = {}
    logits = model(tokens, cache=cache)
    acts = cache["mlp_post"].view(p, p, -1)
    freq, frac = neuron_frequencies(acts)
    keys = key_frequencies(freq, frac, neuron_frac, min_neurons) if key_freqs is None else list(key_freqs)
    restricted, excluded = restricted_and_excluded_loss(logits, labels, task.grid_train_mask(op).flatten(), keys)
    last = model.blocks[-1]
    logit_map = freq_norms((last.W_out @ model.W_U).T[:p])  # (d_mlp, p_out) -> residue axis first
    member = frac >= neuron_frac
    metrics.update({
        "grok/measure/restricted_loss": restricted,
        "grok/measure/excluded_loss": excluded,
        "grok/measure/gini_logit_map": gini(logit_map[1:]),
        "grok/measure/key_freqs": float(len(keys)),
        "grok/measure/neurons_in_key_freqs": float((member & torch.isin(freq, torch.tensor(keys or [-1]))).double().mean()),
    })
    top = embed[1:].argsort(descending=True)[:8] + 1
    event = {"op": op, "key_freqs": keys, "embed_top_freqs": [int(k) for k in top],
             "embed_norms": [round(float(v), 5) for v in embed],
             "neuron_counts": {str(int(k)): int(c) for k, c in zip(*torch.unique(freq[member], return_counts=True))}}
    return metrics, event
