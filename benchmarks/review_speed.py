"""Time of the wrong-answer review on a benchmark-sized run: 100,000 ``answer`` events.

Five tasks of 1,000 documents scored at 20 steps (a third right, reasoning of ~300 characters),
written through the ordinary ``RunStore`` writer. In this one process:

- baseline: reading and decoding every answer event (``SELECT data ... ; json.loads``), the
  least any reader of the events needs;
- ``GET /api/runs/<run>/review`` the first time (every event read and checked) and again (the
  server keeps what it read and reads on from the last row), through FastAPI's in-process test
  client, the share rows, the figure and the JSON encoding of the latest step's 200 items included;
- ``PUT .../review/label``: one label, the step read again, the write, its share rows;
- ``GET /api/runs/<run>/panels``: the run page's panels, which must not decode every answer
  event to draw stage bands and event lines.

Each is the median of ``--repeats`` runs (the first call: once per fresh server). Target: an
open page under 1 s after the first call; a label well under 1 s.

    python benchmarks/review_speed.py [--repeats 3] [--docs 1000] [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from handhold.runstore.db import RunStore
from handhold.views.dashboard import create_app

TASKS = ("arc_easy", "arc_challenge", "hellaswag", "boolq", "csqa")


def write_run(run_dir: Path, docs: int, steps: int) -> int:
    n = 0
    with RunStore.open(run_dir, flush_every=200_000) as store:
        for s in range(1, steps + 1):
            for task in TASKS:
                for doc in range(docs):
                    store.append_event(100 * s, "answer", {
                        "task": task, "doc_id": str(doc), "question": f"Question {doc} of {task}?",
                        "choices": ["one", "two", "three", "four"], "gold": doc % 4, "choice": (doc + 1) % 4,
                        "correct": doc % 3 == 0, "reasoning": "Because " + "it follows. " * 25,
                        "consistent": doc % 2 == 0})
                    n += 1
    return n


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        n = write_run(runs / "bench", args.docs, args.steps)

        def baseline() -> None:
            with RunStore.reader(runs / "bench") as store:
                rows = store.query("SELECT step, data FROM events WHERE kind = 'answer'").fetchall()
                [json.loads(d) for _, d in rows]

        base = timed(baseline, args.repeats)
        firsts = []
        for _ in range(args.repeats):  # a fresh server each time: nothing kept yet
            client = TestClient(create_app(runs, phases_process=False), base_url="http://127.0.0.1:8765")
            t = time.perf_counter()
            res = client.get("/api/runs/bench/review")
            firsts.append(time.perf_counter() - t)
            assert res.status_code == 200, res.text
        body = res.json()
        first = statistics.median(firsts)
        again = timed(lambda: client.get("/api/runs/bench/review").raise_for_status(), args.repeats)
        item = body["items"][0]
        label = timed(lambda: client.put("/api/runs/bench/review/label", json={
            "step": item["step"], "task": item["task"], "doc_id": item["doc_id"], "label": "sound"}
        ).raise_for_status(), args.repeats)
        panels = timed(lambda: client.get("/api/runs/bench/panels").raise_for_status(), args.repeats)
        wrong = sum(r["wrong"] for r in body["summary"] if r["task"] != "all")
    print(f"{n:,} answer events ({wrong:,} wrong), {len(body['summary'])} share rows, "
          f"median of {args.repeats}")
    print(f"baseline: read + decode every answer event  {base:7.3f} s   1.00x")
    print(f"GET review, first call                      {first:7.3f} s   {first / base:.2f}x")
    print(f"GET review, again (cached)                  {again:7.3f} s   {again / base:.2f}x")
    print(f"PUT review/label                            {label:7.3f} s   {label / base:.2f}x")
    print(f"GET panels (the run page)                   {panels:7.3f} s   {panels / base:.2f}x")


if __name__ == "__main__":
    main()
