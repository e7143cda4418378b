"""Issue 12, one source of truth: the phases document is typed once (phases/document.py);
analyze writes exactly its sections and every reader passes each one on."""

from __future__ import annotations

import numpy as np
import pytest

from handhold.phases.analyze import analyze
from handhold.phases import document
from handhold.phases.command import tables


def series():
    t = np.arange(200.0)
    return {"train/acc": (t, 1 / (1 + np.exp(-(t - 20) / 3))), "val/acc": (t, 1 / (1 + np.exp(-(t - 150) / 5)))}


def test_analyze_writes_exactly_the_typed_sections():
    doc = analyze(series())
    assert tuple(doc) == document.SECTIONS
    assert set(doc["metrics"]["val/acc"]) == set(document.MetricDoc.__annotations__)
    assert set(doc["metrics"]["val/acc"]["segments"][0]) == set(document.SegmentDoc.__annotations__)
    assert set(doc["grokking"][0]) >= set(document.GrokkingDoc.__annotations__)


def test_an_untyped_section_is_refused_not_dropped():
    doc = analyze(series())
    with pytest.raises(ValueError, match="novelty.*PhasesDoc"):
        document.check_sections({**doc, "novelty": [{"announced_at": 40}]})


def test_a_new_typed_section_reaches_the_dashboard_report_and_tables(monkeypatch):
    """A detector adds a section (`novelty`) to the type: the views pass it on and the CLI shows it."""
    from handhold.views import panels

    doc = {**analyze(series()), "novelty": [{"announced_at": 40, "lead": 110}]}
    sections = (*document.SECTIONS, "novelty")
    monkeypatch.setattr(document, "SECTIONS", sections)
    monkeypatch.setattr(panels, "SECTIONS", sections)
    monkeypatch.setattr("handhold.phases.analyze_store", lambda store: doc, raising=False)
    loaded = panels.load_phases(store=None)
    assert loaded["available"] and loaded["novelty"] == [{"announced_at": 40, "lead": 110}]
    titles = [str(t.title) for t in tables(doc)]
    assert "novelty" in titles
