"""SmolLM2-135M-Instruct fine-tuning through handhold's loop against a bare Hugging Face loop.

Both loops train the same model (full fine-tuning, then LoRA through the same peft wrapping) on
the same batches (the curriculum's chat-formatted physics examples, encoded beforehand for the
bare loop), with the same AdamW over the same trainable parameters; both are timed over the same
steps after a warm-up, in this one process. handhold's loop also draws and encodes its batches,
computes per-domain losses, logs ~10 metrics per step into the SQLite store and fires its
callbacks. Then the chat: time to first token and tokens/s of a streamed reply (handhold's
``Chat``) against a bare ``generate`` of as many tokens.

    make real-model   # once
    OMP_NUM_THREADS=1 python benchmarks/real_model_step.py [--model models/smollm2-135m-instruct]
        [--steps 7] [--repeats 1] [--batch 2] [--seq-len 96] [--chat-tokens 32] [--only full|lora|chat]

Targets: handhold/bare throughput >= 0.95 (full and LoRA). Printed: LoRA s/step against full.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

from handhold.config import load_config
from handhold.curriculum import Curriculum
from handhold.data.chat_format import chat_formatted
from handhold.data.sources import build_sources
from handhold.models import BatchEncoder, build_model, load_tokenizer
from handhold.train.events import Callback
from handhold.train.loop import lr_lambda, row_tokens
from handhold.train.runner import start

WARMUP = 2


class Timer(Callback):
    """Wall time and tokens from the batch after warm-up to the end of the last timed step."""

    def __init__(self, last: int) -> None:
        self.last, self.t0, self.t1, self.tokens0, self.tokens1 = last, 0.0, 0.0, 0, 0

    def on_batch_start(self, state) -> None:
        if state.step == WARMUP:
            self.t0, self.tokens0 = time.perf_counter(), state.tokens

    def on_metrics(self, state) -> None:
        if state.step == self.last - 1:
            self.t1, self.tokens1 = time.perf_counter(), state.tokens


def config(model: Path, steps: int, batch: int, seq_len: int, lora: bool, tmp: Path):
    data = {"name": "bench", "model": {"path": str(model.resolve())},
            "sources": {"physics": {"type": "physics", "format": "chat"}},
            "stages": [{"name": "physics", "mix": {"physics": 1.0}, "until": {"steps": steps}}],
            "train": {"batch_size": batch, "seq_len": seq_len, "max_steps": steps},
            "optim": {"lr": 1e-4, "warmup_steps": 1},
            "eval": {"every": 100 * steps, "examples": 2, "batch_size": 2},
            "evals": {"every": 100 * steps, "at_stage_end": False},
            "checkpoint": {"every": 100 * steps}}
    if lora:
        data["model"]["lora"] = {"r": 16, "alpha": 32, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}
    path = tmp / f"bench-{'lora' if lora else 'full'}.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


def handhold_run(cfg, steps: int, tmp: Path) -> tuple[float, float]:
    """(tokens/s, s/step) over the timed steps of handhold's loop."""
    timer = Timer(steps)
    start(cfg, tmp / f"run-{time.monotonic_ns()}", progress=False, callbacks=[timer])
    dt = timer.t1 - timer.t0
    return (timer.tokens1 - timer.tokens0) / dt, dt / (steps - 1 - WARMUP)


def bare_run(cfg, steps: int) -> tuple[float, float]:
    """The same model, batches and optimizer in a plain PyTorch/HF loop."""
    torch.manual_seed(cfg.seed)
    tok = load_tokenizer(cfg.model)
    model = build_model(cfg.model, tok, cfg.train.seq_len, cfg.seed)
    sources = chat_formatted(cfg, build_sources(cfg), tok)
    cur = Curriculum(cfg, sources)
    enc = BatchEncoder(tok, cfg.train.seq_len)
    batches = [enc([item.text for item in cur.next_batch()]) for _ in range(steps)]
    o = cfg.optim
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg, cfg.schedule_steps(row_tokens(sources, enc))))
    model.train()
    tokens, t0 = 0, 0.0
    for step, (x, y) in enumerate(batches[: steps - 1]):
        if step == WARMUP:
            t0 = time.perf_counter()
        if step >= WARMUP:
            tokens += int((y != -100).sum())
        loss = model(input_ids=x, labels=y).loss  # HF shifts labels itself; same cost either way
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, o.grad_clip or float("inf"))
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
    dt = time.perf_counter() - t0
    return tokens / dt, dt / (steps - 1 - WARMUP)


def chat_figures(model_dir: Path, tmp: Path, new_tokens: int) -> None:
    """Time to first token and tokens/s of a streamed chat reply vs a bare greedy generate."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from handhold.views.chat import Chat, ChatLimits, Reply

    run = tmp / "chat-run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "step_0000000").symlink_to(model_dir.resolve())
    chat = Chat(ChatLimits(max_new_tokens=new_tokens, timeout_s=600, temperature=0.0))
    message = "Explain in a few sentences why the sky is blue."
    chat.reply(run, 0, "Hello!", save=False, max_new_tokens=2)  # load + warm-up
    t0 = time.perf_counter()
    first = None
    for piece in chat.start(run, 0, message, save=False):
        if first is None:
            first = time.perf_counter() - t0
        if isinstance(piece, Reply):
            reply = piece
    total = time.perf_counter() - t0
    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True).eval()
    enc = tok.apply_chat_template([{"role": "user", "content": message}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    t0 = time.perf_counter()
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=reply.new_tokens, min_new_tokens=reply.new_tokens,
                             do_sample=False, pad_token_id=tok.eos_token_id)
    bare_s = time.perf_counter() - t0
    bare_n = out.shape[1] - enc["input_ids"].shape[1]
    print(f"chat: time to first token {first:.2f} s; {reply.new_tokens} tokens in {total:.2f} s = "
          f"{reply.new_tokens / total:.1f} tokens/s (stopped: {reply.stopped})")
    print(f"bare generate: {bare_n} tokens in {bare_s:.2f} s = {bare_n / bare_s:.1f} tokens/s; "
          f"chat/bare tokens/s ratio {(reply.new_tokens / total) / (bare_n / bare_s):.3f}")
    print(f"reply: {reply.text[:160]!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=Path("models/smollm2-135m-instruct"))
    ap.add_argument("--steps", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=1, help="alternate bare/handhold this many times; median")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seq-len", type=int, default=96)
    ap.add_argument("--chat-tokens", type=int, default=32)
    ap.add_argument("--only", choices=["full", "lora", "chat"], action="append")
    args = ap.parse_args()
    if not (args.model / "config.json").is_file():
        sys.exit(f"{args.model}: no model directory; build it with `make real-model`")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    only = set(args.only or ["full", "lora", "chat"])
    print(f"model {args.model}: batch {args.batch} x seq {args.seq_len}, {args.steps} steps "
          f"({WARMUP} warm-up, {args.steps - 1 - WARMUP} timed), torch threads {torch.get_num_threads()}")
    per_step = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for kind in ("full", "lora"):
            if kind not in only:
                continue
            cfg = config(args.model, args.steps, args.batch, args.seq_len, kind == "lora", tmp)
            ratios, steps_s = [], []
            for r in range(args.repeats):
                first, second = (bare_run, handhold_run) if r % 2 == 0 else (handhold_run, bare_run)
                a = first(cfg, args.steps, tmp) if first is handhold_run else first(cfg, args.steps)
                b = second(cfg, args.steps, tmp) if second is handhold_run else second(cfg, args.steps)
                (bare, bare_s), (ours, ours_s) = (a, b) if first is bare_run else (b, a)
                ratios.append(ours / bare)
                steps_s.append(ours_s)
                print(f"{kind:4s} #{r}: bare {bare:,.0f} tok/s ({bare_s:.2f} s/step)   handhold {ours:,.0f} tok/s "
                      f"({ours_s:.2f} s/step)   ratio {ours / bare:.3f}", flush=True)
            ratio = statistics.median(ratios)
            per_step[kind] = statistics.median(steps_s)
            print(f"{kind:4s}: median ratio handhold/bare {ratio:.3f}  (target >= 0.95) "
                  f"{'OK' if ratio >= 0.95 else 'BELOW TARGET'}", flush=True)
        if len(per_step) == 2:
            print(f"LoRA s/step / full s/step: {per_step['lora'] / per_step['full']:.3f}")
        if "chat" in only:
            chat_figures(args.model, tmp, args.chat_tokens)


if __name__ == "__main__":
    main()
