"""The grokking lab's report: one self-contained HTML page per experiment.

The comparison table first, then the distribution of steps to 99% validation accuracy per
variant, then per variant the grokking curves of every seed (train accuracy thin, validation
bold, log step axis so memorisation and generalisation both show) with the stage switches and
the 99% crossings marked, and the progress measures. It reads the run stores only.
"""

from __future__ import annotations

import html
import os
import time
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ..plotting import PLOTLY_CONFIG, downsample
from ..runstore.db import RunStore
from .experiment import run_dir_for

COLORS = qualitative.Plotly
MAX_POINTS = 1500
MEASURES = [("grok/measure/restricted_loss", "restricted loss (all pairs)", True),
            ("grok/measure/excluded_loss", "excluded loss (train pairs)", True),
            ("grok/measure/weight_norm", "total weight norm", False),
            ("grok/measure/gini_embed", "Gini of embedding Fourier norms", False)]


def write_grok_report(exp_dir: str | os.PathLike[str], summary: dict[str, Any],
                      out: Path | None = None) -> Path:
    """Write ``<exp_dir>/report.html`` (or ``out``) and return its path."""
    exp_dir = Path(exp_dir)
    out = Path(out) if out is not None else exp_dir / "report.html"
    figures = [steps_figure(summary)]
    for v in summary["variants"]:
        figures += variant_figures(exp_dir, v)
    title = f"grokking lab: {summary['name']} ({summary['seeds']} seed{'s' if summary['seeds'] != 1 else ''})"
    body = [f"<h1>{html.escape(title)}</h1>", "<h2>Comparison</h2>", comparison_html(summary),
            "<h2>Curves</h2>"]
    for i, fig in enumerate(figures):
        body.append(fig.to_html(full_html=False, include_plotlyjs=i == 0, config=PLOTLY_CONFIG,
                                default_height=f"{fig.layout.height or 420}px"))
    body.append(f"<footer>handhold grok · {html.escape(str(exp_dir))} · {time.strftime('%Y-%m-%d %H:%M:%S')}"
                "</footer>")
    page = _PAGE.format(title=html.escape(title), body="\n".join(body))
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out


def _fmt(v: Any, never: str = "never") -> str:
    return never if v is None else f"{v:,.0f}"


def comparison_html(summary: dict[str, Any]) -> str:
    head = ("<tr><th>variant</th><th>task</th><th>generalised</th><th>steps to 95%</th>"
            "<th>steps to 99%: median [95% CI]</th><th>per seed</th><th>samples to 99%</th>"
            "<th>memorised at</th><th>delay</th><th>grokked</th><th>vs baseline (steps, samples)</th><th>code</th></tr>")
    rows = []
    for v in summary["variants"]:
        task = f"{'+'.join(v['task']['ops'])} p={v['task']['p']} {v['task']['train_frac']:.0%}"
        ci = f"[{_fmt(v['ci95'][0])}, {_fmt(v['ci95'][1])}]"
        vs = ("" if v["vs_baseline"] is None else
              f"{v['speedup_steps'] or '–'}×, {v['speedup_samples'] or '–'}× vs {html.escape(v['vs_baseline'])};"
              f" faster on {v['faster_seeds']}/{len(v['seeds'])} seeds")
        cells = [f"<b>{html.escape(v['name'])}</b><br><span class=note>{html.escape(v['description'])}</span>",
                 html.escape(task), f"{v['generalized']:.0%}", _fmt(v["median_steps_to_val95"]),
                 f"{_fmt(v['median_steps_to_val99'])} {ci}",
                 ", ".join(_fmt(s, "–") for s in v["steps_to_val99"]),
                 _fmt(v["median_samples_to_val99"]), _fmt(v["median_memorization_step"], "–"),
                 _fmt(v["median_delay"], "–"),
                 f"{sum(1 for g in v.get('grokked') or [] if g)}/{len(v.get('grokked') or [])}", vs,
                 html.escape(v.get("code") or "unknown")]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (f"<table class=cmp><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
            f"<p class=note>{_DEFINITIONS}</p>")


def steps_figure(summary: dict[str, Any]) -> go.Figure:
    """Steps to 99% validation accuracy per seed and variant; runs that never got there are drawn
    at their last step with an x."""
    fig = go.Figure()
    for i, v in enumerate(summary["variants"]):
        hit = [(s, seed) for s, seed in zip(v["steps_to_val99"], v["seeds"]) if s is not None]
        miss = [(n, seed) for s, n, seed in zip(v["steps_to_val99"], v["steps"], v["seeds"]) if s is None]
        color = COLORS[i % len(COLORS)]
        fig.add_scatter(x=[s for s, _ in hit], y=[v["name"]] * len(hit), mode="markers", showlegend=False,
                        marker={"size": 10, "color": color}, text=[f"seed {k}" for _, k in hit])
        if miss:
            fig.add_scatter(x=[s for s, _ in miss], y=[v["name"]] * len(miss), mode="markers", showlegend=False,
                            marker={"size": 10, "color": color, "symbol": "x"},
                            text=[f"seed {k}: never (budget)" for _, k in miss])
        if v["median_steps_to_val99"] is not None:
            fig.add_scatter(x=[v["median_steps_to_val99"]], y=[v["name"]], mode="markers", showlegend=False,
                            marker={"size": 18, "color": color, "symbol": "line-ns-open", "line": {"width": 3}},
                            text=["median"])
    fig.update_layout(title="steps to 99% validation accuracy (| median, x never within the budget)",
                      template="plotly_white", height=120 + 36 * len(summary["variants"]),
                      xaxis={"title": "step", "type": "log"}, yaxis={"autorange": "reversed"},
                      margin={"l": 160, "r": 20, "t": 60, "b": 40})
    return fig


def variant_figures(exp_dir: Path, v: dict[str, Any]) -> list[go.Figure]:
    curves = go.Figure()
    measures = make_subplots(rows=2, cols=2, subplot_titles=[t for _, t, _ in MEASURES],
                             horizontal_spacing=0.08, vertical_spacing=0.15)
    has_measures = False
    for j, seed in enumerate(v["seeds"]):
        color = COLORS[j % len(COLORS)]
        with RunStore.reader(run_dir_for(exp_dir, v["name"], seed)) as store:
            for key, width, dash, name in (("grok/train/acc", 1, "dot", "train"), ("grok/val/acc", 2.5, None, "val")):
                x, y = downsample(*store.series(key), max_points=MAX_POINTS)
                keep = x > 0  # log axis
                curves.add_scatter(x=x[keep], y=y[keep], mode="lines", name=f"s{seed} {name}",
                                   legendgroup=f"s{seed}", line={"color": color, "width": width, "dash": dash})
            ended = {e.step: e.data.get("reason") for e in store.events("stage_end")}  # budget, threshold, ...
            for e in store.events("stage_start"):
                if e.data.get("index", 0) > 0 and e.step > 0:
                    why = f" ({html.escape(str(ended[e.step]))})" if e.step in ended else ""
                    curves.add_vline(x=e.step, line={"color": color, "width": 1, "dash": "dash"},
                                     annotation_text=f"→ {html.escape(str(e.data.get('stage')))}{why}",
                                     annotation_font={"size": 9, "color": color})
            for e in store.events("grok_target"):
                if e.data.get("target") == "val99":
                    curves.add_scatter(x=[e.step], y=[e.data.get("val_acc")], mode="markers", showlegend=False,
                                       legendgroup=f"s{seed}", marker={"color": color, "size": 9, "symbol": "star"})
            for k, (key, _, log_y) in enumerate(MEASURES):
                x, y = downsample(*store.series(key), max_points=MAX_POINTS)
                keep = x > 0
                has_measures |= bool(keep.any())
                measures.add_scatter(x=x[keep], y=y[keep], mode="lines+markers", showlegend=False,
                                     line={"color": color, "width": 1.5}, marker={"size": 3},
                                     row=k // 2 + 1, col=k % 2 + 1)
                if log_y:
                    measures.update_yaxes(type="log", row=k // 2 + 1, col=k % 2 + 1)
    name = html.escape(v["name"])
    curves.update_layout(title=f"{name}: accuracy per seed (dotted train, solid validation; ★ 99%; "
                               "dashed: stage switch)", template="plotly_white", height=420,
                         xaxis={"title": "step", "type": "log"}, yaxis={"title": "accuracy", "range": [0, 1.02]})
    figs = [curves]
    if has_measures:
        measures.update_xaxes(type="log")
        measures.update_layout(title=f"{name}: progress measures per seed", template="plotly_white",
                               height=520, margin={"t": 80})
        figs.append(measures)
    return figs


_DEFINITIONS = (
    "<b>Steps to 95%/99%</b>: the first evaluation at which validation accuracy reached it (evaluations every "
    "eval.every steps); the median over seeds with a percentile-bootstrap 95% interval, a seed that never got "
    "there counting as infinite (\"never\"). <b>Samples</b>: training examples through forward/backward until then "
    "(matched compute). <b>Generalised</b>: share of seeds at 99% within the budget. <b>Memorised at</b>: first "
    "evaluation with train accuracy ≥ 99%; <b>delay</b>: steps from memorised to 99% validation; <b>grokked</b>: "
    "seeds whose delay is real (validation not already half-way when train memorised, a delay at least the time "
    "to memorise and 5% of the run: the rule handhold analyze applies). "
    "<b>vs baseline</b>: the baseline's median divided by this variant's (above 1: faster), against the plain "
    "variant on the same task; <b>faster on</b>: seeds where this variant reached 99% in fewer steps than the "
    "baseline at the same seed (same split, same initialisation). <b>Code</b>: the handhold version and git commit "
    "that made the row's runs (\"mixed\" when they differ; +dirty: uncommitted changes).")

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1250px; color: #222; }}
h1 {{ font-size: 1.4rem; }} h2 {{ font-size: 1.1rem; margin-top: 2rem; }}
.note, footer {{ color: #666; font-size: .8rem; }}
table.cmp {{ border-collapse: collapse; font-size: .85rem; font-variant-numeric: tabular-nums; }}
table.cmp th, table.cmp td {{ border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: right; vertical-align: top; }}
table.cmp td:first-child, table.cmp td:nth-child(2) {{ text-align: left; }}
</style></head>
<body>
{body}
</body></html>
"""
