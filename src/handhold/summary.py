"""The per-stage table of a run: what each stage cost, where it left each source, and the shift
shock at its switch. Read from the run store only, so it works on a run that is still training.

Words used here (the product's definitions, also shown in the report):

- A stage's steps are ``(start, end]``: ``start`` is the step of its ``stage_start`` event (the
  step *before* its first batch), ``end`` the step of its ``stage_end``. A stage with no
  ``stage_end`` yet is *open*: it ends at the last step logged so far.
- The *switch* into a stage is its ``start`` step. The eval logged at that step (evals run at
  every stage end) is the previous stage's last word, the *pre-switch level*.
- *Jump* (shift shock): first eval after the switch minus the pre-switch level, per source.
- *Recover steps*: steps from the switch until the eval loss is back at or below the pre-switch
  level, at eval resolution (0 when the first eval after the switch is not above it; ``None``
  when it is not back within the stage).
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.table import Table
from rich.text import Text

from .runstore.db import Event, RunStore

Series = tuple[list[int], list[float]]


@dataclass
class StageRow:
    """One started stage. Loss dicts are keyed by source name; a source missing from a dict had
    no data to compute that quantity (e.g. no eval before the switch)."""

    name: str
    index: int
    start: int
    end: int
    steps: int
    tokens: int | None
    end_reason: str | None  # the exit rule's reason; the fit_end reason or "running" if open
    open: bool = False  # no stage_end yet: the run is training (or stopped) inside this stage
    final_loss: dict[str, float] = field(default_factory=dict)
    final_from: dict[str, str] = field(default_factory=dict)  # "eval" or "train" (the fallback)
    jump: dict[str, float] = field(default_factory=dict)
    recover_steps: dict[str, int | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stage_table(store: RunStore) -> list[StageRow]:
    """One row per started stage, in order.

    - ``final_loss[s]``: ``eval/loss/<s>`` at the last eval in ``(start, end]``; without one,
      the mean of ``train/loss/<s>`` over the stage's last 10% of steps (at least one step:
      ``(end - max(1, ceil(steps / 10)), end]``), marked ``final_from[s] = "train"``.
    - ``jump[s]`` (not for the first stage): first ``eval/loss/<s>`` in ``(start, end]`` minus the
      last at or before ``start``; only for sources with both.
    - ``recover_steps[s]``: for the same sources, ``t - start`` for the first eval step ``t`` in
      ``(start, end]`` whose loss is at or below the pre-switch level; 0 if the jump is <= 0;
      ``None`` if the loss never gets back there within the stage.
    """
    bounds = _stage_bounds(store)
    if not bounds:
        return []
    keys = store.metric_keys()
    evals = {s: _clean(store.series(k)) for s, k in _sources(keys, "eval/loss/").items()}
    train_keys = _sources(keys, "train/loss/")
    sources = sorted(set(evals) | set(train_keys))
    train_cache: dict[str, Series] = {}
    cum_tokens: Series | None = None
    rows = []
    for pos, (start_ev, end, end_ev, reason) in enumerate(bounds):
        start = start_ev.step
        row = StageRow(name=str(start_ev.data.get("stage", f"stage {pos}")),
                       index=int(start_ev.data.get("index", pos)), start=start, end=end,
                       steps=end - start, tokens=None, end_reason=reason, open=end_ev is None)
        if end_ev is not None and end_ev.data.get("tokens") is not None:
            row.tokens = int(end_ev.data["tokens"])
        else:  # open stage: the difference of the cumulative token count
            cum_tokens = cum_tokens or _clean(store.series("train/tokens"))
            if cum_tokens[0]:
                before, now = _at_or_before(cum_tokens, start), _at_or_before(cum_tokens, end)
                row.tokens = int(now or 0) - int(before or 0)
        for s in sources:
            _, in_stage = _window(evals.get(s, ([], [])), start, end)
            if in_stage:
                row.final_loss[s], row.final_from[s] = in_stage[-1], "eval"
            elif s in train_keys:
                if s not in train_cache:
                    train_cache[s] = _clean(store.series(train_keys[s]))
                tail = max(1, math.ceil(row.steps / 10))
                _, vals = _window(train_cache[s], max(start, end - tail), end)
                if vals:
                    row.final_loss[s], row.final_from[s] = sum(vals) / len(vals), "train"
            if pos > 0 and s in evals:
                _shift_shock(row, s, evals[s])
        rows.append(row)
    return rows


def stage_decisions(store: RunStore) -> list[dict[str, Any]]:
    """Each started stage with how it ended, in the one stage-end schema every writer uses:
    ``{"stage", "index", "start", "end", "reason", "evidence", "open"}`` (``reason`` one of
    budget, plateau, threshold, max_steps, requested; for an open stage the fit_end reason or
    ``running``)."""
    return [{"stage": str(start_ev.data.get("stage", f"stage {pos}")), "index": int(start_ev.data.get("index", pos)),
             "start": start_ev.step, "end": end, "reason": reason,
             "evidence": end_ev.data.get("evidence", {}) if end_ev is not None else {}, "open": end_ev is None}
            for pos, (start_ev, end, end_ev, reason) in enumerate(_stage_bounds(store))]


def _shift_shock(row: StageRow, source: str, ev: Series) -> None:
    """Fill ``jump`` and ``recover_steps`` for one source at the switch into ``row``."""
    pre = _at_or_before(ev, row.start)
    steps, values = _window(ev, row.start, row.end)
    if pre is None or not values:
        return
    row.jump[source] = values[0] - pre
    if values[0] <= pre:
        row.recover_steps[source] = 0
        return
    back = next((t for t, v in zip(steps, values) if v <= pre), None)
    row.recover_steps[source] = None if back is None else back - row.start


def _stage_bounds(store: RunStore) -> list[tuple[Event, int, Event | None, str | None]]:
    """(stage_start event, end step, stage_end event or None, end reason) per started stage."""
    starts: dict[int, Event] = {}
    for i, e in enumerate(store.events("stage_start")):
        starts.setdefault(int(e.data.get("index", i)), e)
    ends: dict[int, Event] = {}
    for i, e in enumerate(store.events("stage_end")):
        ends.setdefault(int(e.data.get("index", i)), e)
    # (read by kind and in SQL: a benchmark run logs an event per answer, too many to decode here)
    last = max(store.last_step() or 0, store.query("SELECT COALESCE(MAX(step), 0) FROM events").fetchone()[0])
    # The latest fit_end/resume says whether an open stage stopped (and why) or is still going.
    lifecycle = [Event(st, k, json.loads(d), t) for st, k, d, t in store.query(
        "SELECT step, kind, data, time FROM events WHERE kind IN ('fit_end', 'resume') ORDER BY step, rowid")]
    ordered = sorted(starts.items(), key=lambda kv: (kv[1].step, kv[0]))
    out = []
    for pos, (idx, start_ev) in enumerate(ordered):
        end_ev = ends.get(idx)
        if end_ev is not None and end_ev.step >= start_ev.step:
            out.append((start_ev, end_ev.step, end_ev, end_ev.data.get("reason")))
            continue
        nxt = ordered[pos + 1][1].step if pos + 1 < len(ordered) else None
        end = nxt if nxt is not None else last
        after = [e for e in lifecycle if start_ev.step <= e.step <= end]
        stopped = after and after[-1].kind == "fit_end"
        reason = (after[-1].data.get("reason") or after[-1].data.get("status")) if stopped else "running"
        out.append((start_ev, max(end, start_ev.step), None, reason))
    return out


def _sources(keys: list[str], prefix: str) -> dict[str, str]:
    """source -> key for keys ``<prefix><source>`` with no further slash (not ``eval/loss/a/b``)."""
    return {k[len(prefix):]: k for k in keys
            if k.startswith(prefix) and k != prefix and "/" not in k[len(prefix):]}


def _clean(series: tuple[list[int], list[float | None]]) -> Series:
    """Drop missing (non-finite) values so comparisons and means see numbers only."""
    pairs = [(s, v) for s, v in zip(*series) if v is not None]
    return [s for s, _ in pairs], [v for _, v in pairs]


def _window(series: Series, lo: int, hi: int) -> Series:
    """The points with ``lo < step <= hi``."""
    steps, values = series
    i, j = bisect_right(steps, lo), bisect_right(steps, hi)
    return steps[i:j], values[i:j]


def _at_or_before(series: Series, step: int) -> float | None:
    i = bisect_right(series[0], step)
    return series[1][i - 1] if i else None


# ------------------------------------------------------------------------------- terminal
def format_stage_table(rows: list[StageRow]) -> Table:
    """A compact rich table: one line per (stage, source), so it stays narrow with many sources."""
    table = Table(title="stages", title_justify="left", show_edge=False, pad_edge=False,
                  header_style="bold", caption_justify="left")
    for name, kw in [("stage", {}), ("steps", {"justify": "right"}), ("reason", {"max_width": 28}),
                     ("source", {}), ("final loss", {"justify": "right"}), ("jump", {"justify": "right"}),
                     ("recover", {"justify": "right"})]:
        table.add_column(name, overflow="fold", **kw)
    any_train = False
    for row in rows:
        sources = sorted(set(row.final_loss) | set(row.jump)) or [""]
        for i, s in enumerate(sources):
            final = ""
            if s in row.final_loss:
                from_train = row.final_from.get(s) == "train"
                any_train |= from_train
                final = f"{row.final_loss[s]:.3f}" + ("*" if from_train else "")
            jump = f"{row.jump[s]:+.3f}" if s in row.jump else ""
            rec = row.recover_steps.get(s, "")
            rec = "never" if rec is None and s in row.recover_steps else str(rec)
            first = i == 0
            table.add_row(Text(f"{row.index} {row.name}") if first else None,
                          f"{row.steps}" if first else None,
                          Text(str(row.end_reason or "")) if first else None,
                          Text(s), final, jump, rec, end_section=i == len(sources) - 1)
    if any_train:
        table.caption = "* train loss over the stage's last 10% of steps (no eval in the stage)"
    return table


def family_table(store: RunStore) -> Table | None:
    """Signal families (``eval/family/*``, e.g. reasoning vs standard): first, last and change."""
    keys = store.metric_keys("eval/family/")
    if not keys:
        return None
    table = Table(title="signal families (gauntlet-centred: 0 = chance, 1 = perfect)", title_justify="left",
                  show_edge=False, pad_edge=False, header_style="bold")
    for name in ("family", "first", "last", "change"):
        table.add_column(name, justify="left" if name == "family" else "right")
    for key in keys:
        steps, values = _clean(store.series(key))
        if not steps:
            continue
        table.add_row(key.removeprefix("eval/family/"), f"{values[0]:.3f} @ {steps[0]}",
                      f"{values[-1]:.3f} @ {steps[-1]}", f"{values[-1] - values[0]:+.3f}")
    return table
