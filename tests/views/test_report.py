"""The HTML report on hand-built stores (no training)."""

from __future__ import annotations

import json

import numpy as np
from plotly.offline import get_plotlyjs

import handhold
from handhold.runstore.db import RunStore
from handhold.views.report import build_figures, downsample, smooth, write_report

EVIL = "<script>alert(1)</script>"


def _write(run, *, evals=True, names=("general", "physics", "mixed"), nan_at=None, extra=None, samples=None):
    """Three stages of 10 steps; sources a (every step) and b (from stage 1 on); ``samples``:
    ``{step: [(kind, prompt, text)]}``."""
    run.stage(names[0], step=0)
    for step in range(1, 31):
        m = {"train/loss": 3.0, "train/loss/a": 3.0, "train/lr": 1e-3, "train/grad_norm": 1.0,
             "train/tokens": 100.0 * step}
        if step > 10:
            m["train/loss/b"] = 4.0
        if step % 5 == 0:
            m["eval/time_s"] = 0.1
            if evals:
                m.update({"eval/loss/a": 2.0, "eval/loss/b": 5.0})
        m.update((extra or {}).get(step, {}))
        run.log(m, step=step)
        if step == nan_at:
            run.event("nan", step=step, loss="nan")
        for kind, prompt, text in (samples or {}).get(step, []):
            run.sample(kind, prompt, text, step=step)
        if step % 10 == 0:
            run.stage_end("budget", step=step, note=EVIL)
            if step < 30:
                run.stage(names[step // 10], step=step)


def _build(run_dir, **kw):
    """A finished run of :func:`_write`, written through the Run API."""
    with handhold.init(run_dir, name="demo") as run:
        _write(run, **kw)
        run.finish("finished", "curriculum complete")
    return run_dir


def _rects(fig):
    """The stage bands (phase marks, when the phases analysis is installed, are other shapes)."""
    return [sh for sh in fig.layout.shapes if sh.type == "rect" and sh.name.startswith("stage:")]


def test_report_is_one_self_contained_file(tmp_path):
    path = write_report(_build(tmp_path))
    assert path == tmp_path / "report.html"
    text = path.read_text(encoding="utf-8")
    assert '<script src="http' not in text
    assert text.count(get_plotlyjs()) == 1  # inline, once, though there are several figures
    assert text.count('class="plotly-graph-div"') == 3  # loss, eval, train
    assert "demo — finished, step 30" in text
    assert not list(tmp_path.glob("*.tmp"))


def test_out_path(tmp_path):
    run = _build(tmp_path / "run")
    out = write_report(run, tmp_path / "elsewhere" / "r.html")
    assert out == tmp_path / "elsewhere" / "r.html" and out.is_file()
    assert not (run / "report.html").exists()


def test_figures_have_one_trace_per_series_and_stage_bands(tmp_path):
    with RunStore.reader(_build(tmp_path)) as store:
        figs = build_figures(store)
    # the signals' panels, then the schedule and system metrics (handhold.roles) folded at the bottom
    loss, grad, train = figs
    assert [t.name for t in loss.data] == ["all · train", "a · train", "a · eval", "b · train", "b · eval"]
    assert [t.name for t in grad.data] == ["train/grad_norm"]
    assert [t.name for t in train.data] == ["train/lr", "train/tokens", "eval/time_s"]  # schedule, then system
    assert train.layout.title.text.startswith("schedule and system")
    assert list(loss.data[4].x) == [5, 10, 15, 20, 25, 30] and list(loss.data[3].x) == list(range(11, 31))
    # three stages -> three bands per panel, alternating fills, names on top of the first panel
    assert [(r.x0, r.x1) for r in _rects(loss)] == [(0, 10), (10, 20), (20, 30)]
    assert _rects(loss)[0].fillcolor == _rects(loss)[2].fillcolor != _rects(loss)[1].fillcolor
    assert len(_rects(train)) == 3 * 3  # three panels
    assert {r.xref for r in _rects(train)} == {"x", "x2", "x3"}
    assert {"general", "physics", "mixed"} <= {a.text for a in loss.layout.annotations}


def test_nan_event_is_a_vertical_line_on_every_panel(tmp_path):
    with RunStore.reader(_build(tmp_path, nan_at=17)) as store:
        figs = build_figures(store)
    for fig in figs:
        lines = [sh for sh in fig.layout.shapes if sh.name == "event:nan"]
        panels = len({r.xref for r in _rects(fig)})
        assert len(lines) == panels and all(sh.x0 == sh.x1 == 17 for sh in lines)


def test_metric_families_are_generic(tmp_path):
    extra = {s: {"eval/arith/accuracy": s / 30, "eval/arith/steps_valid": 0.5,
                 "eval/acc/a": 0.1, "eval/acc/b": 0.2, "weird": 1.0} for s in (10, 20, 30)}
    with RunStore.reader(_build(tmp_path, extra=extra)) as store:
        figs = build_figures(store)
    titles = [f.layout.title.text for f in figs]
    # the tasks (eval/<task>) first, then the loss per source, then the rest
    assert titles[:2] + titles[3:-1] == ["eval/acc", "eval/arith", "train", "other"]
    assert titles[-1].startswith("schedule and system")  # eval/time_s, train/lr, train/tokens
    assert titles[2].startswith("loss per source")
    acc = figs[0]
    assert [t.name for t in acc.data] == ["a", "b"]  # per-source family: one panel, source colors
    assert acc.data[0].line.color == figs[2].data[1].line.color
    arith = figs[1]  # a nested family measures one kind of thing: one overlay panel
    assert [t.name for t in arith.data] == ["accuracy", "steps_valid"]
    assert len({r.xref for r in _rects(arith)}) == 1
    assert len({r.xref for r in _rects(figs[-1])}) == 3  # schedule and system: a bag of scalars, stacked


def test_store_text_is_escaped(tmp_path):
    run = _build(tmp_path, names=("general", EVIL, "mixed"))
    text = write_report(run).read_text(encoding="utf-8")
    assert EVIL not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # stage name and reasons, in the table
    with RunStore.reader(run) as store:
        (loss, *_) = build_figures(store)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in {a.text for a in loss.layout.annotations}
    assert "<script>" not in json.dumps(loss.to_plotly_json()["layout"], default=str)


def test_run_without_eval_metrics(tmp_path):
    run = _build(tmp_path, evals=False)
    with RunStore.reader(run) as store:
        figs = build_figures(store)
    assert [t.name for t in figs[0].data] == ["all · train", "a · train", "b · train"]
    text = write_report(run).read_text(encoding="utf-8")
    assert "3.0000*" in text  # final loss falls back to train loss, marked


def test_running_run_and_empty_run(tmp_path):
    with handhold.init(tmp_path / "running", name="demo") as live:  # still being written
        _write(live)
        live.flush()
        text = write_report(tmp_path / "running").read_text(encoding="utf-8")
        assert "demo — running" in text
        with handhold.init(tmp_path / "empty") as empty:  # just started
            text = write_report(empty.dir).read_text(encoding="utf-8")
    assert "No stage has started yet" in text and "No metrics logged yet" in text


def test_downsample_keeps_extremes_and_bounds_points():
    n = 1_000_000
    steps = list(range(1, n + 1))
    values = np.sin(np.arange(n) / 1000.0).tolist()
    values[123_457] = 50.0  # a spike
    values[500] = None  # missing: dropped
    x, y = downsample(steps, values, max_points=5000)
    assert len(x) <= 5000 and np.all(np.diff(x) > 0)
    assert y.max() == 50.0 and 123_458 in x
    assert y.min() == min(v for v in values if v is not None)
    assert 501 not in x
    xs, ys = smooth(steps, values, max_points=5000)
    assert len(xs) <= 5000 and np.all(np.diff(xs) > 0) and np.isfinite(ys).all()
    short = downsample([1, 2, 3], [1.0, None, 3.0])
    assert list(short[0]) == [1, 3] and list(short[1]) == [1.0, 3.0]


def test_probe_timeline_in_the_report(tmp_path):
    probes = {step: [("probe", "How is training going?", f"step {step}: {EVIL}"), ("probe", "2 + 2 =", str(step % 7))]
              for step in (10, 20, 30)}
    run = _build(tmp_path, samples=probes)
    with handhold.amend(run) as later:  # written after training: a chat, an eval of the last checkpoint
        later.sample("chat", "hi", "hello", step=30)
        later.sample("eval/arith", "1 + 1 =", "2", step=30)  # eval generations are not probes
    text = write_report(run).read_text(encoding="utf-8")
    timeline = text[text.index("<h2>Probe timeline</h2>"):]
    assert timeline.count("<details") == 3 and "id=tl-search" in timeline
    assert EVIL not in text and "step 20: &lt;script&gt;" in timeline
    first = timeline[:timeline.index("</details>")]  # one prompt: its generations in step order
    assert first.index("step 10:") < first.index("step 20:") < first.index("step 30:")
    assert "1 + 1 =" not in timeline


def test_phase_marks_in_the_report(tmp_path, monkeypatch):
    import sys
    import types

    fake = types.ModuleType("handhold.phases")
    fake.analyze_store = lambda store: {
        "metrics": {"eval/loss/a": {"changepoints": [12], "segments": [
            {"start": 0, "end": 12, "trend": "declining", "slope": -1.0},
            {"start": 12, "end": 30, "trend": "plateau", "slope": 0.0}], "shocks": []}},
        "divergences": [{"a": "eval/loss/a", "b": "eval/loss/b", "start": 15, "end": 25, "gap": 3.0}]}
    monkeypatch.setitem(sys.modules, "handhold.phases", fake)
    with RunStore.reader(_build(tmp_path)) as store:
        loss, *_ = build_figures(store)
    names = [sh.name for sh in loss.layout.shapes]
    assert names.count("phase:divergence") == 1 and names.count("phase:changepoint") == 1
    assert [a.text for a in loss.layout.annotations if a.name == "phase:trend"] == ["↘ declining", "→ plateau"]
    assert len(_rects(loss)) == 3  # the stage bands are still there
