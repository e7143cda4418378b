"""What a GPU user needs to know, in one script that finishes in under 10 minutes on one GPU.

1. The essay config (``smollm2_essay``, LoRA on SmolLM2-135M-Instruct, GPU batch/length) through
   handhold's loop at bf16 against a bare Hugging Face loop on the same batches: tokens/s and
   model-FLOPs utilisation (6 x parameters x tokens per second over the GPU's bf16 peak; a LoRA
   step skips the frozen weights' gradients, so this counts a little more work than is done).
2. One reasoning-standard benchmark round (the GPU config's limit, chain of thought included): its time,
   and its share of the run at the GPU config's cadence (one round per ``every`` steps).
3. Chat: tokens/s of a greedy reply through the chat template.
4. The grokking lab: S seeds batched (stacked weights) against one after another.

    make real-model   # once
    python benchmarks/gpu_check.py [--model models/smollm2-135m-instruct] [--steps 30] [--seeds 8]
        [--peak-tflops 989]

Without a CUDA GPU it says so and exits 0 (nothing to measure).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

# the GPU version of the essay config (the --set overrides its header documents)
GPU_OVERRIDES = ["train.batch_size=32", "train.seq_len=256", "evals.benchmarks.limit=500",
                 "evals.benchmarks.cot_limit=100", "evals.benchmarks.every=200", "evals.benchmarks.batch_size=64"]
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "L4": 121.0,
                    "4090": 165.0, "3090": 71.0}  # dense bf16 tensor-core peaks


def peak_tflops(name: str, given: float | None) -> float | None:
    if given:
        return given
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def essay_config(model: str, steps: int, tmp: Path):
    from handhold.bundled import find_config
    from handhold.config import load_config
    from handhold.models import resolve_model_path

    cfg = load_config(find_config("smollm2_essay"), [*GPU_OVERRIDES, f"train.max_steps={steps}",
                                                     "eval.every=100000", "probes.every=100000",
                                                     "measures.every=100000", "checkpoint.every=100000",
                                                     "evals.benchmarks.at_start=false",
                                                     "evals.benchmarks.at_stage_end=false",
                                                     "train.mixed_precision=bf16"])
    cfg.model.path = resolve_model_path(model, Path.cwd())
    return cfg


def handhold_tokens_per_s(cfg, tmp: Path, warmup: int) -> float:
    from handhold.store import RunStore
    from handhold.train.runner import start

    run = tmp / "essay"
    start(cfg, run, progress=False)
    with RunStore.reader(run) as store:
        _, tps = store.series("train/tokens_per_s")
    return statistics.median(v for v in tps[warmup:] if v)


def bare_tokens_per_s(cfg, steps: int, warmup: int) -> float:
    import torch

    from handhold.curriculum import Curriculum
    from handhold.data.chat_format import chat_formatted
    from handhold.data.sources import build_sources
    from handhold.models import BatchEncoder, build_model, load_tokenizer

    torch.manual_seed(cfg.seed)
    tok = load_tokenizer(cfg.model)
    model = build_model(cfg.model, tok, cfg.train.seq_len, cfg.seed).cuda()
    cur = Curriculum(cfg, chat_formatted(cfg, build_sources(cfg), tok))
    enc = BatchEncoder(tok, cfg.train.seq_len)
    batches = [enc([item.text for item in cur.next_batch()]) for _ in range(steps)]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=0.0)
    model.train()
    rates = []
    for x, y in batches:
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=x.cuda(), labels=y.cuda()).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        rates.append(int((y != -100).sum()) / (time.perf_counter() - t0))
    del model, opt
    torch.cuda.empty_cache()
    return statistics.median(rates[warmup:])


def benchmark_round(model_dir: str, limit: int, cot_limit: int, batch: int) -> tuple[float, float, float]:
    """(seconds, of which chain of thought, documents) of one reasoning-standard round."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from handhold.evals.benchmarks.suite import evaluate, prepare, resolve_suite

    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=torch.bfloat16).cuda()
    suite = resolve_suite("reasoning-standard")
    tasks = prepare(suite, limit)
    res = evaluate(model, tok, tasks, batch_size=batch, max_new_tokens=suite.max_new_tokens, cot_limit=cot_limit)
    return res.seconds, res.cot_seconds, len(res.records)


def chat_tokens_per_s(model_dir: str, new_tokens: int = 128) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from handhold.data.chat_format import chat_prompt
    from handhold.evals.generation import generate

    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=torch.bfloat16).cuda()
    prompt = chat_prompt(tok, "Explain in a few sentences why the sky is blue.")
    generate(model, tok, [prompt], max_new_tokens=4)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    text = generate(model, tok, [prompt], max_new_tokens=new_tokens)[0]
    torch.cuda.synchronize()
    return len(tok(text, add_special_tokens=False)["input_ids"]) / (time.perf_counter() - t0)


def grok_seeds(seeds: int, steps: int, tmp: Path) -> tuple[float, float]:
    """(sequential seconds, batched seconds) for ``seeds`` seeds of the quick preset's baseline."""
    from handhold.grok.config import load_grok_config
    from handhold.grok.experiment import run_experiment
    from handhold.grok.presets import preset

    data = preset("quick")
    data["variants"] = [v for v in data["variants"] if v["name"] == "baseline"]
    cfg = load_grok_config(data=data, overrides=[f"train.budget={{steps: {steps}}}", "train.stop_at_val=null"])
    out = []
    for kw in ({"jobs": 1}, {"jobs": 1, "batched": True}):
        t0 = time.perf_counter()
        run_experiment(cfg, str(tmp / f"grok-{len(out)}"), seeds=seeds, **kw)
        out.append(time.perf_counter() - t0)
    return out[0], out[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="models/smollm2-135m-instruct")
    ap.add_argument("--steps", type=int, default=30, help="training steps timed in each loop")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--grok-steps", type=int, default=300)
    ap.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak (default: by name)")
    args = ap.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU on this machine: nothing to measure (run this script on a GPU; see its docstring)")
        return 0
    name = torch.cuda.get_device_name(0)
    peak = peak_tflops(name, args.peak_tflops)
    model_dir = str(Path(args.model).resolve())
    if not Path(model_dir, "config.json").is_file():
        print(f"{args.model}: no model directory; run `make real-model` first")
        return 1
    print(f"GPU: {name}, bf16 peak {peak or '?'} TFLOP/s; torch {torch.__version__}", flush=True)
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        cfg = essay_config(model_dir, args.steps, tmp)
        n_params = sum(p.numel() for p in __import__("transformers").AutoModelForCausalLM.from_pretrained(
            model_dir, local_files_only=True).parameters())
        hh = handhold_tokens_per_s(cfg, tmp, args.warmup)
        bare = bare_tokens_per_s(cfg, args.steps, args.warmup)
        for label, tps in (("handhold loop", hh), ("bare HF loop", bare)):
            mfu = f"{6 * n_params * tps / (peak * 1e12):.1%}" if peak else "? (pass --peak-tflops)"
            print(f"essay config (LoRA, batch {cfg.train.batch_size} x {cfg.train.seq_len}, bf16) {label:14s} "
                  f"{tps:9.0f} tokens/s  MFU {mfu}", flush=True)
        print(f"handhold / bare: {hh / bare:.2f}", flush=True)
        b = cfg.evals.benchmarks
        seconds, cot, docs = benchmark_round(model_dir, b.limit, b.cot_limit, b.batch_size)
        step_s = cfg.train.batch_size * cfg.train.seq_len / hh  # an upper bound on a step's tokens
        share = seconds / (seconds + b.every * step_s)
        print(f"one reasoning-standard round: {docs} documents (limit {b.limit}, {b.cot_limit} CoT per reasoning task) "
              f"in {seconds:.1f} s, chain of thought {cot:.1f} s; at one round per {b.every} steps "
              f"its share of the run is about {share:.1%} (target <= 10%)", flush=True)
        print(f"chat: {chat_tokens_per_s(model_dir):.1f} tokens/s (greedy, batch 1, bf16)", flush=True)
        seq, bat = grok_seeds(args.seeds, args.grok_steps, tmp)
        print(f"grokking lab, {args.seeds} seeds x {args.grok_steps} steps: sequential {seq:.1f} s, "
              f"batched {bat:.1f} s ({seq / bat:.2f}x)", flush=True)
    print(f"total {time.perf_counter() - t_all:.0f} s (budget: under 600 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
