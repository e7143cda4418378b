"""Phase marks readable at a glance: one mark per burst of shocks, divergence as a band along
the top edge, a name per kind for the toggles; the family panel first."""

from __future__ import annotations

from handhold.summary import StageRow
from handhold.views.marks import mark_kinds, shock_groups
from handhold.views.panels import panel_layout, panel_specs


def _row(i, name, start, end):
    return StageRow(index=i, name=name, start=start, end=end, steps=end - start, tokens=None, end_reason="budget",
                    open=False, final_loss={}, final_from={}, jump={}, recover_steps={})


ROWS = [_row(0, "general", 0, 100), _row(1, "physics", 100, 200), _row(2, "mixed", 200, 300)]


def shock(step, kind="switch", peak=2.0):
    return {"step": step, "peak": peak, "baseline": 1.0, "recovered_at": None, "kind": kind}


def test_a_burst_of_shocks_on_one_switch_is_one_group():
    shocks = [("eval/loss/a", shock(100)), ("eval/loss/b", shock(100)), ("eval/loss/c", shock(104, "jump")),
              ("eval/loss/a", shock(200)),
              ("train/loss/a", shock(150, "spike")), ("train/loss/b", shock(153, "spike")),  # one loose cluster
              ("train/loss/a", shock(260, "spike"))]
    groups = shock_groups(shocks, ROWS)
    assert [(g["step"], g["stage"], len(g["shocks"])) for g in groups] == [
        (100, "physics", 3), (150, "", 2), (200, "mixed", 1), (260, "", 1)]
    assert {k for k, _ in groups[0]["shocks"]} == {"eval/loss/a", "eval/loss/b", "eval/loss/c"}
    # a jump past the first 10% of the stage is not the switch's: 100 + 0.1 * 100 < 111
    assert [g["step"] for g in shock_groups([("k", shock(111, "jump"))], ROWS)] == [111]
    assert shock_groups([], ROWS) == []
    assert [g["step"] for g in shock_groups([("k", shock(5, "switch"))], [])] == [5]  # no stage table


def _panels(keys, phases):
    out = {}
    for p in panel_specs(keys):
        out[p.id] = panel_layout(p, ROWS, [], phases)
    return out


def test_marks_on_the_panels():
    keys = ["eval/family/reasoning", "eval/family/standard", "eval/loss/a", "eval/loss/b", "train/loss/a",
            "eval/arc/acc"]
    phases = {"metrics": {
        "eval/loss/a": {"segments": [{"start": 0, "end": 100, "trend": "declining"},
                                     {"start": 100, "end": 300, "trend": "plateau"}],
                        "changepoints": [100], "shocks": [shock(100), shock(200)]},
        "eval/loss/b": {"segments": [], "changepoints": [], "shocks": [shock(100)]},
        "train/loss/a": {"segments": [], "changepoints": [], "shocks": [shock(100), shock(230, "spike")]}},
        "divergences": [{"a": "eval/family/reasoning", "b": "eval/family/standard", "start": 50, "end": 150, "gap": 0.3},
                        {"a": "eval/family/reasoning", "b": "eval/family/standard", "start": 120, "end": 250, "gap": 0.4},
                        {"a": "eval/loss/a", "b": "eval/loss/b", "start": 260, "end": 300, "gap": 1}],
        "grokking": [{"train": "train/loss/a", "val": "eval/loss/a", "memorized_at": 40, "generalized_at": 220,
                      "grokked": True}]}
    layouts = _panels(keys, phases)
    assert list(layouts) == ["family:eval/family", "family:eval/arc", "loss"]  # the two stories first
    loss = layouts["loss"]
    marks = [a for a in loss["annotations"] if a.get("name") == "phase:shock"]
    # three keys shocked at the switch to physics, one at the switch to mixed, a spike later: 3 marks
    assert [(m["x"], m["text"]) for m in marks] == [(100, "▼3"), (200, "▼"), (230, "▾")]  # ▾: a loose spike
    assert "3 shocks at the switch to physics" in marks[0]["hovertext"]
    assert all(m["yref"] == "y domain" and m["y"] > 0.8 for m in marks)  # along the top, not on the curves
    band = [s for s in loss["shapes"] if s["name"] == "phase:divergence"]
    assert len(band) == 1 and band[0]["y0"] >= 0.97 and band[0]["y1"] == 1  # a thin band on the top edge
    family = layouts["family:eval/family"]
    bands = [s for s in family["shapes"] if s["name"] == "phase:divergence"]
    assert [(b["x0"], b["x1"]) for b in bands] == [(50, 250)]  # overlapping divergences: one band
    hover = next(a for a in family["annotations"] if a.get("name") == "phase:divergence")["hovertext"]
    assert hover.count("divergence eval/family/reasoning vs eval/family/standard") == 2
    # every mark has a name a toggle covers
    toggled = {n for kind in mark_kinds() for n in kind["names"]}
    named = {m["name"] for lay in layouts.values() for m in (*lay["shapes"], *lay["annotations"])
             if m.get("name", "").startswith("phase:")}
    assert named == toggled
    assert [k["kind"] for k in mark_kinds()] == ["trend", "changepoint", "shock", "divergence", "grokking"]


def test_family_panel_is_reasoning_then_standard_centred_on_chance():
    (family, *_) = panel_specs(["eval/family/standard", "eval/family/reasoning", "train/loss"])
    assert family.id == "family:eval/family" and "centred on chance" in family.title
    assert [t.key for t in family.traces] == ["eval/family/reasoning", "eval/family/standard"]
    assert family.layout["yaxis"]["zeroline"] is True


def test_report_has_one_toggle_script_only_when_there_are_marks(tmp_path, monkeypatch):
    import json
    import sys
    import types

    import handhold
    from handhold.views.report import write_report

    with handhold.init(tmp_path / "r") as run:
        run.stage("one", step=0)
        for step in range(1, 21):
            run.log({"eval/loss/a": 2.0 - step / 40, "train/loss": 3.0}, step=step)
            if step == 10:
                run.stage("two", step=step)
    fake = types.ModuleType("handhold.phases")
    fake.analyze_store = lambda store: {"metrics": {"eval/loss/a": {"segments": [], "changepoints": [],
                                                                     "shocks": [shock(10)]}}}
    monkeypatch.setitem(sys.modules, "handhold.phases", fake)
    text = write_report(tmp_path / "r").read_text(encoding="utf-8")
    assert text.count("const HandholdMarks") == 1 and "<div id=mark-toggles" in text
    assert json.dumps(mark_kinds()) in text  # the same kinds as the dashboard's
    assert text.index("<div id=mark-toggles") < text.index("plotly-graph-div")
    fake.analyze_store = lambda store: {"metrics": {}}
    assert "HandholdMarks" not in write_report(tmp_path / "r").read_text(encoding="utf-8")


def test_the_pages_read_the_detector_registry_without_loading_the_detectors_numerics():
    """The dashboard process draws marks from the registry; the analysis itself runs in a worker,
    so serving a page must not pay for ruptures or scipy (seconds on a cold start)."""
    import subprocess
    import sys

    code = ("import sys, handhold.views.dashboard, handhold.views.report; "
            "print(sorted(m for m in ('ruptures', 'scipy', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
