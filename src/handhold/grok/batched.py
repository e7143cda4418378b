"""Many seeds of one variant trained at once: stacked weights through ``torch.func``.

The models of one variant at seeds s_1..s_S have the same shapes, so each parameter stacks into
one (S, ...) tensor. A step runs every seed's forward with ``vmap(functional_call)``, sums the S
losses (seed s's gradient is its own loss's gradient: the seeds share nothing) and lets one
optimizer update the stacks: AdamW, Adam and SGD act element by element, and so do the Grokfast
filters, so seed s gets the update its own run would get. Each seed starts from the initial
weights, split and minibatch order that ``train_run`` gives it (the same seeding) and writes its
own run store with the same signals, so comparison, report and reuse read it like any other run.

Equal to the per-seed runs up to float rounding, not bit for bit: a batched matrix product sums
in another order than a single one (differences ~1e-7 relative per step), and grokking's dynamics
can grow such differences over thousands of steps; the tests bound them over the first steps.
A seed that stops (its target reached, or a non-finite loss) leaves the stack: the others go on
without computing it.

Supported: the lab's fast model without a curriculum (the stages of different seeds differ in
size and switch at different steps) and optimizers ``adamw``, ``adam``, ``sgd`` (``muon``
orthogonalises whole matrices: a stack would mix the seeds). ``batched_unsupported`` says why a
variant is not; ``run_experiment`` then runs its seeds one by one.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.func import functional_call, vmap

from ..runstore.live import Run
from .config import RunSpec
from .curricula import build_stages, parts
from .measures import progress_measures
from .optim import build_optimizer
from .train import (MEMORIZED, TARGETS, EMAFilter, MAFilter, RunResult, _Batches, build_model, eval_metrics,
                    grad_filter, log_spaced, task_for)


def batched_unsupported(spec: RunSpec) -> str:
    """Why ``spec``'s seeds cannot train together ("" when they can)."""
    if spec.curriculum is not None:
        return "a curriculum (stages differ per seed)"
    if spec.model.arch != "fast":
        return f"model.arch {spec.model.arch!r} (batched: the fast model only)"
    if spec.task.rng == "script":
        return "task.rng 'script' (one global generator per run)"
    if spec.optim.name == "muon":
        return "Muon (orthogonalises whole matrices)"
    return ""


class _Seed:
    """One seed's data, bookkeeping and run store (the store writes mirror ``train_run``'s)."""

    def __init__(self, spec: RunSpec, seed: int, run_dir: str | Path, n_seeds: int) -> None:
        torch.manual_seed(seed)  # the order train_run draws in: split, stages, then the weights
        self.seed, self.task = seed, task_for(spec, seed)
        self.model = build_model(spec, self.task)
        stage = build_stages(None, self.task, seed)[0]
        self.part_masks = parts(None, self.task, seed)
        self.batches = _Batches(self.task, stage, spec.train.batch, torch.Generator().manual_seed(seed + 1),
                                spec.train.keep_last)
        self.res = RunResult(variant=spec.variant, seed=seed)
        self.active, self.status, self.reason = True, "finished", ""
        self.seen_correct = self.seen_n = 0
        self.last_eval, self.reached_stop = -1, None
        self.store = store = Run(run_dir, config=spec, name=f"{spec.experiment}/{spec.variant}/s{seed}",
                                 stages=[stage.name], overwrite=True)  # the one writer (handhold.runstore.live)
        store.set_meta(grok_spec=spec.model_dump(mode="json"), grok_seed=seed, grok_batched={"seeds": n_seeds},
                       grok_examples={"train": int(self.task.is_train.sum()),
                                      "val": int((~self.task.is_train).sum())})
        store.stage(stage.name, step=0, index=0, mix=stage.mix, until={}, examples=len(stage.rows))

    def record_eval(self, step: int, logits: torch.Tensor, samples: int, lr: float) -> dict[str, float]:
        m = eval_metrics(logits, self.task, self.part_masks)
        m["grok/samples"], m["grok/lr"] = samples, lr
        self.store.log({**m, "train/samples": samples}, step=step)
        self.last_eval = step
        res = self.res
        for key, target in TARGETS.items():
            if res.steps_to[key] is None and m["grok/val/acc"] >= target:
                res.steps_to[key], res.samples_to[key] = step, samples
                self.store.event("grok_target", step=step, target=key, val_acc=m["grok/val/acc"],
                                 samples=samples)
        if res.memorization_step is None and m["grok/train/acc"] >= MEMORIZED:
            res.memorization_step, res.memorization_samples = step, samples
            self.store.event("memorized", step=step, train_acc=m["grok/train/acc"], samples=samples)
        res.final_train_acc, res.final_val_acc = m["grok/train/acc"], m["grok/val/acc"]
        return m

    def record_measure(self, spec: RunSpec, step: int, weights: dict[str, torch.Tensor], index: int) -> None:
        if not spec.measure.enabled:
            return
        with torch.no_grad():  # this seed's weights into its own (otherwise idle) module
            for name, p in self.model.named_parameters():
                p.copy_(weights[name][index])
        ms = spec.measure
        metrics, event = progress_measures(self.model, self.task, neuron_frac=ms.neuron_frac,
                                           min_neurons=ms.min_neurons, key_freqs=ms.key_freqs)
        self.store.log(metrics, step=step)
        if event:
            self.store.event("fourier", step=step, **event)

    def close(self, step: int, samples: int, seconds: float) -> None:
        self.active = False
        res = self.res
        res.steps, res.samples, res.stop_reason, res.seconds = step, samples, self.reason, round(seconds, 3)
        self.store.set_meta(grok=res.to_dict())
        self.store.finish(self.status, self.reason)


def train_batched(spec: RunSpec, seeds: list[int], run_dirs: list[str | Path]) -> list[RunResult]:
    """Train ``spec`` at every seed of ``seeds`` at once; seed i writes its run store at ``run_dirs[i]``.

    ``RunResult.seconds`` of each seed is its share of the wall time (wall / seeds)."""
    why = batched_unsupported(spec)
    if why:
        raise ValueError(f"{spec.variant}: cannot train seeds together: {why}")
    t_start = time.perf_counter()
    runs = [_Seed(spec, s, d, len(seeds)) for s, d in zip(seeds, run_dirs)]
    try:
        return _train(spec, runs, t_start)
    except BaseException as exc:
        for r in runs:
            if r.active:
                r.status, r.reason = "failed", f"{type(exc).__name__}: {exc}"
                r.close(r.res.steps, r.res.samples, time.perf_counter() - t_start)
        raise


class _Stack:
    """The live seeds' weights stacked (row k = ``runs[rows[k]]``), their optimizer and Grokfast
    state; ``keep`` drops the rows of finished seeds so they cost nothing afterwards."""

    def __init__(self, spec: RunSpec, runs: list[_Seed]) -> None:
        self.rows = list(range(len(runs)))
        self.weights = {name: torch.stack([dict(r.model.named_parameters())[name].detach() for r in runs])
                        .requires_grad_() for name, _ in runs[0].model.named_parameters()}
        self.opt, self.sched = build_optimizer(spec.optim, list(self.weights.values()))
        self.gfilter = grad_filter(spec.grokfast, list(self.weights.values()))

    def keep(self, alive: list[int]) -> None:
        """Keep the rows of the runs in ``alive`` (a subset of ``rows``, same order)."""
        idx = torch.tensor([self.rows.index(i) for i in alive], dtype=torch.long)
        n = len(self.rows)
        old = list(self.weights.values())
        self.weights = {k: p.detach()[idx].clone().requires_grad_() for k, p in self.weights.items()}
        new = list(self.weights.values())
        for group in self.opt.param_groups:
            group["params"] = [new[next(j for j, q in enumerate(old) if q is p)] for p in group["params"]]
        for p_old, p_new in zip(old, new):
            state = self.opt.state.pop(p_old, None)
            if state is not None:  # per-element state has the seed axis first; "step" is a scalar
                self.opt.state[p_new] = {k: v[idx].clone() if torch.is_tensor(v) and v.dim() and v.shape[0] == n
                                         else v for k, v in state.items()}
        f = self.gfilter
        if isinstance(f, EMAFilter):
            f.params, f.slow = new, None if f.slow is None else [t[idx].clone() for t in f.slow]
        elif isinstance(f, MAFilter):  # ring: (window, seeds, ...)
            f.params, f.ring, f.sums = new, [t[:, idx].clone() for t in f.ring], [t[idx].clone() for t in f.sums]
        self.rows = list(alive)


def _train(spec: RunSpec, runs: list[_Seed], t_start: float) -> list[RunResult]:
    base = runs[0].model
    stack = _Stack(spec, runs)

    def forward(w: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(base, w, (x,))

    train_fwd = vmap(forward)
    tokens = runs[0].task.tokens
    same_tokens = all(torch.equal(r.task.tokens, tokens) for r in runs)
    eval_fwd = vmap(forward, in_dims=(0, None)) if same_tokens else None
    eval_early, measure_early = log_spaced(spec.eval.per_decade), log_spaced(spec.measure.per_decade)
    budget, tr = spec.train.budget, spec.train
    step = samples = 0

    def share() -> float:  # each seed's share of the wall time so far
        return (time.perf_counter() - t_start) / len(runs)

    @torch.no_grad()
    def all_logits() -> dict[int, torch.Tensor]:
        if eval_fwd is not None:
            logits = eval_fwd(stack.weights, tokens)
        else:
            logits = train_fwd(stack.weights, torch.stack([runs[i].task.tokens for i in stack.rows]))
        return dict(zip(stack.rows, logits))

    def evaluate(which: list[int], can_stop: bool = True) -> None:
        logits = all_logits()
        lr = stack.sched.get_last_lr()[0]
        for i in which:
            r = runs[i]
            m = r.record_eval(step, logits[i], samples, lr)
            if can_stop and tr.stop_at_val is not None and r.reached_stop is None and m["grok/val/acc"] >= tr.stop_at_val:
                r.reached_stop = step

    def measure(which: list[int]) -> None:
        for i in which:
            runs[i].record_measure(spec, step, stack.weights, stack.rows.index(i))

    evaluate(stack.rows, can_stop=False)  # as train_run: the stop rule counts from the first step on
    measure(stack.rows)
    while stack.rows:
        drawn = [runs[i].batches.next() for i in stack.rows]
        x, y = torch.stack([d[0] for d in drawn]), torch.stack([d[1] for d in drawn])
        logits = train_fwd(stack.weights, x)  # (live seeds, B, classes)
        losses = F.cross_entropy(logits.double().flatten(0, 1), y.flatten(), reduction="none").view(y.shape).mean(1)
        stack.opt.zero_grad(set_to_none=True)
        losses.sum().backward()
        if stack.gfilter is not None:
            stack.gfilter()
        stack.opt.step()
        stack.sched.step()
        step += 1
        samples += y.shape[1]
        correct = (logits.detach().argmax(-1) == y).sum(1)
        check = step % spec.eval.every == 0
        for k, i in enumerate(stack.rows):
            r, loss_value = runs[i], float(losses[k].detach())
            if not math.isfinite(loss_value):
                r.store.event("nan", step=step, loss=str(loss_value))
                r.status, r.reason = "failed", f"non-finite loss at step {step}"
                r.close(step, samples, share())
                continue
            r.seen_correct += int(correct[k])
            r.seen_n += y.shape[1]
            r.store.log({"grok/batch/loss": loss_value}, step=step)
            if check:
                r.store.log({"grok/stage/acc": r.seen_correct / r.seen_n, "grok/stage/index": 0}, step=step)
                r.seen_correct = r.seen_n = 0
        active = [i for i in stack.rows if runs[i].active]
        spent = (budget.steps is not None and step >= budget.steps) or \
                (budget.samples is not None and samples >= budget.samples)
        if check or step in eval_early or spent:
            evaluate(active)
        if step % spec.measure.every == 0 or step in measure_early:
            measure(active)
        for i in active:
            r = runs[i]
            if spent:
                r.reason = (f"budget spent ({budget.steps} steps)" if budget.steps is not None
                            else f"budget spent ({budget.samples:,} samples)")
            elif r.reached_stop is not None and step >= r.reached_stop + tr.stop_patience:
                r.reason = f"validation accuracy >= {tr.stop_at_val} at step {r.reached_stop}"
            else:
                continue
            if r.last_eval != step:
                r.record_eval(step, all_logits()[i], samples, stack.sched.get_last_lr()[0])
            measure([i])
            r.close(step, samples, share())
        alive = [i for i in stack.rows if runs[i].active]
        if not alive:
            break
        if alive != stack.rows:
            stack.keep(alive)
    return [r.res for r in runs]
