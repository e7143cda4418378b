"""What the pages add so a reader is not fooled by a noisy eval: noise bands, and the readings.

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
from ..runstore.db import RunStore

BAND_DRAWS = 400


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


_BAND_CACHE: dict[tuple[str, int], dict[str, tuple[list, list, list]]] = {}


def cached_bands(store: RunStore) -> dict[str, tuple[list, list, list]]:
    """:func:`noise_bands`, computed once per run and number of benchmark evals (a live page asks often)."""
    n = store.query("SELECT COUNT(*) FROM events WHERE kind = ?", (EVENT,)).fetchone()[0]
    key = (str(store.path), int(n))
    if key not in _BAND_CACHE:
        if len(_BAND_CACHE) > 64:
            _BAND_CACHE.clear()
        _BAND_CACHE[key] = noise_bands(store) if n else {}
    return _BAND_CACHE[key]


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
