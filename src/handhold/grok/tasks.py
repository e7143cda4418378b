"""Binary operations mod p on the tokens ``a b =``, with a seeded train/validation split.

Every pair (a, b) of residues is one example (``div`` skips b = 0). The "=" token carries the
operation (one "=" token per operation: ``p + op_index``), so a task that mixes operations keeps
the three-token sequence the literature uses and the last-position trick of the 1-layer model.
Power et al. and Grokfast write ``a op b = c`` instead (``format: "a op b ="``, see ``encode``).
Token ids ``0..p-1`` are the residues; the model predicts one of the ``p`` residues.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def _inverse(b: torch.Tensor, p: int) -> torch.Tensor:
    return torch.tensor([pow(int(x), p - 2, p) for x in b.tolist()], dtype=torch.long)  # Fermat


OPS = {
    "add": lambda a, b, p: (a + b) % p,
    "sub": lambda a, b, p: (a - b) % p,
    "mul": lambda a, b, p: (a * b) % p,
    "div": lambda a, b, p: (a * _inverse(b, p)) % p,
    "x2y2": lambda a, b, p: (a * a + b * b) % p,
    # a composite (Power et al. list it): a^2 + ab + b^2
    "x2xyy2": lambda a, b, p: (a * a + a * b + b * b) % p,
}


class TaskError(ValueError):
    """A task that cannot be built (p not prime, unknown operation...)."""


def is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n ** 0.5) + 1))


@dataclass
class Task:
    """All examples of the task; ``is_train`` marks the training split.

    Tensors have one row per example: ``tokens`` (M, 3), ``labels``, ``op`` (index into
    ``ops``), ``a``, ``b`` (M,), ``is_train`` (M,) bool.
    """

    p: int
    ops: tuple[str, ...]
    tokens: torch.Tensor
    labels: torch.Tensor
    op: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    is_train: torch.Tensor
    format: str = "a b ="

    @property
    def vocab(self) -> int:
        """Residues, then one "=" per operation ('a b ='), or "=" then one token per operation ('a op b =')."""
        return self.p + len(self.ops) + (self.format != "a b =")

    @property
    def train_idx(self) -> torch.Tensor:
        return self.is_train.nonzero().squeeze(1)

    @property
    def val_idx(self) -> torch.Tensor:
        return (~self.is_train).nonzero().squeeze(1)

    def grid(self, op: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens (p*p, 3) of every pair for ``op`` in row-major (a, b) order, and the labels."""
        a, b = torch.meshgrid(torch.arange(self.p), torch.arange(self.p), indexing="ij")
        a, b = a.flatten(), b.flatten()
        return encode(a, b, self.ops.index(op), self.p, self.format), OPS[op](a, b, self.p)

    def grid_train_mask(self, op: str) -> torch.Tensor:
        """(p, p) bool: which pairs of ``op`` are in the training split."""
        mask = torch.zeros(self.p, self.p, dtype=torch.bool)
        rows = (self.op == self.ops.index(op)) & self.is_train
        mask[self.a[rows], self.b[rows]] = True
        return mask


def encode(a: torch.Tensor, b: torch.Tensor, op: int | torch.Tensor, p: int, format: str) -> torch.Tensor:
    """Token rows for the pairs (a, b) of operation index ``op``: ``a b =`` (3 tokens, "=" is
    ``p + op``) or ``a op b =`` (4 input tokens of the 5-token ``a op b = c``: "=" is ``p``, the
    operation ``p + 1 + op``; Power et al.'s and Grokfast's layout)."""
    op = torch.as_tensor(op).expand_as(a)
    if format == "a b =":
        return torch.stack([a, b, p + op], 1)
    return torch.stack([a, p + 1 + op, b, torch.full_like(a, p)], 1)


def make_task(ops: str | list[str] | tuple[str, ...], p: int, train_frac: float, seed: int, *,
              format: str = "a b =", nonzero_b: bool = False) -> Task:
    """Every (a, b) pair of every operation; ``train_frac`` of each operation's pairs train.
    ``nonzero_b``: b in 1..p-1 only (Grokfast's x*y); ``div`` always skips b = 0.

    The split is stratified by operation and drawn from ``seed`` alone, so the same seed gives
    the same split to every variant of an experiment.

    >>> t = make_task("add", 5, 0.4, seed=0)
    >>> t.tokens.shape, int(t.is_train.sum()), t.vocab
    (torch.Size([25, 3]), 10, 6)
    """
    ops = (ops,) if isinstance(ops, str) else tuple(ops)
    if not ops:
        raise TaskError("task.ops: give at least one operation")
    for name in ops:
        if name not in OPS:
            raise TaskError(f"task.ops: unknown operation {name!r} (known: {', '.join(OPS)})")
    if len(set(ops)) != len(ops):
        raise TaskError(f"task.ops: an operation is listed twice: {list(ops)}")
    if not is_prime(p):
        raise TaskError(f"task.p: {p} is not prime (modular division and the Fourier analysis need a prime)")
    if not 0 < train_frac < 1:
        raise TaskError(f"task.train_frac: must be between 0 and 1 (got {train_frac})")
    gen = torch.Generator().manual_seed(int(seed))
    parts = {k: [] for k in ("a", "b", "op", "labels", "is_train")}
    for i, name in enumerate(ops):
        a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
        a, b = a.flatten(), b.flatten()
        if name == "div" or nonzero_b:
            a, b = a[b != 0], b[b != 0]
        n = len(a)
        n_train = max(1, min(n - 1, round(train_frac * n)))
        is_train = torch.zeros(n, dtype=torch.bool)
        is_train[torch.randperm(n, generator=gen)[:n_train]] = True
        for key, value in (("a", a), ("b", b), ("op", torch.full_like(a, i)),
                           ("labels", OPS[name](a, b, p)), ("is_train", is_train)):
            parts[key].append(value)
    cat = {k: torch.cat(v) for k, v in parts.items()}
    tokens = encode(cat["a"], cat["b"], cat["op"], p, format)
    return Task(p=p, ops=ops, tokens=tokens, labels=cat["labels"], op=cat["op"], a=cat["a"], b=cat["b"],
                is_train=cat["is_train"], format=format)
