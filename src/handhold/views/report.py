"""``handhold report``: one self-contained HTML file per run, readable offline and easy to share.

The stage table first, then the family panel (reasoning vs standard), the tasks, the loss per
source, then one panel per other metric family; every panel shows the stages as bands so a curve
can be read against the curriculum, and the phase marks with a toggle per kind. Then the share of
sound reasoning among wrong answers (:mod:`.review`). It reads the run
store only, so it works on a run that is still training or whose trainer died.
"""

from __future__ import annotations

import html
import json
import os
import time
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from ..plotting import MAX_POINTS, PLOTLY_CONFIG, downsample, smooth  # noqa: F401 - downsample: public here too
from ..runstore.db import RunStore, diagnosed
from ..summary import StageRow, stage_table
from .analysis import load_phases
from .marks import mark_kinds
from ..roles import stored_roles
from .panels import marked_events, panel_layout, panel_specs
from .readings import band_traces, noise_bands, readings_html


MAX_FIGURE_KEYS = 300  # curves drawn in one report


def write_report(run_dir: str | os.PathLike[str], out: Path | None = None) -> Path:
    """Write the report (default ``<run_dir>/report.html``) and return its path.

    Written to a temporary file and renamed, so a browser or a dashboard never sees half a file.
    """
    from ..runstore.listing import run_info  # knows when a "running" run's trainer is gone

    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / "report.html"
    info = run_info(run_dir)
    with diagnosed(run_dir), RunStore.reader(run_dir) as store:  # a damaged store: one line
        rows = stage_table(store)
        total_keys = store.some_metric_keys(0)[1]
        phases = load_phases(store)
        figures = build_figures(store, rows=rows, phases=phases)
        folded = _folded(store)
        timeline = timeline_html(store)
        review = review_html(store, run_dir, rows, include_plotlyjs=not figures)
    title = f"{info.name} — {info.status}, step {info.last_step if info.last_step is not None else '–'}"
    body = [f"<h1>{html.escape(title)}</h1>"]
    if info.reason:
        body.append(f"<p class='meta'>{html.escape(str(info.reason))}</p>")
    body += ["<h2>Stages</h2>", stage_table_html(rows)]
    readings = readings_html(phases)  # the essay's table and the benchmark changes, with their noise
    if readings:
        body += ["<h2>Readings</h2>", readings]
    body.append("<h2>Curves</h2>")
    if total_keys > MAX_FIGURE_KEYS:  # a run of a million metrics: a bounded report that says so
        body.append(f"<p class='meta'>{total_keys:,} metrics: the curves below draw {MAX_FIGURE_KEYS:,} "
                    "of them (the losses, then the first by name); <code>handhold analyze RUN --metric "
                    "GLOB</code> or the dashboard read any other</p>")
    if not figures:
        body.append("<p>No metrics logged yet.</p>")
    elif any(n.startswith("phase:") for fig in figures for n in _mark_names(fig)):
        body.append(mark_toggles_html())
    for i, fig in enumerate(figures):
        plot = fig.to_html(full_html=False, include_plotlyjs=i == 0, config=PLOTLY_CONFIG,
                           default_height=f"{fig.layout.height or 450}px")
        body.append(f"<details><summary>{html.escape(str(fig.layout.title.text or ''))}</summary>{plot}</details>"
                    if i in folded else plot)
    if review:
        body += ["<h2>Wrong-answer review</h2>", review]
    body += ["<h2>Probe timeline</h2>", timeline]
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
                  max_points: int = MAX_POINTS, phases: dict | None = None) -> list[go.Figure]:
    """The report's figures, the dashboard's panels (:mod:`.panels`) filled from the store.

    Train curves are lightly smoothed, the others reduced to min/max per bucket. Every figure
    gets the stage bands, event lines and, when the phases analysis is there, its marks.
    """
    rows = stage_table(store) if rows is None else rows
    phases = load_phases(store) if phases is None else phases
    events = marked_events(store)
    figures = []
    bands = noise_bands(store)
    keys, _ = store.some_metric_keys(MAX_FIGURE_KEYS, first=("train/loss", "eval/loss/"))
    for panel in panel_specs(keys, stored_roles(store.meta())):
        fig = go.Figure(layout=panel_layout(panel, rows, events, phases if phases.get("available") else None))
        for trace in panel.traces:
            reduce = smooth if trace.role in ("train", "total") else downsample
            x, y = reduce(*store.series(trace.key), max_points=max_points)
            mode = "lines" if trace.role in ("train", "total") else _mode(x)
            if trace.key in bands:  # the 95% band of its documents, under the curve
                color = (trace.style.get("line") or {}).get("color")
                for spec in band_traces(trace.key, bands[trace.key], color):
                    fig.add_scatter(**spec, **{k: v for k, v in trace.style.items() if k in ("xaxis", "yaxis")})
            fig.add_scatter(x=x, y=y, mode=mode, **trace.style)
        figures.append(fig)
    return figures


def _folded(store: RunStore) -> set[int]:
    """Indices of the figures shown folded (the schedule and system panel)."""
    return {i for i, p in enumerate(panel_specs(store.metric_keys(), stored_roles(store.meta()))) if p.collapsed}


def _mark_names(fig: go.Figure) -> list[str]:
    return [item.name or "" for item in (*fig.layout.shapes, *fig.layout.annotations)]


def _mode(x: np.ndarray) -> str:
    return "lines+markers" if len(x) <= 200 else "lines"


# ------------------------------------------------------------------------------- the page
def mark_toggles_html() -> str:
    """One checkbox per kind of phase mark, driving every figure of the page (the dashboard's
    own ``marks.js``, inlined, so the report stays one offline file)."""
    script = (Path(__file__).parent / "static" / "marks.js").read_text(encoding="utf-8")
    kinds = json.dumps(mark_kinds()).replace("</", "<\\/")
    return f"""<div id=mark-toggles class=marks></div>
<script>{script}
(() => {{
  const kinds = {kinds};
  const figs = () => [...document.querySelectorAll(".plotly-graph-div")];
  const draw = (off) => figs().forEach((gd) => {{
    const l = HandholdMarks.apply(gd.layout, kinds, off);
    Plotly.relayout(gd, {{shapes: l.shapes, annotations: l.annotations}});
  }});
  window.addEventListener("load", () => {{
    const counts = HandholdMarks.count(figs().map((gd) => gd.layout), kinds);
    HandholdMarks.bar(document.getElementById("mark-toggles"), kinds, counts, draw);
    if (HandholdMarks.hidden().size) draw(HandholdMarks.hidden());
  }});
}})();
</script>"""


def review_html(store: RunStore, run_dir: Path, stages: list[StageRow] = (), *,
                include_plotlyjs: bool = False) -> str:
    """The share of sound reasoning among wrong answers, per task and step, with its Wilson 95%
    interval: the dashboard's figure, then a table ('' when the run has no wrong answers)."""
    from .review import ALL_TASKS, ShareRow, share_figure, share_rows, wrong_answers

    items, notes = wrong_answers(store, run_dir)
    rows = share_rows(items)
    if not rows:
        return ""
    fig = go.Figure(**share_figure(rows, stages))
    chart = fig.to_html(full_html=False, include_plotlyjs=include_plotlyjs, config=PLOTLY_CONFIG,
                        default_height=f"{fig.layout.height}px")
    tasks = sorted({r.task for r in rows}, key=lambda t: (t == ALL_TASKS, t))
    cells = {(r.step, r.task): r for r in rows}

    def cell(r: ShareRow | None) -> str:
        if r is None:
            return "<td></td>"
        labelled = r.sound + r.unsound
        share = "–" if r.share is None else \
            f"<b>{100 * r.share:.0f}%</b> <span class=range>({100 * r.low:.0f}–{100 * r.high:.0f}%)</span>"
        extra = [f"{r.human} by hand"] if r.human else []
        extra += [f"{r.unlabelled} unlabelled"] if r.unlabelled else []
        return (f"<td title='{r.sound} sound, {r.unsound} unsound of {r.wrong} wrong'>{share} "
                f"<span class=range>{r.sound}/{labelled}{'; ' + ', '.join(extra) if extra else ''}</span></td>")

    head = "".join(f"<th>{html.escape(t)}</th>" for t in tasks)
    trs = "".join(f"<tr><td>{step:,}</td>" + "".join(cell(cells.get((step, t))) for t in tasks) + "</tr>"
                  for step in sorted({r.step for r in rows}))
    return (chart + f"<table class='stages review'><thead><tr><th>step</th>{head}</tr></thead><tbody>{trs}</tbody></table>"
            "<p class=note>Share of sound reasoning among the labelled wrong answers of each task at each "
            "step, with its Wilson 95% interval, then sound/labelled. Labels not by hand are automatic: the "
            "consistency of the choice with the reasoning's own conclusion (benchmarks), or the audit of "
            "the chain (the procedural suite). Label the answers yourself in the dashboard "
            "(<code>handhold serve</code>), or list the shares with <code>handhold review RUN</code>."
            + "".join(f" {html.escape(n)}." for n in notes) + "</p>")


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


def timeline_html(store: RunStore, kinds: tuple[str, ...] = ("probe", "chat"),
                  limit: int = 3000) -> str:
    """Generations by step for each prompt (probes, then chats), newest ``limit`` rows, with a
    search box that filters rows in the page (no server needed)."""
    marks = ",".join("?" * len(kinds))
    rows = store.query(
        f"SELECT step, kind, prompt, text FROM samples WHERE kind IN ({marks}) "
        "ORDER BY step DESC, rowid DESC LIMIT ?", (*kinds, limit)).fetchall()
    if not rows:
        return "<p>No probe generations in this run.</p>"
    groups: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for step, kind, prompt, text in reversed(rows):
        groups.setdefault((kind, prompt), []).append((step, text))
    blocks = []
    for i, ((kind, prompt), items) in enumerate(sorted(groups.items(), key=lambda g: kinds.index(g[0][0]))):
        trs = "".join(f"<tr><td class=step>{step:,}</td><td class=gen>{html.escape(text)}</td></tr>"
                      for step, text in items)
        blocks.append(f"<details{' open' if i < 3 else ''}><summary>{html.escape(prompt)} "
                      f"<span class=range>{kind} · {len(items)}</span></summary>"
                      f"<table class=timeline>{trs}</table></details>")
    return ("<input id=tl-search type=search placeholder='search generations' oninput=\"const q=this.value"
            ".toLowerCase();document.querySelectorAll('table.timeline tr').forEach(r=>r.hidden=!!q&&"
            "!r.textContent.toLowerCase().includes(q))\">" + "".join(blocks))


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
details {{ margin: .3rem 0; }} summary {{ cursor: pointer; font-weight: 600; white-space: pre-wrap; }}
table.timeline {{ border-collapse: collapse; font-size: .85rem; width: 100%; }}
table.readings {{ border-collapse: collapse; font-size: .88rem; }}
table.readings th, table.readings td {{ border-bottom: 1px solid #ddd; padding: .25rem .6rem; text-align: left; vertical-align: top; }}
table.timeline td {{ border-top: 1px solid #eee; padding: .2rem .5rem; vertical-align: top; }}
td.step {{ text-align: right; color: #666; width: 5rem; }} td.gen {{ white-space: pre-wrap; font-family: monospace; }}
.marks {{ display: flex; gap: .9rem; font-size: .85rem; margin: .4rem 0; }} .mark-count {{ color: #888; }}
table.review td:nth-child(2) {{ text-align: left; }}
.range {{ color: #888; font-size: .8rem; }} .up {{ color: #c0392b; }} .down {{ color: #1e8449; }}
</style></head>
<body>
{body}
</body></html>
"""
