"""``handhold report``: one self-contained HTML file per run, readable offline and easy to share.

The stage table first, then the loss per source, then one panel per metric family; every panel
shows the stages as bands so a curve can be read against the curriculum. It reads the run
store only, so it works on a run that is still training or whose trainer died.
"""

from __future__ import annotations

import html
import math
import os
import time
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ..store import Event, RunStore
from ..summary import StageRow, stage_table

MAX_POINTS = 5000  # per series: keeps a 1M-step run's report small and quick to open
COLORS = qualitative.Plotly
STAGE_FILLS = ("rgba(99, 110, 250, 0.09)", "rgba(0, 204, 150, 0.09)")
EVENT_LINES = {"nan": {"color": "#d62728", "width": 2},
               "resume": {"color": "#7f7f7f", "width": 1, "dash": "dot"}}
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


def write_report(run_dir: str | os.PathLike[str], out: Path | None = None) -> Path:
    """Write the report (default ``<run_dir>/report.html``) and return its path.

    Written to a temporary file and renamed, so a browser or a dashboard never sees half a file.
    """
    from ..runs import run_info  # knows when a "running" run's trainer is gone

    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / "report.html"
    info = run_info(run_dir)
    with RunStore.reader(run_dir) as store:
        rows = stage_table(store)
        figures = build_figures(store, rows=rows)
    title = f"{info.name} — {info.status}, step {info.last_step if info.last_step is not None else '–'}"
    body = [f"<h1>{html.escape(title)}</h1>"]
    if info.reason:
        body.append(f"<p class='meta'>{html.escape(str(info.reason))}</p>")
    body += ["<h2>Stages</h2>", stage_table_html(rows), "<h2>Curves</h2>"]
    if not figures:
        body.append("<p>No metrics logged yet.</p>")
    for i, fig in enumerate(figures):
        body.append(fig.to_html(full_html=False, include_plotlyjs=i == 0, config=PLOTLY_CONFIG,
                                default_height=f"{fig.layout.height or 450}px"))
    body.append(f"<footer>handhold report · {html.escape(str(run_dir))} · "
                f"{time.strftime('%Y-%m-%d %H:%M:%S')}</footer>")
    page = _PAGE.format(title=html.escape(title), body="\n".join(body))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out


# ------------------------------------------------------------------------------ figures
def build_figures(store: RunStore, *, rows: list[StageRow] | None = None,
                  max_points: int = MAX_POINTS) -> list[go.Figure]:
    """The report's figures: loss per source first, then one per metric family.

    A family is the key up to its last slash (``train/lr`` -> ``train``, ``eval/arith/acc`` ->
    ``eval/arith``). Every figure gets the stage bands and event lines.
    """
    rows = stage_table(store) if rows is None else rows
    keys = store.metric_keys()
    train_src = _leaves(keys, "train/loss/")
    eval_src = _leaves(keys, "eval/loss/")
    sources = sorted(set(train_src) | set(eval_src))
    colors = {s: COLORS[i % len(COLORS)] for i, s in enumerate(sources)}
    loss_keys = {"train/loss", *train_src.values(), *eval_src.values()}

    figures = []
    if loss_keys & set(keys):
        figures.append(_loss_figure(store, "train/loss" in keys, train_src, eval_src, colors, max_points))
    families: dict[str, list[str]] = {}
    for key in keys:
        if key not in loss_keys:
            families.setdefault(key.rpartition("/")[0], []).append(key)
    # specific families (eval/arith) before the catch-all bags of scalars (eval, train, top level)
    for family in sorted(families, key=lambda f: ("/" not in f, f == "", f)):
        figures.append(_family_figure(store, family, families[family], colors, max_points))
    events = [e for e in store.events() if e.kind in EVENT_LINES]
    for fig in figures:
        _decorate(fig, rows, events)
    return figures


def _loss_figure(store: RunStore, overall: bool, train_src: dict[str, str], eval_src: dict[str, str],
                 colors: dict[str, str], max_points: int) -> go.Figure:
    """Train loss thin and lightly smoothed, held-out loss bold with markers; one color a source."""
    fig = go.Figure()
    if overall:
        x, y = smooth(*store.series("train/loss"), max_points=max_points)
        fig.add_scatter(x=x, y=y, name="all · train", mode="lines", visible="legendonly",
                        line={"color": "#7f7f7f", "width": 1})
    for s, color in colors.items():
        name = html.escape(s)
        if s in train_src:
            x, y = smooth(*store.series(train_src[s]), max_points=max_points)
            fig.add_scatter(x=x, y=y, name=f"{name} · train", mode="lines", legendgroup=name,
                            opacity=0.6, line={"color": color, "width": 1})
        if s in eval_src:
            x, y = downsample(*store.series(eval_src[s]), max_points=max_points)
            fig.add_scatter(x=x, y=y, name=f"{name} · eval", mode=_mode(x), legendgroup=name,
                            line={"color": color, "width": 2}, marker={"size": 5})
    fig.update_layout(title="loss per source (train: smoothed; eval: held out)", height=460)
    fig.update_yaxes(title_text="loss")
    return fig


def _family_figure(store: RunStore, family: str, keys: list[str], colors: dict[str, str],
                   max_points: int) -> go.Figure:
    """One panel per key, stacked on a shared step axis (their units differ), or one panel of
    overlaid curves when the keys are per source (``eval/acc/<source>``)."""
    leaves = [k.rpartition("/")[2] for k in keys]
    title = html.escape(family or "other")
    if len(keys) > 1 and all(leaf in colors for leaf in leaves):
        fig = go.Figure()
        for key, leaf in zip(keys, leaves):
            x, y = downsample(*store.series(key), max_points=max_points)
            fig.add_scatter(x=x, y=y, name=html.escape(leaf), mode=_mode(x),
                            line={"color": colors[leaf], "width": 2}, marker={"size": 5})
        fig.update_layout(title=title, height=360)
        return fig
    n = len(keys)
    height = 90 + 170 * n
    fig = make_subplots(rows=n, cols=1, shared_xaxes=True, vertical_spacing=min(0.3, 55 / height),
                        subplot_titles=[html.escape(leaf) for leaf in leaves])
    for i, key in enumerate(keys, start=1):
        x, y = downsample(*store.series(key), max_points=max_points)
        fig.add_scatter(x=x, y=y, name=html.escape(key), mode=_mode(x), showlegend=False,
                        line={"color": COLORS[(i - 1) % len(COLORS)], "width": 1.5}, marker={"size": 4},
                        row=i, col=1)
    fig.update_layout(title=title, height=height)
    return fig


def _decorate(fig: go.Figure, rows: list[StageRow], events: list[Event]) -> None:
    """Stage bands (alternating fills, name at the top) and event lines on every panel."""
    fig.update_layout(template="plotly_white", margin={"l": 60, "r": 20, "t": 60, "b": 40},
                      hovermode="x", legend={"groupclick": "toggleitem"})
    n = _panels(fig)
    if n > 1:
        fig.update_xaxes(title_text="step", row=n, col=1)
    else:
        fig.update_xaxes(title_text="step")
    for p in range(1, n + 1):
        xref, yref = ("x", "y domain") if p == 1 else (f"x{p}", f"y{p} domain")
        for j, row in enumerate(rows):
            fig.add_shape(type="rect", xref=xref, yref=yref, x0=row.start, x1=row.end, y0=0, y1=1,
                          fillcolor=STAGE_FILLS[j % 2], line={"width": 0}, layer="below")
            if p == 1:
                fig.add_annotation(xref=xref, yref=yref, x=(row.start + row.end) / 2, y=1,
                                   yanchor="top", showarrow=False, text=html.escape(row.name),
                                   font={"size": 11, "color": "#555"})
        for e in events:
            fig.add_shape(type="line", xref=xref, yref=yref, x0=e.step, x1=e.step, y0=0, y1=1,
                          line=EVENT_LINES[e.kind])
            if p == 1:
                fig.add_annotation(xref=xref, yref=yref, x=e.step, y=0, yanchor="bottom", xanchor="left",
                                   showarrow=False, text=html.escape(e.kind),
                                   font={"size": 10, "color": EVENT_LINES[e.kind]["color"]})


def _panels(fig: go.Figure) -> int:
    return max(1, sum(1 for k in fig.layout.to_plotly_json() if k.startswith("yaxis")))


def _leaves(keys: list[str], prefix: str) -> dict[str, str]:
    """source -> key for keys ``<prefix><source>`` (one level only)."""
    return {k[len(prefix):]: k for k in keys
            if k.startswith(prefix) and k != prefix and "/" not in k[len(prefix):]}


def _mode(x: np.ndarray) -> str:
    return "lines+markers" if len(x) <= 200 else "lines"


# -------------------------------------------------------------------------- downsampling
def _finite(steps: list[int], values: list[float | None]) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(steps, dtype=np.int64)
    y = np.asarray(values, dtype=float)  # None -> nan
    ok = np.isfinite(y)
    return x[ok], y[ok]


def downsample(steps: list[int], values: list[float | None],
               max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points: the min and the max of equal buckets, in step order, so
    spikes (a grad-norm blow-up) survive. Missing values are dropped."""
    x, y = _finite(steps, values)
    n = len(x)
    if n <= max_points:
        return x, y
    buckets = max_points // 2
    size = math.ceil(n / buckets)
    grid = np.pad(y, (0, buckets * size - n), mode="edge").reshape(buckets, size)
    base = np.arange(buckets) * size
    idx = np.unique(np.minimum(np.concatenate([base + grid.argmin(1), base + grid.argmax(1)]), n - 1))
    return x[idx], y[idx]


def smooth(steps: list[int], values: list[float | None],
           max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """A light EMA for noisy train curves: bucket means down to ``max_points``, then an EMA whose
    window is ~1% of the points (at least 2), started at the first value so it is not biased."""
    x, y = _finite(steps, values)
    n = len(x)
    if n > max_points:
        edges = np.linspace(0, n, max_points + 1).astype(np.int64)
        edges = np.unique(edges[:-1])
        counts = np.diff(np.append(edges, n))
        y = np.add.reduceat(y, edges) / counts
        x = x[edges + counts // 2]
    if len(y) == 0:
        return x, y
    alpha = 2 / (max(2, len(y) // 100) + 1)
    out = np.empty_like(y)
    acc = y[0]
    for i, v in enumerate(y):
        acc += alpha * (v - acc)
        out[i] = acc
    return x, out


# ------------------------------------------------------------------------------- the page
def stage_table_html(rows: list[StageRow]) -> str:
    """The stage table as HTML; every string from the store is escaped."""
    if not rows:
        return "<p>No stage has started yet.</p>"
    sources = sorted({s for r in rows for s in (*r.final_loss, *r.jump)})
    n = max(1, len(sources))
    src_heads = "".join(f"<th>{html.escape(s)}</th>" for s in sources) * 3
    head = ("<tr><th rowspan=2>#</th><th rowspan=2>stage</th><th rowspan=2>steps</th>"
            "<th rowspan=2>tokens</th><th rowspan=2>end reason</th>"
            f"<th colspan={n}>final loss</th><th colspan={n}>jump at switch</th>"
            f"<th colspan={n}>recover steps</th></tr>"
            f"<tr>{src_heads}</tr>")
    body = []
    for r in rows:
        cells = [str(r.index), html.escape(r.name),
                 f"{r.steps:,} <span class=range>({r.start:,}–{r.end:,}{', open' if r.open else ''})</span>",
                 "" if r.tokens is None else f"{r.tokens:,}", html.escape(str(r.end_reason or ""))]
        for s in sources:
            v = r.final_loss.get(s)
            cells.append("" if v is None else f"{v:.4f}" + ("*" if r.final_from.get(s) == "train" else ""))
        for s in sources:
            v = r.jump.get(s)
            cells.append("" if v is None else f"<span class={'up' if v > 0 else 'down'}>{v:+.4f}</span>")
        for s in sources:
            cells.append("" if s not in r.recover_steps
                         else "never" if r.recover_steps[s] is None else f"{r.recover_steps[s]:,}")
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (f"<table class=stages><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"
            f"<p class=note>{_DEFINITIONS}</p>")


_DEFINITIONS = (
    "A stage's steps are (start, end]; an open stage ends at the last logged step. "
    "<b>Final loss</b>: held-out loss at the stage's last eval (* = no eval in the stage: train loss "
    "averaged over its last 10% of steps). <b>Jump</b>: first eval after the switch minus the last "
    "eval at or before it. <b>Recover steps</b>: steps from the switch until the held-out loss is "
    "back at or below its pre-switch level (0: no jump; never: not within the stage).")

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }}
h1 {{ font-size: 1.4rem; margin-bottom: .2rem; }} h2 {{ font-size: 1.1rem; margin-top: 2rem; }}
.meta, .note, footer {{ color: #666; font-size: .85rem; }}
table.stages {{ border-collapse: collapse; font-size: .9rem; font-variant-numeric: tabular-nums; }}
table.stages th, table.stages td {{ border-bottom: 1px solid #ddd; padding: .25rem .6rem; text-align: right; }}
table.stages td:nth-child(2), table.stages td:nth-child(5) {{ text-align: left; }}
.range {{ color: #888; font-size: .8rem; }} .up {{ color: #c0392b; }} .down {{ color: #1e8449; }}
</style></head>
<body>
{body}
</body></html>
"""
