"""One grokking run (a variant at a seed), written into a handhold run store as it trains.

The loop, once per optimizer step::

    draw the stage's batch (the whole stage, or a minibatch)    samples += len(batch)
    forward, loss (float64), backward
    gradient hooks of the variant's mechanisms (mechanisms.py)  Grokfast: g <- g + lamb * g_slow
    optimizer step (optim.OPTIMIZERS: AdamW, Adam, SGD, Muon), warm-up schedule step
    eval (every eval.every steps and log-spaced early): train/val accuracy and loss, per part
    measure (log-spaced and every measure.every steps): progress measures
    stage exit (a rules.Decision): fixed switch point (steps or samples) or, at a check, the
        readiness rule (``until:``) or its max_steps; stage_end, then the next stage's batches
    stop: budget spent, or validation accuracy >= stop_at_val (after stop_patience steps)

Everything a run records (metrics, events, stage switches, its end and result) goes through its
:class:`~handhold.grok.seedrun.SeedRun`, shared with the batched-seeds loop (``batched.py``).

Compute is counted in *samples*: every example that goes through a training forward/backward
(evaluations and measures are not training and are not counted). A curriculum stage that trains
on a subset in full batch costs fewer samples per step, so budgets in samples keep variants at
matched compute.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

from .config import RunSpec
from .curricula import Stage, build_stages, parts
from .decoder import PowerDecoder
from .mechanisms import gradient_hooks
from .model import GrokTransformer, loss_fn
from .optim import build_optimizer
from .seedrun import RunResult, SeedRun
from .tasks import Task, make_task

# ------------------------------------------------------------------------------ schedules
def log_spaced(per_decade: int, decades: int = 8) -> set[int]:
    """Steps 1, 2, ... spaced ``per_decade`` to a factor of ten (1, 2, 3, 4, 5, 6, 8, 10, 13, ...)."""
    return {round(10 ** (i / per_decade)) for i in range(per_decade * decades + 1)} if per_decade else set()


class _Batches:
    """The stage's examples: all of them every step (full batch), or reshuffled minibatches."""

    def __init__(self, task: Task, stage: Stage, batch: int | str, gen: torch.Generator | None,
                 keep_last: bool = False) -> None:
        self.task, self.rows, self.gen, self.keep_last = task, stage.rows, gen, keep_last
        # gen None: the global generator, each pass reshuffling the last order, starting from the
        # script split's order (Grokfast's loop: train_data = train_data[:, randperm(n)] every epoch)
        self.compose = gen is None
        if self.compose and task.train_order is not None and len(task.train_order) == len(self.rows):
            self.rows = task.train_order
        self.size = len(self.rows) if batch == "full" else min(int(batch), len(self.rows))
        self.full = self.size == len(self.rows)
        self.order, self.pos = self.rows, 0
        if self.full:
            self.x, self.y = task.tokens[self.rows], task.labels[self.rows]

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.full:
            return self.x, self.y
        end = len(self.order) if self.keep_last else len(self.order) - self.size + 1
        if self.pos >= end or self.pos == 0:
            self.order = (self.order if self.compose else self.rows)[torch.randperm(len(self.rows), generator=self.gen)]
            self.pos = 0
        idx = self.order[self.pos:self.pos + self.size]
        self.pos += self.size
        return self.task.tokens[idx], self.task.labels[idx]


def task_for(spec: RunSpec, seed: int) -> Task:
    t = spec.task
    return make_task(t.ops, t.p, t.train_frac, seed if t.split_seed is None else t.split_seed,
                     format=t.format, nonzero_b=t.nonzero_b)


def build_model(spec: RunSpec, task: Task) -> GrokTransformer | PowerDecoder:
    m = spec.model
    if m.arch == "decoder":
        return PowerDecoder(task.vocab, n_layers=m.layers, d_model=m.d_model, n_heads=m.heads, d_mlp=m.d_mlp,
                            act=m.act)
    return GrokTransformer(task.vocab, task.p, n_layers=m.layers, d_model=m.d_model, n_heads=m.heads,
                           d_mlp=m.d_mlp, act=m.act, layernorm=m.layernorm, init_scale=m.init_scale)


@torch.no_grad()
def evaluate(model: GrokTransformer, task: Task, part_masks: dict[str, torch.Tensor]) -> dict[str, float]:
    """Accuracy and loss on the whole train and validation splits, and per part."""
    return eval_metrics(model(task.tokens), task, part_masks)


def eval_metrics(logits: torch.Tensor, task: Task, part_masks: dict[str, torch.Tensor]) -> dict[str, float]:
    """``evaluate``'s figures from the logits of every example (shared with the batched-seeds path)."""
    logits = logits.double()
    nll = torch.nn.functional.cross_entropy(logits, task.labels, reduction="none")
    correct = (logits.argmax(-1) == task.labels).double()
    out: dict[str, float] = {}
    for split, mask in (("train", task.is_train), ("val", ~task.is_train)):
        out[f"grok/{split}/acc"] = float(correct[mask].mean())
        out[f"grok/{split}/loss"] = float(nll[mask].mean())
        for name, part in part_masks.items():
            sel = mask & part
            if sel.any():
                out[f"grok/{split}/acc/{name}"] = float(correct[sel].mean())
                if split == "val":  # one loss per part in the trainer's naming: the stage table reads it
                    out[f"eval/loss/{name}"] = float(nll[sel].mean())
    return out


# ------------------------------------------------------------------------------- the run
def train_run(spec: RunSpec, seed: int, run_dir: str | Path, *,
              on_eval: Callable[[int, dict[str, float]], None] | None = None) -> RunResult:
    """Train ``spec`` at ``seed``, writing every signal into the run store at ``run_dir``."""
    t_start = time.perf_counter()
    torch.manual_seed(seed)
    task = task_for(spec, seed)
    model = build_model(spec, task)  # the first draws from the global generator (the split has its own)
    if spec.task.rng == "script":
        task.script_split(spec.task.train_frac)
    stages = build_stages(spec.curriculum, task, seed)
    part_masks = parts(spec.curriculum, task, seed)
    opt, sched = build_optimizer(spec.optim, model)
    hooks = gradient_hooks(spec, list(model.parameters()))  # registered mechanisms (Grokfast, ...)
    gen = None if spec.task.rng == "script" else torch.Generator().manual_seed(seed + 1)
    eval_early, measure_early = log_spaced(spec.eval.per_decade), log_spaced(spec.measure.per_decade)
    book = SeedRun(spec, seed, run_dir, task, stages, on_eval=on_eval)
    batches = _Batches(task, book.stage, spec.train.batch, gen, spec.train.keep_last)

    step = samples = 0
    book.record_eval(step, samples, evaluate(model, task, part_masks), sched.get_last_lr()[0], stop=False)
    book.record_measure(step, model)
    try:
        while True:
            x, y = batches.next()
            logits = model(x)
            loss = loss_fn(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            for hook in hooks:
                hook()
            opt.step()
            sched.step()
            step += 1
            samples += len(y)
            check = step % spec.eval.every == 0
            stage_acc = book.trained(step, float(loss.detach()), int((logits.detach().argmax(-1) == y).sum()),
                                     len(y), check)
            if not book.active:  # a non-finite loss
                break
            decision = book.stage_decision(step, samples, stage_acc)
            if check or step in eval_early or decision or book.budget_spent():
                book.record_eval(step, samples, evaluate(model, task, part_masks), sched.get_last_lr()[0])
            if step % spec.measure.every == 0 or step in measure_early:
                book.record_measure(step, model)
            if decision is not None:
                stage = book.advance(step, samples, decision)
                batches = _Batches(task, stage, spec.train.batch, gen, spec.train.keep_last)
            if book.should_stop():
                break
    except BaseException as exc:
        book.mark_failed(exc)
        book.close(step, samples, time.perf_counter() - t_start)
        raise
    if book.last_eval != step:
        book.record_eval(step, samples, evaluate(model, task, part_masks), sched.get_last_lr()[0], stop=False)
    book.record_measure(step, model)
    book.close(step, samples, time.perf_counter() - t_start)
    return book.res
