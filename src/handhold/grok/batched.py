"""Many seeds of one variant trained at once: stacked weights through ``torch.func``.

The models of one variant at seeds s_1..s_S have the same shapes, so each parameter stacks into
one (S, ...) tensor. A step runs every seed's forward with ``vmap(functional_call)``, sums the S
losses (seed s's gradient is its own loss's gradient: the seeds share nothing) and lets one
optimizer update the stacks: AdamW, Adam and SGD act element by element, and so do the Grokfast
filters, so seed s gets the update its own run would get. Each seed starts from the initial
weights, split and minibatch order that ``train_run`` gives it (the same seeding) and writes its
own run store with the same signals through its ``SeedRun`` (the bookkeeping ``train_run``
uses), so comparison, report and reuse read it like any other run.

Equal to the per-seed runs up to float rounding, not bit for bit: a batched matrix product sums
in another order than a single one (differences ~1e-7 relative per step), and grokking's dynamics
can grow such differences over thousands of steps; the tests bound them over the first steps.
A seed that stops (its target reached, or a non-finite loss) leaves the stack: the others go on
without computing it.

Supported: the lab's fast model, the mechanisms and optimizers whose registry entry leaves
``batched`` empty: not a curriculum (the stages of different seeds differ in size and switch at
different steps), not ``muon`` (it orthogonalises whole matrices: a stack would mix the seeds).
``batched_unsupported`` says why a variant is not; ``run_experiment`` then runs its seeds one by one.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.func import functional_call, vmap

from .config import RunSpec
from .curricula import build_stages, parts
from .mechanisms import gradient_hooks, used
from .optim import OPTIMIZERS, build_optimizer
from .seedrun import RunResult, SeedRun
from .train import _Batches, build_model, eval_metrics, log_spaced, task_for


def batched_unsupported(spec: RunSpec) -> str:
    """Why ``spec``'s seeds cannot train together ("" when they can)."""
    for m in used(spec):
        if m.batched:
            return m.batched
    if spec.model.arch != "fast":
        return f"model.arch {spec.model.arch!r} (batched: the fast model only)"
    if spec.task.rng == "script":
        return "task.rng 'script' (one global generator per run)"
    return OPTIMIZERS[spec.optim.name].batched


class _Seed(SeedRun):
    """One seed of the stack: its :class:`SeedRun` (store, tracker, result) plus its data and an
    idle module of its own shape (the progress measures read a module)."""

    def __init__(self, spec: RunSpec, seed: int, run_dir: str | Path, n_seeds: int) -> None:
        torch.manual_seed(seed)  # the order train_run draws in: split, stages, then the weights
        task = task_for(spec, seed)
        self.model = build_model(spec, task)
        stages = build_stages(None, task, seed)
        self.part_masks = parts(None, task, seed)
        self.batches = _Batches(task, stages[0], spec.train.batch, torch.Generator().manual_seed(seed + 1),
                                spec.train.keep_last)
        super().__init__(spec, seed, run_dir, task, stages, grok_batched={"seeds": n_seeds})

    def measure_row(self, step: int, weights: dict[str, torch.Tensor], index: int) -> None:
        """Progress measures of row ``index`` of the stacked ``weights``."""
        if not self.spec.measure.enabled:
            return
        with torch.no_grad():  # this seed's weights into its own (otherwise idle) module
            for name, p in self.model.named_parameters():
                p.copy_(weights[name][index])
        self.record_measure(step, self.model)


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
                r.mark_failed(exc)
                r.close(r.res.steps, r.res.samples, time.perf_counter() - t_start)
        raise


class _Stack:
    """The live seeds' weights stacked (row k = ``runs[rows[k]]``), their optimizer and mechanism
    hooks' state; ``keep`` drops the rows of finished seeds so they cost nothing afterwards."""

    def __init__(self, spec: RunSpec, runs: list[_Seed]) -> None:
        self.rows = list(range(len(runs)))
        self.weights = {name: torch.stack([dict(r.model.named_parameters())[name].detach() for r in runs])
                        .requires_grad_() for name, _ in runs[0].model.named_parameters()}
        self.opt, self.sched = build_optimizer(spec.optim, list(self.weights.values()))
        self.hooks = gradient_hooks(spec, list(self.weights.values()))

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
        for hook in self.hooks:  # a mechanism that runs batched keeps its per-seed state in rows
            hook.keep(idx, new)
        self.rows = list(alive)


def _train(spec: RunSpec, runs: list[_Seed], t_start: float) -> list[RunResult]:
    """The loop of ``train_run`` over the live seeds at once; each seed records through its ``SeedRun``."""
    base = runs[0].model
    stack = _Stack(spec, runs)

    def forward(w: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(base, w, (x,))

    train_fwd = vmap(forward)
    tokens = runs[0].task.tokens
    same_tokens = all(torch.equal(r.task.tokens, tokens) for r in runs)
    eval_fwd = vmap(forward, in_dims=(0, None)) if same_tokens else None
    eval_early, measure_early = log_spaced(spec.eval.per_decade), log_spaced(spec.measure.per_decade)
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

    def evaluate(which: list[int], stop: bool = True) -> None:
        logits, lr = all_logits(), stack.sched.get_last_lr()[0]
        for i in which:
            runs[i].record_eval(step, samples, eval_metrics(logits[i], runs[i].task, runs[i].part_masks), lr, stop=stop)

    def measure(which: list[int]) -> None:
        for i in which:
            runs[i].measure_row(step, stack.weights, stack.rows.index(i))

    evaluate(stack.rows, stop=False)  # as train_run: the stop rule counts from the first step on
    measure(stack.rows)
    while stack.rows:
        drawn = [runs[i].batches.next() for i in stack.rows]
        x, y = torch.stack([d[0] for d in drawn]), torch.stack([d[1] for d in drawn])
        logits = train_fwd(stack.weights, x)  # (live seeds, B, classes)
        losses = F.cross_entropy(logits.double().flatten(0, 1), y.flatten(), reduction="none").view(y.shape).mean(1)
        stack.opt.zero_grad(set_to_none=True)
        losses.sum().backward()
        for hook in stack.hooks:
            hook()
        stack.opt.step()
        stack.sched.step()
        step += 1
        samples += y.shape[1]
        correct = (logits.detach().argmax(-1) == y).sum(1)
        check = step % spec.eval.every == 0
        for k, i in enumerate(stack.rows):
            r = runs[i]
            stage_acc = r.trained(step, float(losses[k].detach()), int(correct[k]), y.shape[1], check)
            if not r.active:  # a non-finite loss
                r.close(step, samples, share())
                continue
            r.stage_decision(step, samples, stage_acc)  # one stage: counts the step, never switches
        active = [i for i in stack.rows if runs[i].active]
        if check or step in eval_early or any(runs[i].budget_spent() for i in active):
            evaluate(active)
        if step % spec.measure.every == 0 or step in measure_early:
            measure(active)
        for i in active:
            r = runs[i]
            if not r.should_stop():
                continue
            if r.last_eval != step:
                r.record_eval(step, samples, eval_metrics(all_logits()[i], r.task, r.part_masks),
                              stack.sched.get_last_lr()[0], stop=False)
            measure([i])
            r.close(step, samples, share())
        alive = [i for i in stack.rows if runs[i].active]
        if not alive:
            break
        if alive != stack.rows:
            stack.keep(alive)
    return [r.res for r in runs]
