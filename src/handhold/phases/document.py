"""The phases document, typed once: what ``analyze`` writes and every reader reads.

``handhold analyze --json`` prints it, the report and the dashboard draw it (``views/panels``),
the runs list sums it up. A detector that adds a section adds it to :class:`PhasesDoc` here;
``analyze`` refuses a document whose sections differ from this type (so a new section cannot
be left out of the type), and the readers pass on every section of the type, drawing the ones
they know (so a new section cannot be dropped on the way to a page).
"""

from __future__ import annotations

from typing import Any, Literal, Optional, TypedDict, Union

Step = Union[int, float]


class SegmentDoc(TypedDict):
    start: Step
    end: Step
    trend: Literal["rising", "plateau", "declining"]
    slope: float
    slope_stderr: Optional[float]
    change: float
    mastery: bool


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


class DivergenceDoc(TypedDict):
    a: str
    b: str
    start: Step
    end: Step
    gap: float


class GrokkingDoc(TypedDict):
    train: str
    val: str
    memorized_at: Optional[Step]
    generalized_at: Optional[Step]
    delay: Optional[Step]
    grokked: bool  # only a real delay (phases/grokking: a pair that moves together is not grokking)
    rule: str
    val_progress_at_memorized: Optional[float]
    verdict: str


class IndicatorDoc(TypedDict, total=False):
    """The leading indicator (phases/indicator) on a run with training-side signals."""
    signals: list[str]
    rule: str
    measurements: int
    announced_at: Optional[Step]
    evidence: Optional[dict[str, Any]]
    val: str
    val_level: float
    val_reached_at: Optional[Step]
    lead: Optional[Step]


class PhasesDoc(TypedDict):
    metrics: dict[str, MetricDoc]
    stage_switches: list[Step]
    divergences: list[DivergenceDoc]
    grokking: list[GrokkingDoc]
    indicator: list[IndicatorDoc]


SECTIONS: tuple[str, ...] = tuple(PhasesDoc.__annotations__)


def check_sections(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` itself when its sections are exactly :class:`PhasesDoc`'s; else a ValueError
    naming the section to add to (or drop from) the type."""
    extra = [k for k in doc if k not in SECTIONS]
    missing = [k for k in SECTIONS if k not in doc]
    if extra or missing:
        raise ValueError(f"phases document: section(s) {', '.join(extra)} not in PhasesDoc "
                         f"(handhold/phases/document.py); add them there" if extra else
                         f"phases document: section(s) {', '.join(missing)} missing")
    return doc
