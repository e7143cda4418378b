"""The training loop: one screen, through Hugging Face ``accelerate``.

Each process draws the same global curriculum batch and keeps rows ``rank::world``. The
loss is the token sum over the process's rows divided by the *global* token count (times
``world``, which DDP's gradient mean undoes), so every process count computes the same
gradient as one process on the whole batch.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from ..config import ConfigError, RunConfig
from ..curriculum import Curriculum
from ..data.chat_format import chat_formatted
from ..data.sources import build_sources
from ..losses import token_losses
from ..models import BatchEncoder, build_model, load_tokenizer
from . import checkpoint as ckpt
from .events import Callback, Event
from .state import State


def row_tokens(sources: dict[str, Any], encoder: BatchEncoder, sample: int = 64) -> dict[str, float]:
    """Mean trained tokens per example of each source (held-out sample: deterministic)."""
    out = {}
    for name, source in sources.items():
        ids = encoder.encode([item.text for item in source.heldout(sample)])
        out[name] = sum(min(len(i) + 1, encoder.seq_len) for i in ids) / len(ids)  # + eos
    return out


def lr_lambda(cfg: RunConfig, total: int):
    warmup, floor = cfg.optim.warmup_steps, cfg.optim.min_lr_ratio
    kind = cfg.optim.schedule

    def factor(step: int) -> float:  # step counts optimizer steps already taken
        if step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        shape = 0.5 * (1 + math.cos(math.pi * progress)) if kind == "cosine" else 1 - progress
        return floor + (1 - floor) * shape

    return factor


def setup(cfg: RunConfig, run_dir: Path, base_dir: Path | None = None) -> State:
    """Build accelerator, model, optimizer, schedule, sources and curriculum for a run."""
    from accelerate import Accelerator

    if cfg.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    # With no GPU, accelerate sets up several processes (gloo) only when told it is on the CPU.
    cpu = cfg.train.cpu or not (torch.cuda.is_available() or torch.backends.mps.is_available())
    accelerator = Accelerator(cpu=cpu, mixed_precision=_precision(cfg.train.mixed_precision, cpu))
    shards = accelerator.num_processes * cfg.train.grad_accum
    if cfg.train.batch_size % shards:
        raise ConfigError([f"train.batch_size: {cfg.train.batch_size} is not divisible by "
                           f"{accelerator.num_processes} processes x train.grad_accum={cfg.train.grad_accum}"])
    torch.manual_seed(cfg.seed)
    tokenizer = load_tokenizer(cfg.model)
    model = build_model(cfg.model, tokenizer, cfg.train.seq_len, cfg.seed)
    trainable = [p for p in model.parameters() if p.requires_grad]  # LoRA: the adapters alone
    decay = [p for p in trainable if p.dim() >= 2]
    no_decay = [p for p in trainable if p.dim() < 2]
    o = cfg.optim
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=o.lr, betas=o.betas, eps=o.eps)
    model, optimizer = accelerator.prepare(model, optimizer)
    # Not prepared: accelerate would step the schedule once per process.
    sources = chat_formatted(cfg, build_sources(cfg, base_dir), tokenizer)
    total = cfg.schedule_steps(row_tokens(sources, BatchEncoder(tokenizer, cfg.train.seq_len)))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg, total))
    return State(cfg=cfg, run_dir=Path(run_dir), accelerator=accelerator, model=model,
                 optimizer=optimizer, scheduler=scheduler, tokenizer=tokenizer,
                 curriculum=Curriculum(cfg, sources), sources=sources, total_steps=total)


def _precision(asked: str, cpu: bool) -> str:
    """``auto``: bf16 on a GPU that supports it, full precision elsewhere."""
    if asked != "auto":
        return asked
    return "bf16" if not cpu and torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


def restore(state: State, path: Path) -> None:
    """Continue from a checkpoint directory (weights, optimizer, schedule, sampler, RNG)."""
    ckpt.load_weights(path, state.accelerator.unwrap_model(state.model))
    saved = ckpt.load_training_state(path, state.optimizer, rank=state.accelerator.process_index,
                                     scaler=state.accelerator.scaler)
    state.scheduler.load_state_dict(saved["scheduler"])
    state.curriculum.load_state_dict(saved["curriculum"])
    state.step, state.tokens = saved["step"], saved["tokens"]


def fit(state: State, callbacks: list[Callback]) -> State:
    """Train until the curriculum ends, ``train.max_steps`` is reached, or a stop is requested."""
    cfg, acc, cur = state.cfg, state.accelerator, state.curriculum
    encoder = BatchEncoder(state.tokenizer, cfg.train.seq_len)
    names = list(state.sources)
    rank, world = acc.process_index, acc.num_processes
    max_steps, micro = cfg.train.max_steps, cfg.train.grad_accum

    def fire(event: Event) -> None:
        for cb in callbacks:
            cb.run_event(event, state)

    resumed = state.step > 0
    try:
        fire(Event.FIT_START)
        if state.logs or state.events or state.samples:  # scored before the first step (a baseline)
            fire(Event.METRICS)
        if not resumed:
            fire(Event.STAGE_START)
        while not cur.finished and not state.should_stop and (max_steps is None or state.step < max_steps):
            t0 = time.perf_counter()
            state.logs, state.events, state.samples, state.decision = {}, [], [], None
            state.batch = cur.next_batch()
            fire(Event.BATCH_START)
            input_ids, labels = encoder([item.text for item in state.batch])
            n_global = int((labels != -100).sum())
            domain = torch.tensor([names.index(item.source) for item in state.batch])
            x, y, d = (t[rank::world] for t in (input_ids, labels, domain))

            state.model.train()
            # [total sum, per-domain sums, per-domain token counts], summed over micro-batches and processes
            stats = torch.zeros(1 + 2 * len(names), device=acc.device)
            for i in range(micro):  # gradient accumulation; DDP syncs on the last micro-batch only
                xm, ym, dm = (t[i::micro].to(acc.device) for t in (x, y, d))
                with nullcontext() if i == micro - 1 else acc.no_sync(state.model):
                    losses = token_losses(state.model, xm, ym)  # (b, T)
                    acc.backward(losses.sum() * world / n_global)
                stats[0] += losses.detach().sum()
                stats[1:1 + len(names)].index_add_(0, dm, losses.detach().sum(1))
                stats[1 + len(names):].index_add_(0, dm, (ym != -100).sum(1).to(stats.dtype))
            fire(Event.AFTER_BACKWARD)
            if world > 1:
                stats = acc.reduce(stats, reduction="sum")
            stats = stats.tolist()
            loss = stats[0] / n_global
            if not math.isfinite(loss):
                state.optimizer.zero_grad(set_to_none=True)
                state.event("nan", loss=str(loss), stage=cur.stage.name)
                state.request_stop(f"non-finite loss ({loss}) at step {state.step + 1}", status="failed")
                state.step += 1
                fire(Event.METRICS)
                break
            clip = cfg.optim.grad_clip if cfg.optim.grad_clip is not None else float("inf")
            grad_norm = acc.clip_grad_norm_(state.model.parameters(), clip)
            lr = state.scheduler.get_last_lr()[0]
            state.optimizer.step()
            state.scheduler.step()
            state.optimizer.zero_grad(set_to_none=True)

            state.step += 1
            state.tokens += n_global
            dt = time.perf_counter() - t0
            state.log({"train/loss": loss, "train/lr": lr, "train/grad_norm": float(grad_norm),
                       "train/tokens": state.tokens, "train/step_time_s": dt,
                       "train/tokens_per_s": n_global / dt})
            for i, name in enumerate(names):
                count = stats[1 + len(names) + i]
                if count:
                    state.log({f"train/loss/{name}": stats[1 + i] / count})
            fire(Event.BATCH_END)

            state.decision = cur.after_step(state.step, state.tokens)
            last = state.decision is not None or state.should_stop or state.step == max_steps
            scheduled = (state.step % cfg.eval.every == 0 or state.decision is not None
                         or any(cb.wants_eval(state) for cb in callbacks))
            # an eval only because a --max-steps cap falls here: the uninterrupted run has none
            state.eval_is_extra = not scheduled
            if scheduled or last:
                fire(Event.EVAL)
            if state.decision is None:
                state.decision = (cur.after_eval(state.step, state.logs, extra=state.eval_is_extra)
                                  if scheduled or last else None) or state._advance
                if state.decision is not None and not (scheduled or last):
                    fire(Event.EVAL)  # a stage that ends has its eval, once
            if state.decision is not None or last:
                fire(Event.MILESTONE)
            state._advance = None
            fire(Event.METRICS)
            if state.decision is not None:
                fire(Event.STAGE_END)
                cur.advance(state.step, state.tokens)
                if not cur.finished:
                    fire(Event.STAGE_START)
            if state.step % cfg.checkpoint.every == 0 or state.decision is not None or last:
                save(state, fire)
        if not state.should_stop:
            state.status = "finished"
            state.stop_reason = "curriculum complete" if cur.finished else f"max_steps={max_steps} reached"
    except BaseException as exc:
        state.request_stop(str(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}",
                           status="failed")
        try:
            fire(Event.FIT_END)  # the status, if the store can still be written
        except Exception as second:  # noqa: BLE001 - the first error is the one to report
            raise exc from None
        raise
    fire(Event.FIT_END)
    return state


def save(state: State, fire: Any) -> None:
    """Flush the store (CHECKPOINT event), then write the checkpoint from the main process."""
    fire(Event.CHECKPOINT)
    rng = [ckpt.rng_state()]
    if state.accelerator.num_processes > 1:
        from accelerate.utils import gather_object

        rng = gather_object(rng)  # every process's own random state, in rank order
    if state.is_main:
        ckpt.save_checkpoint(
            state.run_dir, state.step, model=state.accelerator.unwrap_model(state.model),
            tokenizer=state.tokenizer, optimizer=state.optimizer, keep=state.cfg.checkpoint.keep,
            state={"tokens": state.tokens, "scheduler": state.scheduler.state_dict(),
                   "curriculum": state.curriculum.state_dict(), "stage": state.stage_name},
            rng=rng, scaler=state.accelerator.scaler)
    state.accelerator.wait_for_everyone()

