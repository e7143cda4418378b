"""Share of a run's wall time spent on evaluation (held-out loss, eval suite, probes, lm-eval, benchmarks).

    python benchmarks/eval_overhead.py RUN_DIR        # e.g. runs/demo after `make demo`
    # real benchmarks in the loop: train configs/demo_benchmarks.yaml, then pass its run directory

Reads the run store only: eval timings are metrics of their own, wall time is the span between
the run's first and last events. Target at the demo's default cadence: <= 10%.
"""

from __future__ import annotations

import sys

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
    print(f"{'evaluation, all':24s} {total:8.1f} s  {100 * total / wall:5.1f}% of {wall:.1f} s wall "
          f"(target <= 10%) {'OK' if total / wall <= 0.10 else 'ABOVE TARGET'}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/demo")
