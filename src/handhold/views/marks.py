"""Phase marks on a panel: what the phases document says, drawn where a person reads the curves.

Every mark is named ``phase:<...>`` so a page can toggle each kind (:func:`mark_kinds`). The
per-metric reading is drawn here: trend labels and change points of the panel's first analysed
key, one mark per burst of shocks (:func:`shock_groups`) along the top. Each detector section
is drawn as its registry entry says (:mod:`handhold.phases.registry`): a :class:`Band` along the
top edge (divergences), or :class:`Lines` at steps (memorized / generalized).
"""

from __future__ import annotations

import html
from typing import Any

from ..phases.registry import DETECTORS
from ..phases.spec import Band, Lines, keys_of
from ..summary import StageRow

SHOCK_COLOR = "#d62728"
TREND_MARKS = {"rising": "↗", "declining": "↘", "plateau": "→", "mastery": "✓"}
SHOCK_Y = 0.9  # shock marks sit in a row below the band along the top and the stage names
TOP_BAND = 0.025  # a detector's band: this share of the plot height, along the top edge
BURST_SHARE = 0.1  # a shock this far into a stage (share of its length) belongs to its switch
CLUSTER_SHARE = 0.02  # other shocks this close (share of the run) make one mark

# the per-metric kinds: toggle kind -> (what the page calls it, the mark names it covers)
METRIC_MARKS = {
    "trend": ("trend labels", ["phase:trend"]),
    "changepoint": ("change points", ["phase:changepoint"]),
    "shock": ("shocks", ["phase:shock"]),
}


def mark_kinds() -> list[dict[str, Any]]:
    """The toggles a page shows, one per kind of phase mark: the per-metric ones, then one per
    detector that draws (in registry order)."""
    kinds = [{"kind": k, "label": label, "names": names} for k, (label, names) in METRIC_MARKS.items()]
    return kinds + [{"kind": d.marks.kind, "label": d.marks.label, "names": d.marks.names}
                    for d in DETECTORS.values() if d.marks is not None]


def phase_marks(shapes: list, notes: list, phases: dict[str, Any], keys: list[str], xref: str,
                yaxis: str, *, label: bool, rows: list[StageRow] = ()) -> None:
    """Add the marks of ``phases`` that concern the panel's ``keys`` to ``shapes`` and ``notes``."""
    yref = f"{yaxis} domain"
    metrics = phases.get("metrics") or {}
    labelled = next((k for k in keys if metrics.get(k, {}).get("segments")), None)
    if labelled is not None:
        for seg in metrics[labelled]["segments"]:
            trend = str(seg.get("label") or seg.get("trend") or "")
            notes.append({"xref": xref, "yref": yref, "x": (seg["start"] + seg["end"]) / 2, "y": 0.84,
                          "showarrow": False, "text": html.escape(f"{TREND_MARKS.get(trend, '')} {trend}"),
                          "font": {"size": 10, "color": "#1f5f8b"}, "name": "phase:trend",
                          "hovertext": html.escape(f"{labelled}: {trend}, slope {seg.get('slope', 0):.3g}")})
        for cp in metrics[labelled].get("changepoints", []):
            shapes.append({"type": "line", "name": "phase:changepoint", "xref": xref, "yref": yref,
                           "x0": cp, "x1": cp, "y0": 0, "y1": 0.96,
                           "line": {"color": "#1f5f8b", "width": 1, "dash": "dot"}})
    shocks = [(key, shock) for key in keys for shock in metrics.get(key, {}).get("shocks", [])]
    for group in shock_groups(shocks, rows):
        n = len(group["shocks"])
        lines = [f"{key}: {shock.get('kind', 'shock')} at {shock['step']}, peak {shock['peak']:.4g} vs "
                 f"{_num(shock.get('baseline'))}, recovered "
                 f"{'never' if shock.get('recovered_at') is None else 'at ' + str(shock['recovered_at'])}"
                 for key, shock in group["shocks"]]
        where = "at the switch to " + group["stage"] if group["stage"] else f"at step {group['step']:g}"
        # a switch's burst is the story (bold); a loose spike is smaller, lighter
        mark, size, color = ("▼", 12, SHOCK_COLOR) if group["stage"] or any(
            s.get("kind") == "switch" for _, s in group["shocks"]) else ("▾", 11, "#e06666")
        notes.append({"xref": xref, "yref": yref, "x": group["step"], "y": SHOCK_Y, "yanchor": "middle",
                      "showarrow": False, "text": f"{mark}{n}" if n > 1 else mark, "name": "phase:shock",
                      "font": {"size": size, "color": color}, "bgcolor": "rgba(255,255,255,0.8)",
                      "hovertext": html.escape(f"{n} shock{'s' * (n != 1)} {where}") + "<br>"
                      + "<br>".join(html.escape(line) for line in lines)})
    for name, detector in DETECTORS.items():
        style = detector.marks
        if style is None:
            continue
        touching = [e for e in phases.get(name) or []
                    if isinstance(e, dict) and set(keys_of(e, style.keys)) & set(keys)]
        if isinstance(style, Band):
            _bands(shapes, notes, style, touching, xref, yref)
        elif isinstance(style, Lines):
            _lines(shapes, notes, style, touching, xref, yref)


def _bands(shapes: list, notes: list, style: Band, entries: list[dict[str, Any]], xref: str, yref: str) -> None:
    for band in _merged(entries, style):
        name = style.names[0]
        shapes.append({"type": "rect", "name": name, "xref": xref, "yref": yref,
                       "x0": band["start"], "x1": band["end"], "y0": 1 - TOP_BAND, "y1": 1,
                       "fillcolor": style.fill, "line": {"width": 0}, "layer": "above"})
        notes.append({"xref": xref, "yref": yref, "x": band["start"], "y": 1 - TOP_BAND / 2,
                      "xanchor": "left", "yanchor": "middle", "showarrow": False, "text": style.symbol,
                      "font": {"size": 9, "color": "#fff"}, "name": name,
                      "hovertext": "<br>".join(html.escape(style.hover(e)) for e in band["entries"])})


def _lines(shapes: list, notes: list, style: Lines, entries: list[dict[str, Any]], xref: str, yref: str) -> None:
    for entry in entries:
        if not style.draws(entry):  # e.g. grokking marks: only a real delay is drawn
            continue
        for what in style.steps:
            if entry.get(what) is None:
                continue
            shapes.append({"type": "line", "name": f"phase:{what}", "xref": xref, "yref": yref,
                           "x0": entry[what], "x1": entry[what], "y0": 0, "y1": 0.96, "line": style.line})
            notes.append({"xref": xref, "yref": yref, "x": entry[what], "y": 0.5, "textangle": -90,
                          "showarrow": False, "xanchor": "right", "name": f"phase:{what}",
                          "text": html.escape(style.text(entry, what)),
                          "hovertext": html.escape(style.hover(entry)),
                          "font": {"size": 10, "color": style.line["color"]}})


def shock_groups(shocks: list[tuple[str, dict[str, Any]]], rows: list[StageRow] = ()) -> list[dict[str, Any]]:
    """Group shocks into the marks a person reads: every shock at a stage switch or within the
    first ``BURST_SHARE`` of the stage after it is one burst on that switch (marked at the switch,
    ``stage`` naming the stage it switched to); other shocks within ``CLUSTER_SHARE`` of the run's
    length of each other make one mark. Returns ``[{"step", "stage", "shocks": [(key, shock)]}]``
    in step order."""
    switches = [(r.start, r.end, r.name) for r in list(rows)[1:]]
    span = (rows[-1].end - rows[0].start) if rows else 0
    on_switch: dict[float, dict[str, Any]] = {}
    loose = []
    for key, shock in sorted(shocks, key=lambda ks: ks[1]["step"]):
        step = shock["step"]
        home = next(((s, name) for s, e, name in switches
                     if s <= step <= s + max(1.0, BURST_SHARE * (e - s))), None)
        if home is None and shock.get("kind") == "switch":
            home = (step, "")
        if home is not None:
            on_switch.setdefault(home[0], {"step": home[0], "stage": home[1], "shocks": []})["shocks"].append((key, shock))
        else:
            loose.append((key, shock))
    groups = list(on_switch.values())
    window = max(1.0, CLUSTER_SHARE * span)
    for key, shock in loose:
        if groups and groups[-1].get("loose") and shock["step"] - groups[-1]["step"] <= window:
            groups[-1]["shocks"].append((key, shock))
        else:
            groups.append({"step": shock["step"], "stage": "", "shocks": [(key, shock)], "loose": True})
    for g in groups:
        g.pop("loose", None)
    return sorted(groups, key=lambda g: g["step"])



def _merged(entries: list[dict[str, Any]], style: Band) -> list[dict[str, Any]]:
    """Overlapping stretches as one band (with all their entries, for its hover text)."""
    bands: list[dict[str, Any]] = []
    for e in sorted(entries, key=lambda e: (e[style.start], e[style.end])):
        if bands and e[style.start] <= bands[-1]["end"]:
            bands[-1]["end"] = max(bands[-1]["end"], e[style.end])
            bands[-1]["entries"].append(e)
        else:
            bands.append({"start": e[style.start], "end": e[style.end], "entries": [e]})
    return bands


def _num(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, (int, float)) else "?"
