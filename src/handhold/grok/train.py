"""One grokking run (a variant at a seed), written into a handhold run store as it trains.

The loop, once per optimizer step::

    draw the stage's batch (the whole stage, or a minibatch)    samples += len(batch)
    forward, loss (float64), backward
    Grokfast filter (if any) rewrites the gradients              g <- g + lamb * g_slow
    optimizer step (AdamW, Adam, SGD or Muon: optim.py), warm-up schedule step
    eval (every eval.every steps and log-spaced early): train/val accuracy and loss, per part
    measure (log-spaced and every measure.every steps): progress measures
    stage exit: fixed switch point (steps or samples) or a readiness rule (``until:``, handhold.rules)
    stop: budget spent, or validation accuracy >= stop_at_val (after stop_patience steps)

Compute is counted in *samples*: every example that goes through a training forward/backward
(evaluations and measures are not training and are not counted). A curriculum stage that trains
on a subset in full batch costs fewer samples per step, so budgets in samples keep variants at
matched compute.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..phases.grokking import ACC_LEVEL  # the one definition of memorized / generalized
from ..rules import cap, detector, rule_from_until
from ..runstore.live import Run
from .config import GrokfastSpec, RunSpec
from .curricula import Stage, build_stages, parts
from .decoder import PowerDecoder
from .measures import progress_measures
from .model import GrokTransformer, loss_fn
from .optim import build_optimizer
from .tasks import Task, make_task

TARGETS = {"val95": 0.95, "val99": ACC_LEVEL}
MEMORIZED = ACC_LEVEL  # train accuracy that counts as "memorised" (handhold analyze uses the same)


@dataclass
class RunResult:
    """What the comparison table needs from one run (also kept in the store's meta ``grok``)."""

    variant: str
    seed: int
    steps: int = 0
    samples: int = 0
    seconds: float = 0.0
    stop_reason: str = ""
    steps_to: dict[str, int | None] = field(default_factory=lambda: {k: None for k in TARGETS})
    samples_to: dict[str, int | None] = field(default_factory=lambda: {k: None for k in TARGETS})
    memorization_step: int | None = None
    memorization_samples: int | None = None
    final_train_acc: float | None = None
    final_val_acc: float | None = None
    switches: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------- Grokfast filters
class EMAFilter:
    """Grokfast-EMA (Lee et al., 2024): g_slow <- alpha g_slow + (1 - alpha) g; g <- g + lamb g_slow.
    g_slow starts at the first gradient, as in the authors' code."""

    def __init__(self, params: list[torch.nn.Parameter], alpha: float = 0.98, lamb: float = 2.0) -> None:
        self.params, self.alpha, self.lamb = params, alpha, lamb
        self.slow: list[torch.Tensor] | None = None

    def __call__(self) -> None:
        grads = [p.grad for p in self.params]
        if self.slow is None:
            self.slow = [g.detach().clone() for g in grads]
        else:
            torch._foreach_mul_(self.slow, self.alpha)
            torch._foreach_add_(self.slow, grads, alpha=1 - self.alpha)
        torch._foreach_add_(grads, self.slow, alpha=self.lamb)


class MAFilter:
    """Grokfast-MA: g <- g + lamb * mean of the last ``window`` raw gradients (this one included),
    applied once ``window`` gradients have been seen (the authors' ``warmup``). A ring buffer and a
    running sum (recomputed exactly once per lap) keep it O(parameters) per step."""

    def __init__(self, params: list[torch.nn.Parameter], window: int = 100, lamb: float = 5.0) -> None:
        self.params, self.window, self.lamb = params, window, lamb
        self.ring = [torch.zeros((window, *p.shape), dtype=p.dtype) for p in params]
        self.sums = [torch.zeros_like(p, memory_format=torch.contiguous_format) for p in params]
        self.seen = 0

    def __call__(self) -> None:
        slot = self.seen % self.window
        for p, ring, total in zip(self.params, self.ring, self.sums):
            g = p.grad
            if slot == 0 and self.seen:  # a lap is complete: refresh the sum (no drift)
                total.copy_(ring.sum(0))
            total.add_(g - ring[slot] if self.seen >= self.window else g)
            ring[slot].copy_(g)
        self.seen += 1
        if self.seen >= self.window:
            torch._foreach_add_([p.grad for p in self.params], self.sums, alpha=self.lamb / self.window)


def grad_filter(spec: GrokfastSpec | None, params: list[torch.nn.Parameter]) -> Callable[[], None] | None:
    if spec is None:
        return None
    if spec.kind == "ema":
        return EMAFilter(params, spec.alpha, spec.amplification)
    return MAFilter(params, spec.window, spec.amplification)


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
    params = list(model.parameters())
    opt, sched = build_optimizer(spec.optim, model)
    gfilter = grad_filter(spec.grokfast, params)
    gen = None if spec.task.rng == "script" else torch.Generator().manual_seed(seed + 1)
    eval_early, measure_early = log_spaced(spec.eval.per_decade), log_spaced(spec.measure.per_decade)
    switch = spec.curriculum.switch if spec.curriculum else None
    budget, tr = spec.train.budget, spec.train
    res = RunResult(variant=spec.variant, seed=seed)

    store = Run(run_dir, config=spec, name=f"{spec.experiment}/{spec.variant}/s{seed}",
                stages=[s.name for s in stages], overwrite=True)  # the one writer (handhold.runstore.live)
    store.set_meta(grok_spec=spec.model_dump(mode="json"), grok_seed=seed,
                   grok_examples={"train": int(task.is_train.sum()), "val": int((~task.is_train).sum())})
    rule = rule_from_until(switch.until) if switch is not None and switch.until is not None else None

    step = samples = 0
    stage_i, stage_step0 = 0, 0
    seen_correct, seen_n = 0, 0
    ready = detector(rule) if rule is not None else None
    last_eval, reached_stop = -1, None
    state = {"status": "finished", "reason": ""}

    def start_stage() -> _Batches:
        st = stages[stage_i]
        until: dict[str, Any] = {}
        if switch is not None and stage_i < len(stages) - 1:
            until = (switch.until.model_dump(exclude_none=True) if switch.until else
                     {"steps": switch.steps[stage_i]} if switch.steps else {"samples": switch.samples[stage_i]})
        store.stage(st.name, step=step, index=st.index, mix=st.mix, until=until, examples=len(st.rows))
        return _Batches(task, st, tr.batch, gen, tr.keep_last)

    def do_eval() -> dict[str, float]:
        nonlocal last_eval
        m = evaluate(model, task, part_masks)
        m["grok/samples"] = samples
        m["grok/lr"] = sched.get_last_lr()[0]
        store.log({**m, "train/samples": samples}, step=step)  # stage ends report their samples from it
        last_eval = step
        for key, target in TARGETS.items():
            if res.steps_to[key] is None and m["grok/val/acc"] >= target:
                res.steps_to[key], res.samples_to[key] = step, samples
                store.event("grok_target", step=step, target=key, val_acc=m["grok/val/acc"], samples=samples)
        if res.memorization_step is None and m["grok/train/acc"] >= MEMORIZED:
            res.memorization_step, res.memorization_samples = step, samples
            store.event("memorized", step=step, train_acc=m["grok/train/acc"], samples=samples)
        res.final_train_acc, res.final_val_acc = m["grok/train/acc"], m["grok/val/acc"]
        if on_eval is not None:
            on_eval(step, m)
        return m

    def do_measure() -> None:
        if not spec.measure.enabled:
            return
        ms = spec.measure
        metrics, event = progress_measures(model, task, neuron_frac=ms.neuron_frac, min_neurons=ms.min_neurons,
                                           key_freqs=ms.key_freqs)
        store.log(metrics, step=step)
        if event:
            store.event("fourier", step=step, **event)

    batches = start_stage()
    do_eval()
    do_measure()
    try:
        while True:
            x, y = batches.next()
            logits = model(x)
            loss = loss_fn(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if gfilter is not None:
                gfilter()
            opt.step()
            sched.step()
            step += 1
            samples += len(y)
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                store.event("nan", step=step, loss=str(loss_value))
                state.update(status="failed", reason=f"non-finite loss at step {step}")
                break
            seen_correct += int((logits.detach().argmax(-1) == y).sum())
            seen_n += len(y)
            store.log({"grok/batch/loss": loss_value}, step=step)

            # ---- stage exit: a fixed switch point, or the readiness rule checked every eval.every steps
            decision: tuple[str, dict[str, Any]] | None = None
            check = step % spec.eval.every == 0
            if check:
                stage_acc = seen_correct / seen_n
                store.log({"grok/stage/acc": stage_acc, "grok/stage/index": stage_i}, step=step)
                seen_correct = seen_n = 0
            if switch is not None and stage_i < len(stages) - 1:
                if switch.steps and step >= switch.steps[stage_i]:
                    decision = ("budget", {"switch_step": switch.steps[stage_i]})
                elif switch.samples and samples >= switch.samples[stage_i]:
                    decision = ("budget", {"switch_samples": switch.samples[stage_i], "samples": samples})
                elif ready is not None and check:
                    d = ready.update(step - stage_step0, stage_acc).decide() or cap(ready, step - stage_step0)
                    if d is not None:
                        decision = (d.reason, {**d.evidence, "global_step": step})

            spent = (budget.steps is not None and step >= budget.steps) or \
                    (budget.samples is not None and samples >= budget.samples)
            if check or step in eval_early or decision or spent:
                m = do_eval()
                if tr.stop_at_val is not None and reached_stop is None and m["grok/val/acc"] >= tr.stop_at_val:
                    reached_stop = step
            if step % spec.measure.every == 0 or step in measure_early:
                do_measure()
            if decision is not None:
                store.stage_end(decision[0], step=step, **decision[1])
                res.switches.append({"step": step, "samples": samples, "to": stages[stage_i + 1].name,
                                     "reason": decision[0], "evidence": decision[1]})
                stage_i, stage_step0 = stage_i + 1, step
                ready = detector(rule) if rule is not None else None
                batches = start_stage()
            if spent:
                state["reason"] = (f"budget spent ({budget.steps} steps)" if budget.steps is not None
                                   else f"budget spent ({budget.samples:,} samples)")
                break
            if reached_stop is not None and step >= reached_stop + tr.stop_patience:
                state["reason"] = f"validation accuracy >= {tr.stop_at_val} at step {reached_stop}"
                break
    except BaseException as exc:
        state.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
        _close(store, step, state, res, t_start, samples)
        raise
    if last_eval != step:
        do_eval()
    do_measure()
    _close(store, step, state, res, t_start, samples)
    return res


def _close(store: Run, step: int, state: dict[str, str], res: RunResult, t_start: float,
           samples: int) -> None:
    res.steps, res.samples, res.stop_reason = step, samples, state["reason"]
    res.seconds = round(time.perf_counter() - t_start, 3)
    store.set_meta(grok=res.to_dict())
    store.finish(state["status"], state["reason"])
