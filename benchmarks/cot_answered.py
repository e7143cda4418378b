"""Chain of thought on a chat model at step 0: how many questions get an answer that can be read.

SmolLM2-135M-Instruct (``make real-model``) answers arc_easy questions through its chat template,
in batches (left padding, greedy, at most the suite's 96 new tokens); each generation is read
by :func:`handhold.evals.benchmarks.cot.extract_answer`. Printed: the share answered (target
>= 80%), accuracy over answered questions and over all, which rule read each answer, a few
unanswered generations, and generation tokens/s.

    make real-model   # once
    OMP_NUM_THREADS=1 python benchmarks/cot_answered.py [--model models/smollm2-135m-instruct]
        [--task arc_easy] [--docs 32] [--batch 16] [--plain]

``--plain`` asks as plain text instead of through the chat template (the failure this fixes).
"""

from __future__ import annotations

import argparse
import collections
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="models/smollm2-135m-instruct")
    ap.add_argument("--task", default="arc_easy")
    ap.add_argument("--docs", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--plain", action="store_true", help="plain text, not the chat template")
    args = ap.parse_args()

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from handhold.evals.benchmarks.cot import cot_prompt, read_generation
    from handhold.evals.benchmarks.suite import load_task
    from handhold.evals.generation import generate

    tok = AutoTokenizer.from_pretrained(args.model, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(args.model, local_files_only=True, dtype=torch.float32).eval()
    docs = load_task(args.task).subsample(args.docs)  # the fixed sample the loop scores
    prompts = [cot_prompt(d, None if args.plain else tok) for d in docs]
    t0 = time.perf_counter()
    texts = generate(model, tok, prompts, max_new_tokens=args.max_new_tokens, batch_size=args.batch)
    seconds = time.perf_counter() - t0
    n_tokens = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)
    reads = [read_generation(d, t) for d, t in zip(docs, texts)]
    answered = sum(r["answered"] for r in reads)
    correct = sum(r["correct"] for r in reads)
    how = collections.Counter(r["how"] or "unanswered" for r in reads)
    print(f"{args.task}: {len(docs)} questions, step 0, asked "
          f"{'as plain text' if args.plain else 'through the chat template'}")
    print(f"answered        {answered}/{len(docs)} = {answered / len(docs):.1%}  (target >= 80%: "
          f"{'OK' if answered / len(docs) >= 0.8 else 'BELOW TARGET'})")
    print(f"cot_acc         {correct / max(answered, 1):.3f} over answered   cot_acc_all {correct / len(docs):.3f}"
          f"   (chance 0.25)")
    print("read by         " + ", ".join(f"{k} {v}" for k, v in how.most_common()))
    print(f"generation      {n_tokens} tokens in {seconds:.1f} s = {n_tokens / seconds:.1f} tokens/s "
          f"(batches of {args.batch})")
    for r, t in [(r, t) for r, t in zip(reads, texts) if not r["answered"]][:3]:
        print(f"  unanswered: {' '.join(t.split())[:160]!r}")


if __name__ == "__main__":
    main()
