"""The panels of a run, shared by the static report and the live dashboard so both show the same.

A panel is a plotly layout (axes, stage bands, event lines, phase marks from :mod:`.marks`) plus trace specs, each
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
from dataclasses import asdict, dataclass, field
from typing import Any

from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ..runstore.db import Event, RunStore
from ..roles import SIGNAL, role_of
from ..summary import StageRow
from .marks import phase_marks

COLORS = qualitative.Plotly
STAGE_FILLS = ("rgba(99, 110, 250, 0.09)", "rgba(0, 204, 150, 0.09)")
EVENT_LINES = {"nan": {"color": "#d62728", "width": 2},
               "resume": {"color": "#7f7f7f", "width": 1, "dash": "dot"}}


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
    collapsed: bool = False  # shown folded until opened (the schedule and system panel)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def panel_specs(keys: list[str], roles: dict[str, str] | None = None) -> list[PanelSpec]:
    """The panels for a run with these metric keys, in display order (no data read): the signals'
    panels, then one collapsed panel of the schedule and system metrics (``roles``: the run's
    recorded roles, :mod:`handhold.roles`)."""
    keys, bookkeeping = split_roles(keys, roles)
    panels = _signal_panels(keys)
    extra = bookkeeping_panel(bookkeeping, roles)
    return panels + ([extra] if extra is not None else [])


# schedule and system metrics (handhold.roles): one folded panel at the bottom, SI ticks (5.57T)
BOOKKEEPING = "bookkeeping"
TICKS = {"tickformat": ".3~s", "exponentformat": "SI"}


def split_roles(keys: list[str], roles: Mapping[str, str] | None = None) -> tuple[list[str], list[str]]:
    """(signal keys, schedule and system keys), each in the order given."""
    sig, other = [], []
    for k in keys:
        (sig if role_of(k, roles) == SIGNAL else other).append(k)
    return sig, other


def bookkeeping_panel(keys: list[str], roles: Mapping[str, str] | None = None) -> Any:
    """One stacked panel of every schedule and system metric, collapsed until opened."""
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



def _signal_panels(keys: list[str]) -> list[PanelSpec]:
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
            phase_marks(shapes, notes, phases, keys, xref, _axis("y", row), label=top, rows=rows)
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
