"""Share of a run's wall time spent on evaluation (held-out loss, eval suite, probes, lm-eval, benchmarks).

    python benchmarks/eval_overhead.py RUN_DIR        # e.g. runs/demo after `make demo`
    # real benchmarks in the loop: train configs/demo_benchmarks.yaml (or smollm2_essay), pass its run
    OMP_NUM_THREADS=1 python benchmarks/eval_overhead.py RUN_DIR --cot-speed [--model models/smollm2-135m-instruct]

Reads the run store only: eval timings are metrics of their own, wall time is the span between
the run's first and last events. Benchmark evaluation is printed on its own line (chain of
thought included; its generation time beside it where the run recorded it). Target at the
default cadence: <= 10%.

``--cot-speed`` also times chain-of-thought generation on the real model: the same arc_easy
prompts (through the chat template) generated in one left-padded batch and one at a time,
tokens/s of each (greedy, the same max_new_tokens).
"""

from __future__ import annotations

import argparse
import time

from handhold.runstore.db import RunStore

EVAL_TIMERS = ("eval/time_s", "eval/suite_time_s", "probe/time_s", "eval/lm_eval_time_s", "eval/benchmarks_time_s")


def main(run_dir: str) -> None:
    store = RunStore.reader(run_dir)
    events = store.events()
    wall = events[-1].time - events[0].time
    parts = {k: sum(v for v in store.series(k)[1] if v is not None) for k in EVAL_TIMERS}
    train = sum(v for v in store.series("train/step_time_s")[1] if v is not None)
    total = sum(parts.values())
    for key, seconds in parts.items():
        print(f"{key:24s} {seconds:8.1f} s  {100 * seconds / wall:5.1f}% of wall")
    print(f"{'train steps':24s} {train:8.1f} s  {100 * train / wall:5.1f}% of wall")
    cot = sum(v for v in store.series("eval/benchmarks_cot_time_s")[1] if v is not None)
    bench = parts["eval/benchmarks_time_s"]
    rounds = len([v for v in store.series("eval/benchmarks_time_s")[1] if v is not None])
    if bench:
        print(f"{'benchmarks (with CoT)':24s} {bench:8.1f} s  {100 * bench / wall:5.1f}% of wall, {rounds} rounds, "
              f"{bench / max(rounds, 1):.1f} s a round" + (f"; chain of thought {cot:.1f} s of it" if cot else ""))
    print(f"{'evaluation, all':24s} {total:8.1f} s  {100 * total / wall:5.1f}% of {wall:.1f} s wall "
          f"(target <= 10%) {'OK' if total / wall <= 0.10 else 'ABOVE TARGET'}")


def cot_speed(model_dir: str, n: int, max_new_tokens: int) -> None:
    """Chain-of-thought generation, batched against one prompt at a time (same prompts, greedy)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from handhold.evals.benchmarks.cot import cot_prompt
    from handhold.evals.benchmarks.suite import load_task
    from handhold.evals.generation import generate

    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32).eval()
    prompts = [cot_prompt(d, tok) for d in load_task("arc_easy").subsample(n)]
    generate(model, tok, prompts[:1], max_new_tokens=4)  # warm-up

    def timed(batch: int) -> tuple[float, int, list[str]]:
        t0 = time.perf_counter()
        texts = generate(model, tok, prompts, max_new_tokens=max_new_tokens, batch_size=batch)
        dt = time.perf_counter() - t0
        return dt, sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts), texts

    b_s, b_tok, b_texts = timed(len(prompts))
    s_s, s_tok, s_texts = timed(1)
    same = sum(a == b for a, b in zip(b_texts, s_texts))
    print(f"CoT generation, {n} arc_easy prompts through the chat template, max_new_tokens {max_new_tokens}:")
    print(f"  batched (one batch of {n})  {b_tok:5d} tokens in {b_s:6.1f} s = {b_tok / b_s:6.1f} tokens/s")
    print(f"  one at a time            {s_tok:5d} tokens in {s_s:6.1f} s = {s_tok / s_s:6.1f} tokens/s")
    print(f"  speed-up {s_s / b_s:.2f}x; identical generations {same}/{n}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", nargs="?", default=None, help="a run directory (default: runs/demo, unless --cot-speed)")
    ap.add_argument("--cot-speed", action="store_true", help="also time batched vs one-at-a-time CoT generation")
    ap.add_argument("--model", default="models/smollm2-135m-instruct")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    args = ap.parse_args()
    if args.run_dir is not None or not args.cot_speed:
        main(args.run_dir or "runs/demo")
    if args.cot_speed:
        cot_speed(args.model, args.prompts, args.max_new_tokens)
