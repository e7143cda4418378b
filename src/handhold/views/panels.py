"""The panels of a run, shared by the static report and the live dashboard so both show the same.

A panel is a plotly layout (axes, stage bands, event lines, phase marks) plus trace specs, each
naming the metric key it draws and its plotly style. The report fills the traces from the store
in Python; the dashboard page fills them in the browser from the JSON API and keeps them live.

Grouping: the loss per source comes first (train thin, held-out bold, one color per source);
then one panel per *family*, the key up to its last slash (``train/lr`` -> ``train``). A nested
family (``eval/family/reasoning`` and ``eval/family/standard``) is one overlay, since its keys
measure the same kind of thing; a top-level bag of unrelated scalars (``train``: lr, grad norm,
tokens) is stacked, one subplot per key on a shared step axis.
"""

from __future__ import annotations

import html
import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ..phases.document import SECTIONS
from ..store import Event, RunStore
from ..summary import StageRow

log = logging.getLogger(__name__)

COLORS = qualitative.Plotly
STAGE_FILLS = ("rgba(99, 110, 250, 0.09)", "rgba(0, 204, 150, 0.09)")
EVENT_LINES = {"nan": {"color": "#d62728", "width": 2},
               "resume": {"color": "#7f7f7f", "width": 1, "dash": "dot"}}
DIVERGENCE_FILL = "rgba(214, 39, 40, 0.55)"
SHOCK_COLOR = "#d62728"
GROK_LINE = {"color": "#9467bd", "width": 1.5, "dash": "dash"}
TREND_MARKS = {"rising": "↗", "declining": "↘", "plateau": "→", "mastery": "✓"}


@dataclass
class TraceSpec:
    key: str
    role: str  # "train" (noisy: smoothed in the report), "eval", "total" (hidden), "series"
    style: dict[str, Any]  # plotly scatter attributes: name, line, legendgroup, xaxis, yaxis...


@dataclass
class PanelSpec:
    id: str
    title: str
    traces: list[TraceSpec]
    rows: int = 1  # > 1: stacked subplots sharing the step axis, trace i on row i + 1
    height: int = 360
    layout: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def panel_specs(keys: list[str]) -> list[PanelSpec]:
    """The panels for a run with these metric keys, in display order (no data read)."""
    train_src = _leaves(keys, "train/loss/")
    eval_src = _leaves(keys, "eval/loss/")
    sources = sorted(set(train_src) | set(eval_src))
    colors = {s: COLORS[i % len(COLORS)] for i, s in enumerate(sources)}
    loss_keys = {"train/loss", *train_src.values(), *eval_src.values()}

    panels = []
    loss_panel = None
    if loss_keys & set(keys):
        traces = []
        if "train/loss" in keys:
            traces.append(TraceSpec("train/loss", "total", {
                "name": "all · train", "visible": "legendonly", "line": {"color": "#7f7f7f", "width": 1}}))
        for s, color in colors.items():
            name = html.escape(s)
            if s in train_src:
                traces.append(TraceSpec(train_src[s], "train", {
                    "name": f"{name} · train", "legendgroup": name, "opacity": 0.6,
                    "line": {"color": color, "width": 1}}))
            if s in eval_src:
                traces.append(TraceSpec(eval_src[s], "eval", {
                    "name": f"{name} · eval", "legendgroup": name,
                    "line": {"color": color, "width": 2}, "marker": {"size": 5}}))
        loss_panel = PanelSpec("loss", "loss per source (train: smoothed; eval: held out)", traces,
                               height=460, layout={"yaxis": {"title": {"text": "loss"}}})
    families: dict[str, list[str]] = {}
    for key in keys:
        if key not in loss_keys:
            families.setdefault(key.rpartition("/")[0], []).append(key)
    # the two stories first: reasoning vs standard (eval/family), its categories, then the tasks;
    # then the loss per source; then the other specific families, then the bags of scalars
    for family in sorted(families, key=_family_order):
        if loss_panel is not None and _family_order(family)[0] > TASKS_RANK:
            panels.append(loss_panel)
            loss_panel = None
        panels.append(family_panel(families[family]) if family == FAMILY_PREFIX
                      else _family_panel(family, families[family], colors))
    if loss_panel is not None:
        panels.append(loss_panel)
    return panels


FAMILY_PREFIX = "eval/family"
FAMILY_COLORS = {"reasoning": "#1f5fbf", "standard": "#e8710a"}
TASKS_RANK = 2


def _family_order(family: str) -> tuple[int, bool, bool, str]:
    """eval/family, eval/category/*, eval/<task>, [the loss panel], other families, bags."""
    rank = (0 if family == FAMILY_PREFIX else 1 if family.startswith("eval/category/")
            else TASKS_RANK if family.startswith("eval/") and family.count("/") == 1 else 3)
    return (rank, "/" not in family, family == "", family)


def family_panel(keys: list[str]) -> PanelSpec:
    """Reasoning vs standard, centred on chance (0 = chance, 1 = perfect), the seed's two curves."""
    traces = []
    for i, key in enumerate(sorted(keys, key=lambda k: (k.rpartition("/")[2] not in FAMILY_COLORS, k))):
        leaf = key.rpartition("/")[2]
        traces.append(TraceSpec(key, "eval", {
            "name": html.escape(leaf), "line": {"color": FAMILY_COLORS.get(leaf, COLORS[(i + 2) % len(COLORS)]),
                                                "width": 3}, "marker": {"size": 6}}))
    return PanelSpec(f"family:{FAMILY_PREFIX}", "reasoning vs standard: family scores centred on chance "
                     "(0 = chance, 1 = perfect)", traces, height=420,
                     layout={"yaxis": {"title": {"text": "centred score"}, "zeroline": True,
                                       "zerolinecolor": "#999", "zerolinewidth": 1}})


def _family_panel(family: str, keys: list[str], colors: dict[str, str]) -> PanelSpec:
    leaves = [k.rpartition("/")[2] for k in keys]
    title = html.escape(family or "other")
    if len(keys) == 1 or "/" in family or all(leaf in colors for leaf in leaves):
        traces = [TraceSpec(key, "eval", {
            "name": html.escape(leaf if len(keys) > 1 else key),
            "line": {"color": colors.get(leaf, COLORS[i % len(COLORS)]),
                                              "width": 2}, "marker": {"size": 5}})
            for i, (key, leaf) in enumerate(zip(keys, leaves))]
        return PanelSpec(f"family:{family}", title, traces)
    traces = [TraceSpec(key, "series", {
        "name": html.escape(key), "showlegend": False, "xaxis": _axis("x", i), "yaxis": _axis("y", i),
        "line": {"color": COLORS[(i - 1) % len(COLORS)], "width": 1.5}, "marker": {"size": 4}})
        for i, key in enumerate(keys, start=1)]
    return PanelSpec(f"family:{family}", title, traces, rows=len(keys), height=90 + 170 * len(keys),
                     layout={"_subplot_titles": [html.escape(leaf) for leaf in leaves]})


def _axis(letter: str, i: int) -> str:
    return letter if i == 1 else f"{letter}{i}"


def _leaves(keys: list[str], prefix: str) -> dict[str, str]:
    """source -> key for keys ``<prefix><source>`` (one level only)."""
    return {k[len(prefix):]: k for k in keys
            if k.startswith(prefix) and k != prefix and "/" not in k[len(prefix):]}


def marked_events(store: RunStore) -> list[Event]:
    """The events the panels draw (``EVENT_LINES``), read by kind: a run that logs an event per
    benchmark answer has far too many others to decode them all for a page."""
    marks = ",".join("?" * len(EVENT_LINES))
    return [Event(s, k, json.loads(d), t) for s, k, d, t in store.query(
        f"SELECT step, kind, data, time FROM events WHERE kind IN ({marks}) ORDER BY step, rowid", list(EVENT_LINES))]


# -------------------------------------------------------------------------------- layout
def panel_layout(panel: PanelSpec, rows: list[StageRow], events: list[Event],
                 phases: dict[str, Any] | None = None) -> dict[str, Any]:
    """The panel's whole plotly layout: axes (stacked subplots as ``make_subplots`` lays them
    out), then stage bands, event lines and phase marks on every subplot."""
    extra = dict(panel.layout)
    titles = extra.pop("_subplot_titles", None)
    if panel.rows > 1:
        fig = make_subplots(rows=panel.rows, cols=1, shared_xaxes=True, subplot_titles=titles,
                            vertical_spacing=min(0.3, 55 / panel.height))
        layout = fig.layout.to_plotly_json()
        layout[f"xaxis{_suffix(panel.rows)}"]["title"] = {"text": "step"}
    else:
        layout = {"xaxis": {"title": {"text": "step"}}, "yaxis": {}}
    for k, v in extra.items():
        layout[k] = {**layout.get(k, {}), **v}
    layout.update(title={"text": panel.title}, height=panel.height, template="plotly_white",
                  margin={"l": 60, "r": 20, "t": 60, "b": 40}, hovermode="x",
                  legend={"groupclick": "toggleitem"})
    shapes, notes = list(layout.get("shapes", [])), list(layout.get("annotations", []))
    for row in range(1, panel.rows + 1):
        xref, yref = _axis("x", row), f"{_axis('y', row)} domain"
        top = row == 1
        keys = [t.key for t in panel.traces] if panel.rows == 1 else [panel.traces[row - 1].key]
        _stage_bands(shapes, notes, rows, xref, yref, label=top)
        _event_lines(shapes, notes, events, xref, yref, label=top)
        if phases:
            _phase_marks(shapes, notes, phases, keys, xref, _axis("y", row), label=top, rows=rows)
    layout["shapes"], layout["annotations"] = shapes, notes
    return layout


def _suffix(i: int) -> str:
    return "" if i == 1 else str(i)


def _stage_bands(shapes: list, notes: list, rows: list[StageRow], xref: str, yref: str, *,
                 label: bool) -> None:
    for j, row in enumerate(rows):
        shapes.append({"type": "rect", "name": f"stage:{html.escape(row.name)}", "xref": xref, "yref": yref,
                       "x0": row.start, "x1": row.end, "y0": 0, "y1": 1, "layer": "below",
                       "fillcolor": STAGE_FILLS[j % 2], "line": {"width": 0}})
        if label:
            notes.append({"xref": xref, "yref": yref, "x": (row.start + row.end) / 2, "y": 0.97,
                          "yanchor": "top", "showarrow": False, "text": html.escape(row.name),
                          "font": {"size": 11, "color": "#555"}})


def _event_lines(shapes: list, notes: list, events: list[Event], xref: str, yref: str, *,
                 label: bool) -> None:
    for e in events:
        if e.kind not in EVENT_LINES:
            continue
        shapes.append({"type": "line", "name": f"event:{e.kind}", "xref": xref, "yref": yref,
                       "x0": e.step, "x1": e.step, "y0": 0, "y1": 1, "line": EVENT_LINES[e.kind]})
        if label:
            notes.append({"xref": xref, "yref": yref, "x": e.step, "y": 0, "yanchor": "bottom",
                          "xanchor": "left", "showarrow": False, "text": html.escape(e.kind),
                          "font": {"size": 10, "color": EVENT_LINES[e.kind]["color"]}})


def _phase_marks(shapes: list, notes: list, phases: dict[str, Any], keys: list[str], xref: str,
                 yaxis: str, *, label: bool, rows: list[StageRow] = ()) -> None:
    """Trend labels and change points of the panel's first analysed key; one mark per burst of
    shocks (:func:`shock_groups`) along the top; divergences touching the panel's keys as a thin
    band on the top edge; grokking steps (purple dashed lines). Each mark is named
    ``phase:<kind>`` so a page can toggle a kind (:data:`MARK_KINDS`)."""
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
    touching = [d for d in phases.get("divergences", []) if d.get("a") in keys or d.get("b") in keys]
    for band in _merged(touching):
        shapes.append({"type": "rect", "name": "phase:divergence", "xref": xref, "yref": yref,
                       "x0": band["start"], "x1": band["end"], "y0": 1 - DIVERGENCE_BAND, "y1": 1,
                       "fillcolor": DIVERGENCE_FILL, "line": {"width": 0}, "layer": "above"})
        notes.append({"xref": xref, "yref": yref, "x": band["start"], "y": 1 - DIVERGENCE_BAND / 2,
                      "xanchor": "left", "yanchor": "middle", "showarrow": False, "text": "≠",
                      "font": {"size": 9, "color": "#fff"}, "name": "phase:divergence",
                      "hovertext": "<br>".join(html.escape(f"divergence {d['a']} vs {d['b']}: steps "
                                                           f"{d['start']:g}–{d['end']:g}, gap {d.get('gap', 0):.3g}")
                                               for d in band["divergences"])})
    for g in phases.get("grokking", []):
        if g.get("train") not in keys and g.get("val") not in keys:
            continue
        for what in ("memorized_at", "generalized_at"):
            if g.get(what) is not None:
                shapes.append({"type": "line", "name": f"phase:{what}", "xref": xref, "yref": yref,
                               "x0": g[what], "x1": g[what], "y0": 0, "y1": 0.96, "line": GROK_LINE})
                notes.append({"xref": xref, "yref": yref, "x": g[what], "y": 0.5, "textangle": -90,
                              "showarrow": False, "xanchor": "right", "name": f"phase:{what}",
                              "text": html.escape(f"{what.split('_')[0]} ({str(g.get('val', '')).rpartition('/')[2]})"),
                              "hovertext": html.escape(str(g.get("verdict") or "")),
                              "font": {"size": 10, "color": GROK_LINE["color"]}})


SHOCK_Y = 0.9  # shock marks sit in a row below the divergence band and the stage names
DIVERGENCE_BAND = 0.025  # the divergence band: this share of the plot height, along the top edge
BURST_SHARE = 0.1  # a shock this far into a stage (share of its length) belongs to its switch
CLUSTER_SHARE = 0.02  # other shocks this close (share of the run) make one mark

# toggle kind -> (what the page calls it, the mark names it covers)
MARK_KINDS = {
    "trend": ("trend labels", ["phase:trend"]),
    "changepoint": ("change points", ["phase:changepoint"]),
    "shock": ("shocks", ["phase:shock"]),
    "divergence": ("divergence", ["phase:divergence"]),
    "grokking": ("memorized / generalized", ["phase:memorized_at", "phase:generalized_at"]),
}


def mark_kinds() -> list[dict[str, Any]]:
    """The toggles a page shows, one per kind of phase mark."""
    return [{"kind": k, "label": label, "names": names} for k, (label, names) in MARK_KINDS.items()]


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


def _merged(divs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Overlapping divergences as one band (with all of them for its hover text)."""
    bands: list[dict[str, Any]] = []
    for d in sorted(divs, key=lambda d: (d["start"], d["end"])):
        if bands and d["start"] <= bands[-1]["end"]:
            bands[-1]["end"] = max(bands[-1]["end"], d["end"])
            bands[-1]["divergences"].append(d)
        else:
            bands.append({"start": d["start"], "end": d["end"], "divergences": [d]})
    return bands


def _num(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, (int, float)) else "?"


# -------------------------------------------------------------------------------- phases
def load_phases(store: RunStore) -> dict[str, Any]:
    """The phases analysis of a run, when ``handhold.phases`` is installed.

    Returns ``{"available": False, "note": ...}`` without it, or when it fails on this run (the
    views must keep working on a run the analysis cannot read); otherwise its document with
    ``"available": True``. Every section of the document's type (``phases/document.py``) is
    passed on; the ones this module draws are cleaned: ``metrics.<key>`` (``changepoints``,
    ``segments``, ``shocks``), ``divergences`` and ``stage_switches``.
    """
    try:
        from ..phases import analyze_store  # type: ignore[attr-defined]
    except ImportError:
        return {"available": False, "note": "phase detection is not available (handhold.phases)"}
    try:
        doc = analyze_store(store)
    except Exception as exc:  # noqa: BLE001 - an analysis bug must not take a page down
        log.warning("phase analysis failed on %s: %s", store.path, exc)
        return {"available": False, "note": f"phase analysis failed: {type(exc).__name__}: {exc}"}
    if not isinstance(doc, dict):
        return {"available": False, "note": "phase analysis returned no document"}
    return {**_clean_phases(doc), "available": True}


def _clean_phases(doc: dict[str, Any]) -> dict[str, Any]:
    """Keep well-formed entries only, so one odd field cannot break a page."""
    def num(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v

    metrics = {}
    for key, m in (doc.get("metrics") or {}).items():
        if not isinstance(m, dict):
            continue
        metrics[str(key)] = {
            "changepoints": [c for c in m.get("changepoints") or [] if num(c)],
            "segments": [s for s in m.get("segments") or []
                         if isinstance(s, dict) and num(s.get("start")) and num(s.get("end"))],
            "shocks": [s for s in m.get("shocks") or []
                       if isinstance(s, dict) and num(s.get("step")) and num(s.get("peak"))]}
    divs = [d for d in doc.get("divergences") or []
            if isinstance(d, dict) and num(d.get("start")) and num(d.get("end"))]
    groks = [g for g in doc.get("grokking") or [] if isinstance(g, dict)]
    # every section of the type reaches the page, drawn here or not (a new detector's too)
    passed = {k: doc[k] for k in SECTIONS if k in doc}
    return {**passed, "metrics": metrics, "divergences": divs, "grokking": groks,
            "stage_switches": [s for s in doc.get("stage_switches") or [] if num(s)]}


def phase_summary(phases: dict[str, Any]) -> str:
    """One line for the runs list: the trend of the held-out loss segments, shocks, divergences."""
    if not phases.get("available"):
        return ""
    metrics = phases.get("metrics", {})
    key = next((k for k in sorted(metrics) if k.startswith("eval/loss/") and metrics[k]["segments"]),
               next((k for k in sorted(metrics) if metrics[k]["segments"]), None))
    parts = []
    if key is not None:
        trends = [str(s.get("label") or s.get("trend") or "?") for s in metrics[key]["segments"]]
        if len(trends) > 6:
            trends = [*trends[:3], f"… ({len(trends)} segments) …", *trends[-2:]]
        parts.append(f"{key}: " + " → ".join(trends))
    shocks = sum(len(m["shocks"]) for m in metrics.values())
    if shocks:
        parts.append(f"{shocks} shock{'s' * (shocks != 1)}")
    if phases.get("divergences"):
        parts.append(f"{len(phases['divergences'])} divergence(s)")
    for real, words in ((True, "grokked at step "), (False, "generalized at step ")):
        steps = sorted({round(g["generalized_at"]) for g in phases.get("grokking", [])
                        if isinstance(g.get("generalized_at"), (int, float)) and bool(g.get("grokked")) is real})
        if steps:  # grokked: a real delay (handhold.phases.grokking); else a pair that generalized
            parts.append(words + ", ".join(map(str, steps)))
    return "; ".join(parts)
