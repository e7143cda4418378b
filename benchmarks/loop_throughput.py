"""Tokens/s of handhold's loop against a bare PyTorch loop on the same model and batches.

handhold's loop draws batches from the curriculum, encodes them, computes per-domain losses,
all-reduces its stats, logs ~10 metrics per step into the SQLite store and fires callbacks.
The bare loop gets the same batches already encoded and does only forward/backward/step.
Both are timed over the same steps (after a warm-up), alternating, in this one process.

    python benchmarks/loop_throughput.py [--steps 60] [--repeats 3] [--config configs/demo.yaml]

Target: ratio >= 0.95.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from handhold.config import load_config
from handhold.curriculum import Curriculum
from handhold.data.sources import build_sources
from handhold.models import BatchEncoder, build_model, load_tokenizer
from handhold.train.events import Callback
from handhold.train.loop import lr_lambda, row_tokens
from handhold.train.runner import start

WARMUP = 5


class Timer(Callback):
    """Wall time from the batch after warm-up to the end of the last timed step."""

    def __init__(self, last: int) -> None:
        self.last, self.t0, self.t1, self.tokens0, self.tokens1 = last, 0.0, 0.0, 0, 0

    def on_batch_start(self, state) -> None:
        if state.step == WARMUP:
            self.t0, self.tokens0 = time.perf_counter(), state.tokens

    def on_metrics(self, state) -> None:  # fires after the store has been handed the step's metrics
        if state.step == self.last - 1:
            self.t1, self.tokens1 = time.perf_counter(), state.tokens


def handhold_run(cfg, steps: int) -> float:
    timer = Timer(steps)
    with tempfile.TemporaryDirectory() as tmp:
        start(cfg, Path(tmp) / "run", progress=False, callbacks=[timer])
    return (timer.tokens1 - timer.tokens0) / (timer.t1 - timer.t0)


def bare_run(cfg, steps: int) -> float:
    tok = load_tokenizer(cfg.model)
    model = build_model(cfg.model, tok, cfg.train.seq_len, cfg.seed)
    cur = Curriculum(cfg, build_sources(cfg))
    enc = BatchEncoder(tok, cfg.train.seq_len)
    batches = [enc([item.text for item in cur.next_batch()]) for _ in range(steps)]
    o = cfg.optim
    opt = torch.optim.AdamW(model.parameters(), lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg, cfg.schedule_steps(row_tokens(cur.sources, enc))))
    model.train()
    tokens, t0 = 0, 0.0
    for step, (x, y) in enumerate(batches[: steps - 1]):
        if step == WARMUP:
            t0 = time.perf_counter()
        if step >= WARMUP:
            tokens += int((y != -100).sum())
        loss = model(input_ids=x, labels=y).loss  # HF shifts labels itself; same cost either way
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), o.grad_clip or float("inf"))
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
    return tokens / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/demo.yaml")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    cfg = load_config(args.config, [f"train.max_steps={args.steps}", f"eval.every={10 * args.steps}",
                                    f"checkpoint.every={10 * args.steps}"])
    print(f"config {args.config}: batch {cfg.train.batch_size} x seq {cfg.train.seq_len}, "
          f"{args.steps} steps ({WARMUP} warm-up), torch threads {torch.get_num_threads()}")
    ratios = []
    for r in range(args.repeats):
        bare = bare_run(cfg, args.steps)
        ours = handhold_run(cfg, args.steps)
        ratios.append(ours / bare)
        print(f"repeat {r}: bare {bare:,.0f} tok/s   handhold {ours:,.0f} tok/s   ratio {ours / bare:.3f}")
    med = statistics.median(ratios)
    print(f"median ratio handhold/bare: {med:.3f}  (target >= 0.95) {'OK' if med >= 0.95 else 'BELOW TARGET'}")
    sys.exit(0)


if __name__ == "__main__":
    main()
