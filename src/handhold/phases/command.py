"""``handhold analyze SOURCE``: the phases of any set of curves, as a table, JSON or an HTML plot.

SOURCE is a run directory, a CSV file (a ``step`` column, one column per metric, optionally a
``stage`` column) or a TensorBoard log directory. Bad input is one line naming the file and the
problem, exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

TREND_COLORS = {"rising": "rgba(46,160,67,0.10)", "plateau": "rgba(128,128,128,0.10)",
                "declining": "rgba(31,95,139,0.10)"}


def analyze(
    source: Annotated[Path, typer.Argument(help="a run directory, a CSV file or a TensorBoard log directory")],
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON document instead of tables")] = False,
    metric: Annotated[Optional[list[str]], typer.Option(
        "--metric", "-m", help="a metric to analyse (a name or a glob such as 'eval/*'); repeatable")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="also write a self-contained HTML plot")] = None,
    pair: Annotated[Optional[list[str]], typer.Option(
        "--pair", help="a train/validation pair TRAIN:VAL for grokking (pairs are also found by name)")] = None,
    penalty: Annotated[Optional[float], typer.Option(
        help="price of a change point, in noise units (higher: fewer change points)")] = None,
    lower_better: Annotated[Optional[list[str]], typer.Option(
        "--lower-better", help="a metric for which lower is better (overrides the name)")] = None,
    higher_better: Annotated[Optional[list[str]], typer.Option(
        "--higher-better", help="a metric for which higher is better (overrides the name)")] = None,
    acc_level: Annotated[float, typer.Option(
        "--acc-level", help="accuracy that counts as memorized (train) / generalized (validation)")] = 0.99,
    role: Annotated[Optional[list[str]], typer.Option(
        "--role", help="KEY=ROLE (signal, schedule or system; KEY may be a glob): only signals are read; "
                       "repeatable")] = None,
    effect: Annotated[float, typer.Option(
        "--effect", help="the benchmark change to size the documents needed for (0.05 = 5 points)")] = 0.05,
) -> None:
    """Change points, trends, shocks, divergences and grokking in a run, a CSV or TensorBoard logs."""
    from ..terminal import fail as _fail
    from .analyze import analyze as analyze_series
    import numpy as np

    from .prepare import too_large
    from .segment import PENALTY
    from .sources import SourceError, load_source, select

    from ..roles import parse_flags

    try:
        try:
            roles = parse_flags(role or [])
        except ValueError as exc:
            raise SourceError(str(exc)) from None
        if not effect > 0:
            raise SourceError(f"--effect must be > 0 (got {effect})")
        loaded = load_source(source)
        series = select(loaded.series, metric, loaded.origin) if metric else loaded.default(roles)
        pairs = [_pair(p, loaded.series, loaded.origin) for p in pair or []]
        for t, v in pairs:
            series.setdefault(t, loaded.series[t])
            series.setdefault(v, loaded.series[v])
        directions = {**{k: "lower" for k in lower_better or []}, **{k: "higher" for k in higher_better or []}}
        unknown = [k for k in directions if k not in loaded.series]
        if unknown:
            raise SourceError(f"{loaded.origin}: no metric {unknown[0]!r} (from --lower-better/--higher-better)")
        if penalty is not None and not penalty > 0:
            raise SourceError(f"--penalty must be > 0 (got {penalty})")
        for name, (_, values) in series.items():
            problem = too_large(name, np.asarray(values, dtype=np.float64))
            if problem:
                raise SourceError(f"{loaded.origin}: {problem}")
        if not 0 < acc_level <= 1:
            raise SourceError(f"--acc-level must be in (0, 1] (got {acc_level})")
    except SourceError as exc:
        _fail(str(exc))
    doc = analyze_series(series, stage_switches=loaded.switches, pairs=pairs, directions=directions,
                         penalty=PENALTY if penalty is None else penalty, acc_level=acc_level,
                         docs=loaded.docs, stages=loaded.stages, effect=effect)
    if loaded.stages:
        from .analyze import _finite

        doc["stages"] = _finite(loaded.stages)
    if loaded.note:  # more metrics than one analysis takes: say which were left out
        typer.echo(f"note: {loaded.note}", err=True)
    if plot is not None:
        write_plot(plot, series, doc, title=f"handhold analyze {source}")
    if json_out:
        typer.echo(json.dumps(doc))
        return
    from rich.console import Console

    console = Console()
    for table in tables(doc):
        console.print(table)
    if plot is not None:
        console.print(f"plot: {plot}")


def _pair(text: str, series: dict[str, Any], origin: str) -> tuple[str, str]:
    from .sources import SourceError

    for i in [i for i, c in enumerate(text) if c == ":"]:
        train, val = text[:i], text[i + 1:]
        if train in series and val in series:
            return train, val
    if ":" not in text:
        raise SourceError(f"--pair {text}: expected TRAIN:VAL, e.g. train/acc:val/acc")
    missing = next(n for n in text.rsplit(":", 1) if n not in series)
    raise SourceError(f"{origin}: no metric {missing!r} (from --pair {text})")


def _fmt(v: Any) -> str:
    from .spec import fmt

    return fmt(v)


def tables(doc: dict[str, Any]) -> list[Any]:
    """Rich tables: one row per metric (its phases and shocks), the stages, then one table per
    detector section (divergences, grokking, ...: the columns its registry entry declares)."""
    from rich.table import Table

    out = []
    t = Table(title="phases" + (f" (stage switches at {', '.join(map(_fmt, doc['stage_switches']))})"
                                if doc["stage_switches"] else ""), title_justify="left", show_lines=True)
    for col in ("metric", "phases (steps: trend, slope per step)", "shocks (step: peak vs baseline, back at)"):
        t.add_column(col, overflow="fold")
    for name, m in doc["metrics"].items():
        phases = "\n".join(
            f"{_fmt(s['start'])}-{_fmt(s['end'])}: {s['trend']}{' (mastery)' if s.get('mastery') else ''}, "
            f"{s['slope']:+.3g}" + (f" ± {s['slope_stderr']:.2g}" if s.get("slope_stderr") is not None else "")
            + (f"\n  [dim]{s['noise']['reading']}[/]" if isinstance(s.get("noise"), dict) else "")
            for s in m["segments"]) or "(no data)"
        shocks = "\n".join(f"{_fmt(s['step'])} {s.get('kind', '')}: {s['peak']:.4g} vs {s['baseline']:.4g}, "
                           f"back {'never' if s['recovered_at'] is None else 'at ' + _fmt(s['recovered_at'])}"
                           for s in m["shocks"])
        direction = {"lower": "lower is better", "higher": "higher is better"}.get(m.get("direction"), "")
        t.add_row(f"{name}\n[dim]{m.get('points', 0)} points{', ' + direction if direction else ''}[/]",
                  phases, shocks)
    out.append(t)
    if doc.get("stages"):
        st = Table("stage", "steps", "ended", "evidence", title="stages", title_justify="left")
        for row in doc["stages"]:
            ev = ", ".join(f"{k}={_fmt(v) if isinstance(v, (int, float)) else v}"
                           for k, v in row["evidence"].items() if not isinstance(v, (dict, list)))
            st.add_row(row["stage"], f"{_fmt(row['start'])}-{_fmt(row['end'])}", str(row["reason"]), ev)
        out.append(st)
    from .registry import DETECTORS

    for name, detector in DETECTORS.items():  # divergences, grokking, ...: as their entries say
        rows = detector.clean(doc.get(name))
        if not rows:
            continue
        if not detector.columns:  # a detector that declares no columns: every field, plainly
            out.append(_plain_table(name, rows))
            continue
        table = Table(*[c.header for c in detector.columns], title=detector.title or name, title_justify="left")
        for row in rows:
            table.add_row(*[c.cell(row) for c in detector.columns])
        out.append(table)
    return out


def _plain_table(title: str, rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    cols = list(dict.fromkeys(k for row in rows for k in row))
    table = Table(*cols, title=title, title_justify="left")
    for row in rows:
        table.add_row(*[_fmt(row.get(c)) if not isinstance(row.get(c), (dict, list))
                        else json.dumps(row.get(c)) for c in cols])
    return table


def write_plot(path: Path, series: dict[str, Any], doc: dict[str, Any], *, title: str) -> Path:
    """One panel per metric: the curve (binned), phases as bands, change points, shocks, and the
    steps of detectors drawn as lines (memorized / generalized)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from .prepare import prepare

    names = list(doc["metrics"])
    fig = make_subplots(rows=max(1, len(names)), cols=1, subplot_titles=names or ["(no metrics)"],
                        vertical_spacing=min(0.08, 0.5 / max(1, len(names))))
    for row, name in enumerate(names, start=1):
        m = doc["metrics"][name]
        prep = prepare(*series[name])
        fig.add_trace(go.Scatter(x=prep.x, y=prep.y, mode="lines", name=name, line={"width": 1.5}),
                      row=row, col=1)
        for seg in m["segments"]:
            fig.add_vrect(x0=seg["start"], x1=seg["end"], fillcolor=TREND_COLORS[seg["trend"]], line_width=0,
                          annotation_text=seg["trend"] + (" ✓" if seg.get("mastery") else ""),
                          annotation_position="top left", annotation_font_size=10, row=row, col=1)
        for cp in m["changepoints"]:
            dash = "dash" if cp in doc["stage_switches"] else "dot"
            fig.add_vline(x=cp, line_dash=dash, line_width=1, line_color="#555", row=row, col=1)
        if m["shocks"]:
            fig.add_trace(go.Scatter(x=[s["step"] for s in m["shocks"]], y=[s["peak"] for s in m["shocks"]],
                                     mode="markers", marker={"symbol": "triangle-up", "size": 9, "color": "#c0392b"},
                                     name=f"{name} shocks", showlegend=False,
                                     hovertext=[f"{s.get('kind', 'shock')}: peak {s['peak']:.4g} vs "
                                                f"{s['baseline']:.4g}" for s in m["shocks"]]), row=row, col=1)
        for entry, what in _step_marks(doc, name):  # memorized / generalized, ...
            fig.add_vline(x=entry[what], line_color="#8e44ad", line_dash="dash", row=row, col=1,
                          annotation_text=what.split("_")[0], annotation_font_size=10)
    fig.update_layout(title=title, height=260 * max(1, len(names)) + 80, showlegend=False,
                      template="plotly_white", margin={"l": 60, "r": 20, "t": 80, "b": 40})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)
    return path


def _step_marks(doc: dict[str, Any], name: str) -> list[tuple[dict[str, Any], str]]:
    """(entry, step field) of every detector drawn as lines at steps whose entry is about ``name``."""
    from .registry import DETECTORS
    from .spec import Lines, keys_of

    out = []
    for section, detector in DETECTORS.items():
        style = detector.marks
        if not isinstance(style, Lines):
            continue
        for entry in detector.clean(doc.get(section)):
            if name in keys_of(entry, style.keys) and style.draws(entry):
                out += [(entry, what) for what in style.steps if entry.get(what) is not None]
    return out
