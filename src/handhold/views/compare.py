"""Several runs on one chart: the comparison document the dashboard and the static page draw.

The document (:func:`compare_doc`) holds, per run, its colour, its stages, the counters that
align it by tokens or samples, and its series; then the config keys that differ between the
runs and each run's final values. ``static/compare.js`` draws it (the same code in the dashboard
and in the offline page ``handhold report RUN_A RUN_B -o compare.html`` writes), so the two
pages cannot drift apart.

- Colours are a hash of the run's folder name into a fixed palette, so a run keeps its colour
  whatever list it is picked from; two runs of one comparison that hash alike are told apart by
  moving the later name (in name order) to the next free colour.
- Alignment: by step, or by a cumulative counter the loop logs (``train/tokens``,
  ``train/samples``), interpolated at each metric's steps; a run without the counter is left
  out of that view, with a note saying so.
- Final values: each metric's last finite value; a score in [0, 1] whose document count is known
  gets its Wilson 95% interval, otherwise the interval is "n/a". The count is the metric
  ``<task>/docs`` logged beside the score at the same step, or, for a chain-of-thought score
  (``<task>/cot_*``), the number of ``answer`` events of that task at that step.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from plotly.colors import qualitative

from ..doc_scores import EVENT as DOCS_EVENT
from ..doc_scores import read_events
from ..read import flatten_config
from ..runstore.db import RunStore
from ..summary import stage_decisions
from .downsample import read_series
from .review_share import wilson_interval  # noqa: F401 - the tests check against it

PALETTE = list(qualitative.Dark24)
AXES = {"step": None, "tokens": "train/tokens", "samples": "train/samples"}
MAX_RUNS = 12
STATIC = Path(__file__).parent / "static"


def run_color(run_id: str) -> str:
    """The colour of a run, from its name alone (stable across pages and lists)."""
    return PALETTE[_slot(run_id)]


def _slot(run_id: str) -> int:
    return int.from_bytes(hashlib.sha1(run_id.encode("utf-8")).digest()[:4], "big") % len(PALETTE)


def run_colors(run_ids: Iterable[str]) -> dict[str, str]:
    """Colours for the runs of one comparison: each its own hash's unless two collide."""
    taken: set[int] = set()
    out = {}
    for rid in sorted(set(run_ids)):
        slot = _slot(rid)
        while slot in taken and len(taken) < len(PALETTE):
            slot = (slot + 1) % len(PALETTE)
        taken.add(slot)
        out[rid] = PALETTE[slot]
    return out


def config_diff(configs: dict[str, Any]) -> list[dict[str, Any]]:
    """The dotted config keys whose values differ between the runs (a key one run lacks counts as
    differing; it reads ``None`` there), in key order: ``[{"key", "values": {run: value}}]``."""
    flat = {rid: flatten_config(cfg if isinstance(cfg, dict) else {}) for rid, cfg in configs.items()}
    keys = sorted({k for f in flat.values() for k in f})
    rows = []
    for key in keys:
        values = {rid: f.get(key) for rid, f in flat.items()}
        if len({json.dumps(v, sort_keys=True, default=str) for v in values.values()}) > 1:
            rows.append({"key": key, "values": {rid: _strict_json(v) for rid, v in values.items()}})
    return rows


def _strict_json(v: Any) -> Any:
    """A config value a strict JSON encoder takes (a NaN or infinite float becomes its text)."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, list):
        return [_strict_json(x) for x in v]
    if isinstance(v, dict):
        return {k: _strict_json(x) for k, x in v.items()}
    return v


def doc_count(store: RunStore, key: str, step: int) -> int | None:
    """How many documents a score at ``step`` averages, where the run says (see module doc)."""
    task, _, metric = key.rpartition("/")
    if not task:
        return None
    row = store.query("SELECT value FROM metrics WHERE key = ? AND step = ? AND value IS NOT NULL "
                      "ORDER BY rowid DESC LIMIT 1", (f"{task}/docs", step)).fetchone()
    if row is not None and row[0] is not None and row[0] >= 1:
        return int(row[0])
    if metric.startswith("cot_") and task.startswith("eval/"):
        name = task[len("eval/"):]
        n = store.query("SELECT COUNT(*) FROM events WHERE kind = 'answer' AND step = ? "
                        "AND json_extract(data, '$.task') = ?", (step, name)).fetchone()[0]
        return int(n) or None
    return None


def final_value(store: RunStore, key: str) -> dict[str, Any] | None:
    """``{"value", "step", "n", "low", "high"}`` of a metric's last finite value (None: never)."""
    row = store.query("SELECT step, value FROM metrics WHERE key = ? AND value IS NOT NULL "
                      "ORDER BY step DESC, rowid DESC LIMIT 1", (key,)).fetchone()
    if row is None:
        return None
    step, value = row
    documented = documented_band(store, key, step)
    if documented is not None:
        return {"value": value, "step": step, **documented}
    n = doc_count(store, key, step) if not key.endswith("/docs") else None
    low = high = None
    if n is not None and 0.0 <= value <= 1.0:
        low, high = wilson_interval(round(value * n), n)
    return {"value": value, "step": step, "n": n, "low": low, "high": high}


def documented_band(store: RunStore, key: str, step: int) -> dict[str, Any] | None:
    """``{"n", "low", "high"}`` from the per-document scores an eval recorded at ``step`` (the
    band the report and dashboard draw: Wilson for a 0/1 accuracy, else a bootstrap over the
    documents); ``None`` where no eval at that step explains ``key``."""
    for doc in read_events(e for e in store.events(DOCS_EVENT) if e.step == step):
        st = doc.stat(key)
        if st is not None:
            low, high = doc.band(key)
            n = sum(doc.tasks[t].n for t in st.tasks)
            return {"n": n, "low": None if math.isnan(low) else low, "high": None if math.isnan(high) else high}
    return None


def default_key(keys: Sequence[str], common: set[str]) -> str | None:
    """The metric first shown: a held-out loss all runs share, else any eval score, else the loss."""
    for pick in (lambda k: k.startswith("eval/loss/") and k in common, lambda k: k.startswith("eval/") and k in common,
                 lambda k: k == "train/loss" and k in common, lambda k: k in common, lambda k: True):
        found = [k for k in keys if pick(k)]
        if found:
            return found[0]
    return None


def compare_doc(run_dirs: Sequence[str | os.PathLike[str]], key: str | None = None, *,
                every_key: bool = False, max_points: int = 2000,
                ids: Sequence[str] | None = None) -> dict[str, Any]:
    """The comparison of ``run_dirs`` (see module doc) with the series of ``key`` (default: the
    first one :func:`default_key` picks), or of every key (``every_key``: the static page), each
    at most ``max_points`` points. ``ids``: the runs' names on the page (default: their folder
    names; their paths where two folders share a name)."""
    from ..runstore.listing import run_info

    dirs = [Path(d) for d in run_dirs]
    ids = list(ids) if ids is not None else [d.name for d in dirs]
    if len(set(ids)) != len(ids):
        ids = [str(d) for d in dirs]
    key_sets = {}
    for rid, d in zip(ids, dirs):
        with RunStore.reader(d) as store:
            key_sets[rid] = store.metric_keys()
    all_keys = sorted(set().union(*map(set, key_sets.values()))) if key_sets else []
    common = set.intersection(*map(set, key_sets.values())) if key_sets else set()
    key = key or default_key(all_keys, common)
    colors = run_colors(ids)
    runs, configs = [], {}
    for rid, d in zip(ids, dirs):
        info = run_info(d)
        with RunStore.reader(d) as store, store.snapshot():
            have = store.metric_keys()
            wanted = have if every_key else [k for k in (key,) if k in have]
            configs[rid] = store.get_meta("config") or {}
            stages = [{"name": s["stage"], "start": s["start"], "end": s["end"], "reason": s["reason"],
                       "open": s["open"]} for s in stage_decisions(store)]
            axes = {name: read_series(store, counter, max_points=max_points).to_dict()
                    for name, counter in AXES.items() if counter and counter in have}
            series = {k: read_series(store, k, max_points=max_points).to_dict() for k in wanted}
        runs.append({"id": rid, "name": info.name, "path": str(d), "color": colors[rid],
                     "status": info.status, "last_step": info.last_step, "stages": stages,
                     "axes": axes, "series": series})
    return {"runs": runs, "keys": all_keys, "common": sorted(common), "key": key,
            "axes": ["step", *[a for a in AXES if AXES[a] and any(a in r["axes"] for r in runs)]],
            "config_diff": config_diff(configs), "finals": finals(dirs, ids, all_keys)}


def finals(dirs: Sequence[Path], ids: Sequence[str], keys: Sequence[str]) -> list[dict[str, Any]]:
    """Final values of the runs' scores (the ``eval/`` keys; every key where there is none),
    ``[{"key", "values": {run: final_value or None}}]``."""
    chosen = [k for k in keys if k.startswith("eval/") and not k.endswith("/docs")] or list(keys)
    out = {k: {} for k in chosen}
    for rid, d in zip(ids, dirs):
        with RunStore.reader(d) as store, store.snapshot():
            for k in chosen:
                out[k][rid] = final_value(store, k)
    return [{"key": k, "values": v} for k, v in out.items()]


# ---------------------------------------------------------------------- the static page
def write_compare(run_dirs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], *,
                  max_points: int = 1000) -> Path:
    """Write the comparison of ``run_dirs`` as one self-contained HTML file (plotly inlined):
    the dashboard's compare view, every metric a pick away. Written to a temporary file and
    renamed, so a reader never sees half a page."""
    import plotly

    out = Path(out)
    doc = compare_doc(run_dirs, every_key=True, max_points=max_points)
    names = " vs ".join(r["id"] for r in doc["runs"])
    plotly_js = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text(encoding="utf-8")
    script = (STATIC / "compare.js").read_text(encoding="utf-8")
    style = (STATIC / "compare.css").read_text(encoding="utf-8")
    data = json.dumps(doc, allow_nan=False, default=str).replace("</", "<\\/")
    page = _PAGE.format(title=html.escape(f"handhold compare: {names}"), style=style, plotly=plotly_js,
                        script=script, data=data, footer=html.escape(
                            f"handhold compare · {', '.join(r['path'] for r in doc['runs'])} · "
                            f"{time.strftime('%Y-%m-%d %H:%M:%S')}"))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }}
h1 {{ font-size: 1.4rem; }} h2 {{ font-size: 1.1rem; margin-top: 2rem; }}
footer {{ color: #666; font-size: .85rem; margin-top: 2rem; }}
{style}
</style>
<script>{plotly}</script>
<script>{script}</script>
</head><body>
<h1>{title}</h1>
<div id="compare-root"></div>
<footer>{footer}</footer>
<script>
HandholdCompare.mount(document.getElementById("compare-root"), {data});
</script>
</body></html>
"""
