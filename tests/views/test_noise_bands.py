"""Benchmark curves carry their sampling noise on the pages: the dashboard's panels come with the
95% band of every benchmark key (from the run's per-document scores), the report draws it under
the curve, and the bookkeeping panel reads 5.57T, not 5.5717140764165T."""

from __future__ import annotations

from fastapi.testclient import TestClient

import handhold
from handhold.doc_scores import EVENT
from handhold.views.dashboard import create_app
from handhold.views.panels import panel_specs
from handhold.runstore.db import RunStore
from handhold.views.report import build_figures


def _run(root):
    run = root / "bench"
    with handhold.init(run) as live:
        for step, right in ((10, 10), (20, 14), (30, 20)):
            scores = [1.0] * right + [0.0] * (32 - right)
            live.log({"eval/family/reasoning": (right / 32 - 0.25) / 0.75, "eval/arc/acc": right / 32,
                      "trainer/total_flos": 5.5717140764165e12}, step=step)
            live.event(EVENT, step=step, suite={"name": "s", "digest": "d"}, prefix="eval/",
                       tasks={"arc": {"family": "reasoning", "ids": [str(i) for i in range(32)],
                                      "scores": {"acc": scores}, "members": [["acc", 0.25, "mean"]]}})
    return run


def test_dashboard_and_report_draw_the_band(tmp_path):
    _run(tmp_path)
    client = TestClient(create_app(tmp_path, phases_process=False), base_url="http://127.0.0.1:8765")  # loopback Host
    panels = client.get("/api/runs/bench/panels").json()["panels"]
    family = next(p for p in panels if p["id"] == "family:eval/family")
    band = family["bands"]["eval/family/reasoning"]
    assert band["steps"] == [10, 20, 30] and all(lo < hi for lo, hi in zip(band["lo"], band["hi"]))
    arc = next(p for p in panels if "eval/arc/acc" in p["bands"])["bands"]["eval/arc/acc"]
    assert abs(arc["hi"][0] - arc["lo"][0] - 0.31) < 0.03  # Wilson at 10 of 32: about ±15 points
    assert panels[-1]["id"] == "bookkeeping" and panels[-1]["collapsed"]
    with RunStore.reader(tmp_path / "bench") as store:
        figures = build_figures(store)
    names = [t.name for f in figures for t in f.data]
    assert names.count("eval/family/reasoning 95% band") == 2  # upper edge, lower edge filled to it
    assert figures[-1].layout.yaxis.tickformat == ".3~s"
    assert [p.id for p in panel_specs(["trainer/total_flos", "eval/arc/acc"])][-1] == "bookkeeping"
