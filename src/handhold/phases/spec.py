"""What a phase detector declares to be run, typed, drawn and tabled (:mod:`.registry` lists them).

A detector that reads across metrics (divergence, grokking, the leading indicator, yours) adds
one *section* to the phases document: a list of entries of one type. Its :class:`Detector`
says

- what it **needs**: ``needs(context)`` yields the groups of series it reads (a pair of keys,
  a (weight norm, Gini) pair, one key...), and ``detect(context, group)`` returns the entries
  for one group (``order`` sorts the section);
- how its entries are **typed**: ``entry``, a ``TypedDict`` (:mod:`.document` builds the
  document's type from these, and ``analyze`` refuses an entry that does not match it);
- how they are **drawn** on the panels of the report and the dashboard: ``marks``, a
  :class:`Band` (a stretch of steps along the top edge) or :class:`Lines` (vertical lines at
  steps), on every panel that shows one of the entry's series; ``None``: not drawn;
- how they are **tabled** by ``handhold analyze``: ``title`` and ``columns``;
- how the runs list **sums them up**: ``summary`` (a few words, or none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

Entry = dict[str, Any]
Group = tuple[str, ...]


@dataclass
class Context:
    """What a detector may read: the series as given, every metric's analysis, directions, and
    the caller's options (``pairs``, ``auto_pairs``, ``acc_level``)."""

    series: Mapping[str, tuple[Any, Any]]
    metrics: dict[str, Any]  # name -> its MetricAnalysis (segments, prepared series, track())
    directions: dict[str, str | None]
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def usable(self) -> dict[str, Any]:
        """The metrics with at least one segment (enough points to read a trend)."""
        return {k: r for k, r in self.metrics.items() if r.segments}


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


def keys_of(entry: Entry, fields: tuple[str, ...]) -> list[str]:
    """The series an entry is about: the values of ``fields`` (a key, or a list of keys)."""
    out: list[str] = []
    for f in fields:
        v = entry.get(f)
        out += [str(k) for k in v] if isinstance(v, (list, tuple)) else [] if v is None else [str(v)]
    return out


@dataclass(frozen=True)
class Band:
    """A stretch ``[entry[start], entry[end]]`` as a thin band along the top edge of a panel,
    with ``symbol`` at its left end; overlapping entries make one band (their ``hover`` lines
    together). Its marks are named ``phase:<kind>``."""

    kind: str
    label: str  # the toggle's words
    keys: tuple[str, ...]  # the entry fields naming its series
    hover: Callable[[Entry], str]
    start: str = "start"
    end: str = "end"
    symbol: str = "≠"
    fill: str = "rgba(214, 39, 40, 0.55)"

    @property
    def names(self) -> list[str]:
        return [f"phase:{self.kind}"]

    def valid(self, entry: Entry) -> bool:
        return _num(entry.get(self.start)) and _num(entry.get(self.end))


@dataclass(frozen=True)
class Lines:
    """A vertical line at each step field of ``steps`` that is set, labelled ``text(entry,
    field)``, ``hover(entry)`` on hover. Its marks are named ``phase:<step field>``."""

    kind: str
    label: str
    keys: tuple[str, ...]
    steps: tuple[str, ...]
    text: Callable[[Entry, str], str]
    hover: Callable[[Entry], str]
    line: dict[str, Any] = field(default_factory=lambda: {"color": "#9467bd", "width": 1.5, "dash": "dash"})
    drawn: Callable[[Entry], bool] | None = None  # which entries are drawn (all when None); all are tabled

    @property
    def names(self) -> list[str]:
        return [f"phase:{s}" for s in self.steps]

    def valid(self, entry: Entry) -> bool:
        return True

    def draws(self, entry: Entry) -> bool:
        return self.drawn is None or bool(self.drawn(entry))


MarkStyle = Union[Band, Lines]


@dataclass(frozen=True)
class Column:
    """One column of the section's table: its header and the cell text of an entry."""

    header: str
    cell: Callable[[Entry], str]


@dataclass(frozen=True)
class Detector:
    section: str
    entry: type  # a TypedDict: the type of one entry of the section
    needs: Callable[[Context], Iterable[Group]]
    detect: Callable[[Context, Group], list[Entry]]
    order: Callable[[Entry], Any] | None = None
    marks: MarkStyle | None = None
    title: str = ""
    columns: tuple[Column, ...] = ()
    summary: Callable[[list[Entry]], list[str]] | None = None

    def run(self, context: Context) -> list[Entry]:
        """Every entry of the section, for every group of series it needs."""
        out = [e for group in self.needs(context) for e in self.detect(context, group)]
        return sorted(out, key=self.order) if self.order else out

    def clean(self, entries: Any) -> list[Entry]:
        """The well-formed entries only (a page must not break on one odd field)."""
        if not isinstance(entries, list):
            return []
        return [e for e in entries if isinstance(e, dict) and (self.marks is None or self.marks.valid(e))]


def fmt(v: Any) -> str:
    """A step or a number for a table cell: ``never`` for none, integers without a point."""
    if v is None:
        return "never"
    if isinstance(v, float):
        return f"{v:.4g}" if not float(v).is_integer() else str(int(v))
    return str(v)
