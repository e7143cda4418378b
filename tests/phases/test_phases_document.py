"""The phases document is typed once (phases/document.py, from the detectors of phases/registry.py):
analyze writes exactly its sections and entries, and a detector registered in one entry (here, in
the test) reaches the document, the CLI tables and plot, the HTML report and the dashboard API."""

from __future__ import annotations

from typing import Optional, TypedDict, Union

import numpy as np
import pytest

from handhold.phases import document, registry
from handhold.phases.analyze import analyze
from handhold.phases.command import tables, write_plot
from handhold.phases.grokking import GrokkingDoc
from handhold.phases.spec import Column, Detector, Lines, fmt


def series():
    t = np.arange(200.0)
    return {"train/acc": (t, 1 / (1 + np.exp(-(t - 20) / 3))), "val/acc": (t, 1 / (1 + np.exp(-(t - 150) / 5)))}


def test_analyze_writes_exactly_the_typed_sections():
    doc = analyze(series())
    assert tuple(doc) == document.sections() == ("metrics", "stage_switches", "divergences", "grokking", "indicator",
                                                   "benchmark_changes", "essay")
    assert set(doc["metrics"]["val/acc"]) == set(document.MetricDoc.__annotations__)
    assert set(doc["metrics"]["val/acc"]["segments"][0]) == set(document.SegmentDoc.__annotations__)
    assert set(doc["grokking"][0]) == set(GrokkingDoc.__annotations__)
    assert set(document.PhasesDoc.__annotations__) == set(document.sections())


def test_an_untyped_section_or_entry_is_refused_not_dropped():
    doc = analyze(series())
    with pytest.raises(ValueError, match="novelty.*PhasesDoc.*registry"):
        document.check_sections({**doc, "novelty": [{"announced_at": 40}]})
    with pytest.raises(ValueError, match="'grokking' entry has key.*surprise.*GrokkingDoc"):
        document.check_sections({**doc, "grokking": [{**doc["grokking"][0], "surprise": 1}]})
    with pytest.raises(ValueError, match="'divergences' entry lacks key.*gap"):
        document.check_sections({**doc, "divergences": [{"a": "x", "b": "y", "start": 1, "end": 2}]})


# ------------------------------------------------------------------ a throwaway detector
class CrossingDoc(TypedDict):
    metric: str
    crossed_at: Optional[Union[int, float]]


def _crossing(context, group):
    (key,) = group
    steps, values = context.series[key]
    hit = np.flatnonzero(np.asarray(values) >= 0.5)
    return [{"metric": key, "crossed_at": int(steps[hit[0]]) if len(hit) else None}]


CROSSING = Detector(
    "crossing", CrossingDoc,
    needs=lambda context: [(k,) for k in context.usable if k.endswith("/acc")],
    detect=_crossing,
    marks=Lines("crossing", "half-way crossings", keys=("metric",), steps=("crossed_at",),
                text=lambda e, what: "half-way", hover=lambda e: f"{e['metric']} crossed 0.5"),
    title="half-way crossings",
    columns=(Column("metric", lambda e: e["metric"]), Column("crossed at", lambda e: fmt(e["crossed_at"]))),
    summary=lambda entries: [f"{len(entries)} crossing(s)"] if entries else [])


@pytest.fixture
def crossing(monkeypatch):
    monkeypatch.setitem(registry.DETECTORS, "crossing", CROSSING)


def test_a_registered_detector_reaches_the_document_the_tables_and_the_plot(crossing, tmp_path):
    doc = analyze(series())
    assert tuple(doc)[-1] == "crossing" and document.sections()[-1] == "crossing"
    assert doc["crossing"] == [{"metric": "train/acc", "crossed_at": 20}, {"metric": "val/acc", "crossed_at": 150}]
    (table,) = [t for t in tables(doc) if str(t.title) == "half-way crossings"]
    assert [c.header for c in table.columns] == ["metric", "crossed at"]
    assert list(table.columns[1].cells) == ["20", "150"]
    page = write_plot(tmp_path / "p.html", series(), doc, title="t").read_text(encoding="utf-8")
    assert page.count('"text":"crossed"') == 2  # `handhold analyze --plot` draws its steps as lines
    with pytest.raises(ValueError, match="'crossing' entry has key.*CrossingDoc"):
        document.check_sections({**doc, "crossing": [{"metric": "a", "crossed_at": 1, "x": 2}]})


def _run(root):
    """A run written through the Run API: a train accuracy that crosses 0.5 at step 20, a
    validation one at step 150."""
    import handhold

    run = handhold.init(root / "demo", name="demo", stages=["only"])
    run.stage("only", step=0)
    for step, ((_, tr), (_, va)) in enumerate(zip(*[zip(*s) for s in series().values()])):
        run.log({"train/acc": float(tr), "val/acc": float(va)}, step=step)
    run.finish()
    return root / "demo"


def test_a_registered_detector_reaches_the_report_and_the_dashboard_api(crossing, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from handhold.views.dashboard import create_app
    from handhold.views.report import write_report

    run_dir = _run(tmp_path)
    page = write_report(run_dir).read_text(encoding="utf-8")
    assert page.count('"name":"phase:crossed_at"') == 4  # a line and its label for each of the two crossings
    assert "val\\u002facc crossed 0.5" in page and '"kind": "crossing"' in page  # its hover text, its toggle

    client = TestClient(create_app(tmp_path, phases_process=False), base_url="http://127.0.0.1:8765")  # loopback
    data = client.get("/api/runs/demo/panels").json()
    assert {"kind": "crossing", "label": "half-way crossings", "names": ["phase:crossed_at"]} in data["marks"]
    lines = [s for p in data["panels"] for s in p["layout"]["shapes"] if s["name"] == "phase:crossed_at"]
    assert sorted(s["x0"] for s in lines) == [20, 150]
    (row,) = client.get("/api/runs").json()["runs"]
    assert "2 crossing(s)" in row["phases"]
