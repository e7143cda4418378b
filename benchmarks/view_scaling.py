"""How the views scale with the number of metric keys in a run: ``analyze`` and the dashboard's
run page (run info, panels, one metric), on runs of 10^3, 10^4, 10^5 and 10^6 distinct keys.

    PYTHONPATH=src python benchmarks/view_scaling.py [--sizes 1000,10000,100000,1000000] [--steps 3]

Each run is written through the Run API in bulk (``run.log`` of every key at each of ``--steps``
steps) into a temporary folder. ``analyze`` runs as the command does, in a fresh process
(``handhold analyze RUN --json``), with its wall time and peak memory; the run page is the
three requests the page makes, timed with the app in this process. The machine is shared, so
the figures to compare are the ratios against the smallest run, measured in the same call:
"growth / keys" below 1 means the cost grows slower than the number of keys.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

import handhold  # noqa: E402


def build(run_dir: Path, keys: int, steps: int) -> float:
    """A finished run of ``keys`` metrics (plus train/loss) at ``steps`` steps; seconds taken."""
    t0 = time.perf_counter()
    names = [f"probe/k{i:07d}" for i in range(keys)]
    with handhold.init(run_dir, name=run_dir.name, stages=["only"]) as run:
        run.stage("only", step=0)
        for step in range(steps):
            run.log(dict.fromkeys(names, float(step)), step=step)
            run.log({"train/loss": 3.0 / (step + 1)}, step=step)
        run.finish("finished", "benchmark")
    return time.perf_counter() - t0


def time_analyze(run_dir: Path) -> tuple[float, float]:
    """(seconds, peak MiB) of ``handhold analyze RUN --json`` in its own process."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    code = ("import resource, sys, time; t = time.perf_counter(); from handhold.cli import app\n"
            "try:\n    app(['analyze', sys.argv[1], '--json'])\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "print('BENCH', time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,"
            " file=sys.stderr)")
    res = subprocess.run([sys.executable, "-c", code, str(run_dir)], env=env, capture_output=True, text=True,
                         timeout=1800)
    line = next(ln for ln in res.stderr.splitlines() if ln.startswith("BENCH"))
    _, seconds, mib = line.split()
    return float(seconds), float(mib)


def time_page(root: Path, name: str) -> float:
    """Seconds of the run page's requests: run info, panels (phases in this process), one metric."""
    from fastapi.testclient import TestClient

    from handhold.views.dashboard import create_app

    with TestClient(create_app(root, phases_process=False), base_url="http://127.0.0.1") as client:
        t0 = time.perf_counter()
        for path in ("", "/panels", "/metrics?keys=train/loss"):
            res = client.get(f"/api/runs/{name}{path}")
            assert res.status_code == 200, (path, res.status_code, res.text[:200])
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000,1000000")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None, help="write the runs here and keep them")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    root = args.keep or Path(tempfile.mkdtemp(prefix="handhold-scaling-"))
    rows = []
    try:
        build(root / "warmup", 10, args.steps)  # imports and first-call costs, not counted
        time_page(root, "warmup")
        for n in sizes:
            run_dir = root / f"keys{n}"
            shutil.rmtree(run_dir, ignore_errors=True)
            built = build(run_dir, n, args.steps)
            analyze_s, analyze_mib = time_analyze(run_dir)
            page_s = time_page(root, run_dir.name)
            rows.append((n, built, analyze_s, analyze_mib, page_s))
            print(f"{n:>9,} keys: built in {built:6.1f} s · analyze {analyze_s:6.2f} s, {analyze_mib:6.0f} MiB peak"
                  f" · run page {page_s:6.2f} s", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    n0, _, a0, m0, p0 = rows[0]
    print(f"\nratios against {n0:,} keys (growth / keys < 1: slower than linear)")
    print(f"{'keys':>9}  {'x keys':>7}  {'analyze':>8}  {'memory':>7}  {'run page':>8}  {'growth/keys':>11}")
    worst = 0.0
    for n, _, a, m, p in rows:
        growth = max(a / a0, p / p0) / (n / n0)
        worst = max(worst, growth if n > n0 else 0.0)
        print(f"{n:>9,}  {n / n0:>7.0f}  {a / a0:>8.2f}  {m / m0:>7.2f}  {p / p0:>8.2f}  {growth:>11.3f}")
    print(f"\nworst growth/keys beyond the smallest run: {worst:.3f} "
          f"({'no faster than linear' if worst <= 1 else 'FASTER THAN LINEAR'})")


if __name__ == "__main__":
    main()
