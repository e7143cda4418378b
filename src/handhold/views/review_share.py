"""The share of sound reasoning among the labelled wrong answers of a run, with its interval.

:mod:`.review` finds the wrong answers and their labels; this module counts them per task and
step (``sound / (sound + unsound)``, a Wilson 95% interval for every share) and draws the share
over the steps, for the report, the dashboard and ``handhold review`` alike.
"""

from __future__ import annotations

import html
import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .review import ReviewItem

ALL_TASKS = "all"


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """The Wilson score interval of ``k`` successes in ``n`` trials (None when ``n == 0``).

    Unlike the normal approximation it stays inside [0, 1] and is honest for small ``n`` and
    shares near 0 or 1, which is what a few dozen hand labels give. The closed form (Wilson 1927;
    the same numbers as ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``, which the
    tests check) costs microseconds, where importing scipy.stats would cost a dashboard request
    seconds.
    """
    if n == 0:
        return None
    if not 0 <= k <= n:
        raise ValueError(f"wilson_interval: need 0 <= k <= n, got k={k}, n={n}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class ShareRow:
    """The share of sound reasoning among the wrong answers of one task (or all) at one step."""

    step: int
    task: str
    wrong: int
    sound: int
    unsound: int
    unlabelled: int
    human: int  # how many of the labels are a person's (the rest are automatic)
    share: float | None  # sound / (sound + unsound); None when nothing is labelled
    low: float | None
    high: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """``"67% sound (95% CI 21–94%) of 3 labelled wrong answers (1 by hand); 1 unlabelled"``."""
        labelled = self.sound + self.unsound
        if self.share is None:
            return f"{self.wrong} wrong, none labelled"
        text = (f"{100 * self.share:.0f}% sound (95% CI {100 * self.low:.0f}–{100 * self.high:.0f}%) "
                f"of {labelled} labelled wrong answer{'s' * (labelled != 1)} ({self.human} by hand)")
        return text + (f"; {self.unlabelled} unlabelled" if self.unlabelled else "")


def share_rows(items: list[ReviewItem]) -> list[ShareRow]:
    """One row per task and step, in step order; and an ``all`` row per step with several tasks."""
    groups: dict[tuple[int, str], list[ReviewItem]] = {}
    for item in items:
        groups.setdefault((item.step, item.task), []).append(item)
    by_step: dict[int, list[str]] = {}
    for s, t in groups:
        by_step.setdefault(s, []).append(t)
    rows = []
    for s in sorted(by_step):
        tasks = sorted(by_step[s])
        for t in tasks:
            rows.append(_row(s, t, groups[(s, t)]))
        if len(tasks) > 1:
            rows.append(_row(s, ALL_TASKS, [i for t in tasks for i in groups[(s, t)]]))
    return rows


def _row(step: int, task: str, items: list[ReviewItem]) -> ShareRow:
    sound = sum(i.label == "sound" for i in items)
    unsound = sum(i.label == "unsound" for i in items)
    ci = wilson_interval(sound, sound + unsound)
    return ShareRow(step, task, len(items), sound, unsound, len(items) - sound - unsound,
                    sum(i.human is not None for i in items),
                    sound / (sound + unsound) if sound + unsound else None,
                    *(ci if ci is not None else (None, None)))


def share_figure(rows: list[ShareRow], stages: list[Any] = ()) -> dict[str, Any]:
    """The share of sound reasoning among wrong answers over the steps, one line per task (``all``
    dashed), Wilson 95% intervals as error bars, the stages as bands: a plotly figure as a dict,
    drawn by the report (``go.Figure(**fig)``) and the dashboard (``Plotly.react``) alike."""
    from .panels import COLORS, PanelSpec, panel_layout

    tasks = sorted({r.task for r in rows}, key=lambda t: (t == ALL_TASKS, t))
    data = []
    for i, task in enumerate(tasks):
        mine = [r for r in rows if r.task == task and r.share is not None]
        if not mine:
            continue
        color = "#333" if task == ALL_TASKS else COLORS[i % len(COLORS)]
        data.append({
            "type": "scatter", "mode": "lines+markers", "name": task, "x": [r.step for r in mine],
            "y": [r.share for r in mine], "line": {"color": color, "width": 2, "dash": "dash" if task == ALL_TASKS else "solid"},
            "error_y": {"type": "data", "symmetric": False, "array": [r.high - r.share for r in mine],
                        "arrayminus": [r.share - r.low for r in mine], "thickness": 1, "width": 3},
            "customdata": [[r.sound, r.sound + r.unsound, r.human, r.low, r.high] for r in mine],
            "hovertemplate": "%{y:.0%} sound (%{customdata[3]:.0%}–%{customdata[4]:.0%}): "
                             "%{customdata[0]} of %{customdata[1]} labelled, %{customdata[2]} by hand"
                             f"<extra>{html.escape(task)}</extra>"})
    panel = PanelSpec("review:share", "sound reasoning among wrong answers (Wilson 95% interval)", [], height=340)
    layout = panel_layout(panel, list(stages), [], None)
    layout["yaxis"] = {**layout.get("yaxis", {}), "range": [-0.02, 1.02], "tickformat": ".0%",
                       "title": {"text": "share sound"}}
    return {"data": data, "layout": layout}
