"""The phases document, typed once: what ``analyze`` writes and every reader reads.

``handhold analyze --json`` prints it, the report and the dashboard draw it (``views/marks``),
the runs list sums it up. Its type is the per-metric reading (:class:`MetricDoc`), the stage
switches, then one section per detector of :mod:`.registry`, a list of that detector's entry
type. ``analyze`` refuses a document whose sections or entries differ from this type (so a new
section cannot be left out of it), and the readers pass on every section of the type, drawing
and tabling each one its registry entry describes (so a new section cannot be dropped on the
way to a page).
"""

from __future__ import annotations

from typing import Any, Literal, Optional, TypedDict, Union

from .noise import NoiseDoc
from .registry import DETECTORS

Step = Union[int, float]


class SegmentDoc(TypedDict):
    start: Step
    end: Step
    trend: Literal["rising", "plateau", "declining"]
    slope: float
    slope_stderr: Optional[float]
    change: float
    mastery: bool
    noise: Optional[NoiseDoc]  # benchmark keys: the paired change over the segment (else null)


class ShockDoc(TypedDict):
    step: Step
    peak: float
    baseline: float
    recovered_at: Optional[Step]
    kind: str


class MetricDoc(TypedDict):
    changepoints: list[Step]
    segments: list[SegmentDoc]
    shocks: list[ShockDoc]
    direction: Optional[Literal["lower", "higher"]]
    points: int
    mastered_at: Optional[Step]


CORE: dict[str, Any] = {"metrics": dict[str, MetricDoc], "stage_switches": list[Step]}


def sections() -> tuple[str, ...]:
    """The document's sections, in order: the core two, then one per registered detector."""
    return (*CORE, *DETECTORS)


def document_type() -> type:
    """The document's ``TypedDict``, built from the core sections and the registered detectors."""
    fields = {**CORE, **{name: list[d.entry] for name, d in DETECTORS.items()}}  # type: ignore[name-defined]
    return TypedDict("PhasesDoc", fields)  # type: ignore[operator]


PhasesDoc = document_type()


def check_sections(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` itself when its sections are exactly the type's and every entry of a detector's
    section has its entry type's keys; else a ValueError naming what to add to the type."""
    names = sections()
    extra = [k for k in doc if k not in names]
    missing = [k for k in names if k not in doc]
    if extra or missing:
        raise ValueError(f"phases document: section(s) {', '.join(extra)} not in PhasesDoc: register "
                         f"a detector for them (handhold/phases/registry.py)" if extra else
                         f"phases document: section(s) {', '.join(missing)} missing")
    for name, det in DETECTORS.items():
        allowed, required = set(det.entry.__annotations__), set(getattr(det.entry, "__required_keys__", ()))
        for entry in doc[name]:
            odd, lacking = sorted(set(entry) - allowed), sorted(required - set(entry))
            if odd or lacking:
                raise ValueError(f"phases document: a {name!r} entry " + (
                    f"has key(s) {', '.join(odd)} not in {det.entry.__name__}" if odd else
                    f"lacks key(s) {', '.join(lacking)} of {det.entry.__name__}"))
    return doc
