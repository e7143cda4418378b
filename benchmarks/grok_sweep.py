"""Throughput of a seed sweep: S seeds one by one, through ``--jobs`` (process pool) and through the
batched-seeds path (stacked weights), all three timed in this run on the same experiment.

The setting is the quick preset's baseline (p = 31, d_model 64) with a fixed budget of steps and no
early stop, so every path does the same work; evaluations and progress measures run as the preset
sets them, and every run writes its run store. The ratios are sequential time / path time (above
1: faster). The machine's load average is printed before and after: on a shared machine the
process-pool ratio is bounded by the cores that are actually free (and with the kernel's
autogroup scheduling, by this session's share of them, however many processes it runs).

    OMP_NUM_THREADS=1 python benchmarks/grok_sweep.py [--seeds 16] [--steps 300] [--jobs 2] [--repeats 2]

The paths alternate over ``--repeats`` rounds and the median wall time of each is compared (the
load of a shared machine drifts); the batched path's CPU time is also compared with the
sequential one's, a measure of the work per seed-step that the load does not move.

Targets on CPU: --jobs 2 on 2 cores >= 1.8x; batched >= 4x for 16 seeds of the quick model.
The per-seed results of the batched path are compared with the sequential ones (equal up to
float rounding: steps to 95%/99% and final accuracies should match; mismatches are listed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch

from handhold.grok.config import load_grok_config
from handhold.grok.experiment import run_experiment
from handhold.grok.presets import preset


def timed(cfg, out: str, **kw) -> tuple[float, float, dict]:
    """(wall seconds, this process's CPU seconds, summary)."""
    t0, c0 = time.perf_counter(), time.process_time()
    summary = run_experiment(cfg, out, **kw)
    return time.perf_counter() - t0, time.process_time() - c0, summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--steps", type=int, default=300, help="training steps per run")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="rounds of all paths, alternating; medians reported")
    ap.add_argument("--paths", default="sequential,jobs,batched")
    ap.add_argument("--set", action="append", default=[], help="override a key of the setting (train.batch=32)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = preset("quick")
    data["variants"] = [v for v in data["variants"] if v["name"] == "baseline"]
    cfg = load_grok_config(data=data, overrides=[f"train.budget={{steps: {args.steps}}}", "train.stop_at_val=null", *args.set])
    paths = [p.strip() for p in args.paths.split(",")]
    kws = {"sequential": {"jobs": 1}, "jobs": {"jobs": args.jobs}, "batched": {"jobs": 1, "batched": True}}
    load0 = os.getloadavg()
    try:  # with autogroups the kernel splits the cores between sessions: a busy machine's other sessions
        autogroup = open("/proc/sys/kernel/sched_autogroup_enabled").read().strip() == "1"  # cap --jobs
    except OSError:
        autogroup = False
    print(f"scheduler autogroups: {'on' if autogroup else 'off'}")
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, load average {load0[0]:.2f} / {load0[1]:.2f} "
          f"(1 / 5 min); quick preset baseline, {args.seeds} seeds x {args.steps} steps, {args.repeats} "
          "alternating rounds", flush=True)
    walls: dict[str, list[float]] = {p: [] for p in paths}
    cpus: dict[str, list[float]] = {p: [] for p in paths}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        warm = load_grok_config(data=data, overrides=["train.budget={steps: 5}"])
        timed(warm, f"{tmp}/warm", seeds=1)  # imports
        if "jobs" in paths:  # the forkserver starts once per process (imports torch and the lab): not per sweep
            print(f"process pool start-up (once per process): {timed(warm, f'{tmp}/warm-pool', seeds=2, jobs=args.jobs)[0]:.1f} s",
                  flush=True)
        for rnd in range(args.repeats):
            for path in paths:
                wall, cpu, summary = timed(cfg, f"{tmp}/{path}{rnd}", seeds=args.seeds, **kws[path])
                walls[path].append(wall)
                cpus[path].append(cpu)
                results[path] = summary["variants"][0]
                print(f"round {rnd} {path:10s} {wall:7.1f} s wall  {args.seeds * args.steps / wall:6.0f} seed-steps/s"
                      + (f"  {cpu:7.1f} s CPU in this process" if path != "jobs" else "")
                      + f"  (load {os.getloadavg()[0]:.2f})", flush=True)
    wall = {p: statistics.median(v) for p, v in walls.items()}
    cpu = {p: statistics.median(v) for p, v in cpus.items()}
    load1 = os.getloadavg()
    print(f"load average after: {load1[0]:.2f} / {load1[1]:.2f}")
    if "sequential" not in wall:
        return
    ref = results["sequential"]
    for path in paths[1:]:
        r = results[path]
        bad = [s for s in range(args.seeds)
               if (r["steps_to_val99"][s], r["steps_to_val95"][s]) != (ref["steps_to_val99"][s], ref["steps_to_val95"][s])
               or abs(r["final_val_acc"][s] - ref["final_val_acc"][s]) > 1e-9]
        print(f"{path}: per-seed results equal to sequential on {args.seeds - len(bad)}/{args.seeds} seeds"
              + (f" (differ: seeds {bad})" if bad else ""))
    for path, target in (("jobs", 1.8), ("batched", 4.0)):
        if path in wall:
            ratio = wall["sequential"] / wall[path]
            extra = (f"; CPU time ratio {cpu['sequential'] / cpu[path]:.2f}x (load-independent work per seed-step)"
                     if path == "batched" else "")
            print(f"{path}: {ratio:.2f}x wall, median of {args.repeats} (target >= {target}x): "
                  f"{'OK' if ratio >= target else 'MISSED'}{extra}")


if __name__ == "__main__":
    main()
