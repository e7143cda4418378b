"""Throughput of a seed sweep: S seeds one by one, through ``--jobs`` (process pool) and through the
batched-seeds path (stacked weights), all three timed in this run on the same experiment.

The setting is the quick preset's baseline (p = 31, d_model 64) with a fixed budget of steps and no
early stop, so every path does the same work; evaluations and progress measures run as the preset
sets them, and every run writes its run store. The ratios are sequential time / path time (above
1: faster). The machine's load average is printed before and after: on a shared machine the
process-pool ratio is bounded by the cores that are actually free.

    OMP_NUM_THREADS=1 python benchmarks/grok_sweep.py [--seeds 16] [--steps 600] [--jobs 2]

Targets on CPU: --jobs 2 on 2 cores >= 1.8x; batched >= 4x for 16 seeds of the quick model.
The per-seed results of the batched path are compared with the sequential ones (equal up to
float rounding: steps to 95%/99% and final accuracies should match; mismatches are listed).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from handhold.grok.config import load_grok_config
from handhold.grok.experiment import run_experiment
from handhold.grok.presets import preset


def timed(cfg, out: str, **kw) -> tuple[float, dict]:
    t0 = time.perf_counter()
    summary = run_experiment(cfg, out, **kw)
    return time.perf_counter() - t0, summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--steps", type=int, default=600, help="training steps per run (quick preset: 480 samples each)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--paths", default="sequential,jobs,batched")
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = preset("quick")
    data["variants"] = [v for v in data["variants"] if v["name"] == "baseline"]
    cfg = load_grok_config(data=data, overrides=[f"train.budget.samples={480 * args.steps}", "train.stop_at_val=null"])
    paths = [p.strip() for p in args.paths.split(",")]
    load0 = os.getloadavg()
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, load average {load0[0]:.2f} / {load0[1]:.2f} "
          f"(1 / 5 min); quick preset baseline, {args.seeds} seeds x {args.steps} steps", flush=True)
    times, results = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        timed(load_grok_config(data=data, overrides=["train.budget={steps: 5}"]), f"{tmp}/warm", seeds=1)  # imports
        for path in paths:
            kw = {"sequential": {"jobs": 1}, "jobs": {"jobs": args.jobs}, "batched": {"jobs": 1, "batched": True}}[path]
            t, summary = timed(cfg, f"{tmp}/{path}", seeds=args.seeds, **kw)
            times[path], results[path] = t, summary["variants"][0]
            print(f"{path:10s} {t:8.1f} s   {args.seeds * args.steps / t:8.0f} seed-steps/s"
                  + (f"   {times['sequential'] / t:5.2f}x vs sequential" if "sequential" in times and path != "sequential"
                     else ""), flush=True)
    load1 = os.getloadavg()
    print(f"load average after: {load1[0]:.2f} / {load1[1]:.2f}")
    if "sequential" in results:
        ref = results["sequential"]
        for path in paths[1:]:
            r = results[path]
            bad = [s for s in range(args.seeds)
                   if (r["steps_to_val99"][s], r["steps_to_val95"][s]) != (ref["steps_to_val99"][s], ref["steps_to_val95"][s])
                   or abs(r["final_val_acc"][s] - ref["final_val_acc"][s]) > 1e-9]
            print(f"{path}: per-seed results equal to sequential on {args.seeds - len(bad)}/{args.seeds} seeds"
                  + (f" (differ: seeds {bad})" if bad else ""))
        for path, target in (("jobs", 1.8), ("batched", 4.0)):
            if path in times:
                ratio = times["sequential"] / times[path]
                print(f"{path}: {ratio:.2f}x (target >= {target}x): {'OK' if ratio >= target else 'MISSED'}")


if __name__ == "__main__":
    main()
