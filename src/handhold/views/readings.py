"""What the pages add so a reader is not fooled: the bookkeeping panel, noise bands, and the readings.

- :func:`split_roles` / :func:`bookkeeping_panel`: schedule and system metrics (:mod:`handhold.roles`)
  leave the signal panels for one collapsed panel at the bottom, stacked, with SI ticks
  (``5.57T``, not ``5.5717140764165T``);
- :func:`noise_bands`: the 95% band of every benchmark key at every eval, from its documents
  (:mod:`handhold.doc_scores`: Wilson for an accuracy, the bootstrap otherwise);
- :func:`readings_html`: the per-stage benchmark changes and the essay's table, as the phases
  document has them (columns from :mod:`handhold.phases.registry`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from ..doc_scores import EVENT, read_events
from ..roles import SIGNAL, role_of
from ..runstore.db import RunStore

BOOKKEEPING = "bookkeeping"
TICKS = {"tickformat": ".3~s", "exponentformat": "SI"}
BAND_DRAWS = 400


def split_roles(keys: list[str], roles: Mapping[str, str] | None = None) -> tuple[list[str], list[str]]:
    """(signal keys, schedule and system keys), each in the order given."""
    sig, other = [], []
    for k in keys:
        (sig if role_of(k, roles) == SIGNAL else other).append(k)
    return sig, other


def bookkeeping_panel(keys: list[str], roles: Mapping[str, str] | None = None) -> Any:
    """One stacked panel of every schedule and system metric, collapsed until opened."""
    from .panels import COLORS, PanelSpec, TraceSpec, _axis

    if not keys:
        return None
    ordered = sorted(keys, key=lambda k: (role_of(k, roles), k))
    traces = [TraceSpec(k, "series", {
        "name": html.escape(k), "showlegend": False, "xaxis": _axis("x", i), "yaxis": _axis("y", i),
        "line": {"color": COLORS[(i - 1) % len(COLORS)], "width": 1.5}, "marker": {"size": 4}})
        for i, k in enumerate(ordered, start=1)]
    layout: dict[str, Any] = {"_subplot_titles": [html.escape(f"{k} ({role_of(k, roles)})") for k in ordered]}
    for i in range(1, len(ordered) + 1):
        layout[f"yaxis{'' if i == 1 else i}"] = dict(TICKS)
    return PanelSpec(BOOKKEEPING, "schedule and system (not read for phases, shocks or divergence)", traces,
                     rows=len(ordered), height=90 + 150 * len(ordered), layout=layout, collapsed=True)


def noise_bands(store: RunStore, keys: list[str] | None = None) -> dict[str, tuple[list, list, list]]:
    """``key -> (steps, lo, hi)``: the 95% band of each benchmark key at each of its evals."""
    wanted = set(keys) if keys is not None else None
    out: dict[str, tuple[list, list, list]] = {}
    for d in read_events(store.events(EVENT)):
        for key in d.keys():
            if wanted is not None and key not in wanted:
                continue
            lo, hi = d.band(key, draws=BAND_DRAWS)
            steps, los, his = out.setdefault(key, ([], [], []))
            steps.append(d.step)
            los.append(lo)
            his.append(hi)
    return out


def band_traces(key: str, band: tuple[list, list, list], color: str | None = None) -> list[dict[str, Any]]:
    """Two plotly scatter specs drawing the band under a curve (upper edge, then lower filled up to it)."""
    steps, lo, hi = band
    fill = "rgba(100,100,100,0.18)" if color is None else _alpha(color)
    edge = {"width": 0}
    return [{"x": steps, "y": hi, "mode": "lines", "line": edge, "hoverinfo": "skip", "showlegend": False,
             "name": f"{key} 95% band"},
            {"x": steps, "y": lo, "mode": "lines", "line": edge, "fill": "tonexty", "fillcolor": fill,
             "hoverinfo": "skip", "showlegend": False, "name": f"{key} 95% band"}]


def _alpha(color: str) -> str:
    c = color.lstrip("#")
    if len(c) != 6:
        return "rgba(100,100,100,0.18)"
    r, g, b = (int(c[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},0.18)"


def readings_html(phases: Mapping[str, Any]) -> str:
    """The benchmark changes per stage and the essay's table, as HTML tables (empty: nothing)."""
    if not phases.get("available"):
        return ""
    from ..phases.registry import DETECTORS

    parts = []
    for name in ("essay", "benchmark_changes"):
        det = DETECTORS.get(name)
        rows = det.clean(phases.get(name)) if det else []
        if not rows:
            continue
        head = "".join(f"<th>{html.escape(c.header)}</th>" for c in det.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_plain(c.cell(r)))}</td>" for c in det.columns)
                       + "</tr>" for r in rows)
        parts.append(f"<h3>{html.escape(det.title or name)}</h3><table class='readings'>"
                     f"<tr>{head}</tr>{body}</table>")
    return "\n".join(parts)


def _plain(text: str) -> str:
    """A table cell without rich markup (``[bold]...[/]``)."""
    import re

    return re.sub(r"\[/?[a-z ]*\]", "", str(text))
