"""The phases analysis of a run, as the pages read it: the document, cleaned, and its one-line summary.

The report and the dashboard ask :func:`load_phases` (a run the analysis cannot read still gets
its page), draw it with :mod:`.marks` and list it with :func:`phase_summary`. Every section of the
document's type is passed on; the detector sections are cleaned and summed up as their registry
entries say (:mod:`handhold.phases.registry`).
"""

from __future__ import annotations

import logging
from typing import Any

from ..phases.document import sections
from ..phases.registry import DETECTORS
from ..runstore.db import RunStore

log = logging.getLogger(__name__)


def load_phases(store: RunStore) -> dict[str, Any]:
    """The phases analysis of a run, when ``handhold.phases`` is installed.

    Returns ``{"available": False, "note": ...}`` without it, or when it fails on this run (the
    views must keep working on a run the analysis cannot read); otherwise its document with
    ``"available": True``. Every section of the document's type (``phases/document.py``) is
    passed on; ``metrics.<key>`` (``changepoints``, ``segments``, ``shocks``), ``stage_switches``
    and the detector sections are cleaned.
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
    # every section of the type reaches the page, drawn here or not (a new detector's too)
    passed = {k: doc[k] for k in sections() if k in doc}
    cleaned = {name: detector.clean(doc.get(name)) for name, detector in DETECTORS.items()}
    return {**passed, "metrics": metrics, **cleaned,
            "stage_switches": [s for s in doc.get("stage_switches") or [] if num(s)]}


def phase_summary(phases: dict[str, Any]) -> str:
    """One line for the runs list: the trend of the held-out loss segments, shocks, then each
    detector's own words."""
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
    for name, detector in DETECTORS.items():  # "1 divergence(s)", "grokked at step 28", ...
        if detector.summary is not None:
            parts += detector.summary(phases.get(name) or [])
    return "; ".join(parts)
