"""Where curves come from: a handhold run directory, a CSV file, or a TensorBoard log directory.

Each loader returns the same :class:`Loaded` (name -> (steps, values), plus stage switches
when the source knows them), and every problem is a :class:`SourceError` whose one line names
the file and, where there is one, the line and column.
"""

from __future__ import annotations

import csv
import fnmatch
import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..bounds import STEP_MAX
from .prepare import MAX_METRICS

STEP_COLUMN = "step"
STAGE_COLUMN = "stage"
# per-layer internals: signals, but too many to read by default (ask with --metric)
SKIP = re.compile(r"^internal/[^/]+/.+")


class SourceError(ValueError):
    """A source that cannot be read; ``str()`` is one line naming the file and the problem."""


@dataclass
class Loaded:
    origin: str
    kind: str  # "run", "csv" or "tensorboard"
    series: dict[str, tuple[np.ndarray, np.ndarray]]
    switches: list[int | float] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)  # run stores: how each stage ended
    roles: dict[str, str] = field(default_factory=dict)  # recorded roles (handhold.roles), key or glob -> role
    docs: dict[str, list[Any]] = field(default_factory=dict)  # benchmark key -> its evals' DocScores
    note: str | None = None  # what was left out, when the source holds more metrics than MAX_METRICS

    def role(self, key: str, overrides: dict[str, str] | None = None) -> str:
        from ..roles import role_of

        return role_of(key, self.roles, overrides)

    def default(self, overrides: dict[str, str] | None = None,
                limit: int = MAX_METRICS) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Every signal (:mod:`handhold.roles`: not schedule or system) but per-layer internals;
        every signal if that would leave none; every series if there is no signal. At most the
        first ``limit`` by name order: the cost of an analysis stays bounded on a source of a
        million metrics, and :attr:`note` says how many were left out and how to pick others."""
        from ..roles import SIGNAL

        sig = [k for k in self.series if self.role(k, overrides) == SIGNAL]
        names = [k for k in sig if not SKIP.search(k.lower())] or sig or list(self.series)
        if len(names) > limit:
            self.note = (f"{self.origin}: {len(names):,} metrics; analysed the first {limit:,} by name "
                         f"(pick others with --metric NAME_OR_GLOB)")
        return {k: self.series[k] for k in names[:limit]}


def select(series: Mapping[str, Any], patterns: list[str] | tuple[str, ...], origin: str,
           limit: int = MAX_METRICS) -> dict[str, Any]:
    """The series named by ``patterns`` (exact names or globs such as ``eval/*``), in order;
    more than ``limit`` of them is a SourceError (an analysis of a million curves never ends)."""
    names: dict[str, None] = {}
    for pat in patterns:
        hits = [pat] if pat in series else [k for k in series if fnmatch.fnmatchcase(k, pat)]
        if not hits:
            listed = list(itertools.islice(series, 13))
            shown = ", ".join(listed[:12]) + (", ..." if len(listed) > 12 else "")
            raise SourceError(f"{origin}: no metric {pat!r} (metrics: {shown})")
        names.update(dict.fromkeys(hits))
        if len(names) > limit:
            raise SourceError(f"{origin}: the --metric patterns name over {limit:,} metrics; an analysis "
                              f"takes at most {limit:,} at a time (narrow the patterns)")
    return {k: series[k] for k in names}


def load_source(path: str | Path) -> Loaded:
    """Read a run directory (or its ``run.db``), a ``.csv`` file or a TensorBoard log directory."""
    p = Path(path)
    if not p.exists():
        raise SourceError(f"{p}: no such file or directory")
    if p.is_dir():
        if (p / "run.db").is_file():
            return load_run(p)
        return load_tensorboard(p)
    if p.name == "run.db" or p.suffix == ".db":
        return load_run(p)
    if "tfevents" in p.name:
        return load_tensorboard(p)
    return load_csv(p)


# ------------------------------------------------------------------------------ run store
def load_run(path: Path) -> Loaded:
    from ..runstore.db import RunStore, StoreError

    try:
        with RunStore.reader(path) as store:
            return from_store(store)
    except StoreError as exc:
        raise SourceError(str(exc)) from None


class StoreSeries(Mapping):
    """A run's metrics by name, each read from the store when it is asked for: the names come
    from the store's key table, so a run of a million metrics costs only what is analysed."""

    def __init__(self, store: Any) -> None:
        self._path = store.path
        self._keys = store.metric_keys()
        self._known = set(self._keys)
        self._reader: Any = None

    def __getitem__(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        if key not in self._known:
            raise KeyError(key)
        from ..runstore.db import RunStore, StoreError

        try:
            if self._reader is None:
                self._reader = RunStore.reader(self._path)
            steps, values = self._reader.series(key)
        except StoreError as exc:  # a damaged row, met when the curve is read
            raise SourceError(str(exc)) from None
        return (np.asarray(steps, dtype=np.float64),
                np.asarray([np.nan if v is None else v for v in values], dtype=np.float64))

    def __contains__(self, key: object) -> bool:
        return key in self._known

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __del__(self) -> None:
        if self._reader is not None:
            self._reader.close()


def from_store(store: Any) -> Loaded:
    """Every metric of an open run store (read when asked for), and the steps where a stage
    after the first started."""
    series = StoreSeries(store)
    switches = sorted({e.step for i, e in enumerate(store.events("stage_start"))
                       if int(e.data.get("index", i)) > 0})
    from ..doc_scores import EVENT, by_key, read_events
    from ..roles import stored_roles
    from ..summary import stage_decisions

    return Loaded(str(store.path.parent), "run", series, switches, stage_decisions(store),
                  roles=stored_roles(store.meta()), docs=by_key(read_events(store.events(EVENT))))


# ------------------------------------------------------------------------------ CSV
def load_csv(path: Path) -> Loaded:
    """A ``step`` column, one numeric column per metric (empty cells are missing values) and
    optionally a ``stage`` column naming each row's stage."""
    try:
        delimiter = _delimiter(path)
        with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: Excel's byte-order mark
            rows = csv.reader(f, delimiter=delimiter)
            header = next(rows, None)
            if header is None or not any(h.strip() for h in header):
                raise SourceError(f"{path}: empty file (expected a header with a '{STEP_COLUMN}' column)")
            names = [h.strip() for h in header]
            lower = [n.lower() for n in names]
            _no_duplicates(path, names, lower)
            step_name = next((c for c in (STEP_COLUMN, "_step") if c in lower), None)  # _step: W&B history
            if step_name is None:
                raise SourceError(f"{path}:1: no '{STEP_COLUMN}' column (columns: {', '.join(names)})")
            step_i = lower.index(step_name)
            stage_i = lower.index(STAGE_COLUMN) if STAGE_COLUMN in lower else None
            numeric = [i for i in range(len(names)) if i != stage_i]
            columns: list[list[float]] = [[] for _ in numeric]
            stages: list[str] = []
            fast = _fast_csv(path, len(names), step_i, delimiter) if stage_i is None else None
            if fast is not None:
                columns = fast
            for row in rows if fast is None else ():
                if not row or not any(c.strip() for c in row):
                    continue
                if len(row) != len(names):
                    raise SourceError(f"{path}:{rows.line_num}: {len(row)} fields, the header has {len(names)}")
                for col, i in zip(columns, numeric):
                    col.append(_number(row[i], path, rows.line_num, names[i], required=i == step_i))
                if stage_i is not None:
                    stages.append(row[stage_i].strip())
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not a text CSV file ({exc.reason})") from None
    except csv.Error as exc:
        raise SourceError(f"{path}: not a readable CSV file ({exc})") from None
    if not len(columns[0]):
        raise SourceError(f"{path}: no data rows below the header")
    data = {names[i]: np.asarray(col, dtype=np.float64) for col, i in zip(columns, numeric)}
    steps = data.pop(names[step_i])
    if not data:
        raise SourceError(f"{path}: no metric columns besides '{names[step_i]}'")
    series = {k: (steps, v) for k, v in data.items()}
    switches = []
    for i in range(1, len(stages)):
        if stages[i] and stages[i - 1] and stages[i] != stages[i - 1]:
            switches.append(_step(steps[i - 1]))
    return Loaded(str(path), "csv", series, switches)


def _delimiter(path: Path) -> str:
    """``,`` unless the header line has none and has ``;`` or a tab (a spreadsheet's export in
    a locale whose decimal mark is the comma)."""
    with path.open("rb") as f:
        first = f.readline(1 << 20)
    if b"," in first:
        return ","
    return ";" if b";" in first else "\t" if b"\t" in first else ","


def _fast_csv(path: Path, width: int, step_i: int = 0, delimiter: str = ",") -> list[np.ndarray] | None:
    """numpy's C reader for the common, clean, all-numeric case (1M rows in a tenth of a second);
    ``None`` when the file needs the careful reader (empty cells, quotes, a stage column, bad
    values or a ragged row: it names them)."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "empty input file" and friends: let the careful path speak
            data = np.loadtxt(path, delimiter=delimiter, skiprows=1, dtype=np.float64, ndmin=2,
                              encoding="utf-8-sig")
    except (ValueError, UserWarning, UnicodeDecodeError):
        return None
    if not len(data) or data.shape[1] != width or not (np.abs(data[:, step_i]) <= STEP_MAX).all():
        return None  # a missing, non-finite or out-of-range step: the careful reader names its line
    return [data[:, k] for k in range(width)]


def _no_duplicates(path: Path, names: list[str], lower: list[str]) -> None:
    """Two columns of one name: which one is the curve? (``step``/``stage`` in any case.)"""
    seen: dict[str, int] = {}
    for i, (name, low) in enumerate(zip(names, lower)):
        key = low if low in (STEP_COLUMN, STAGE_COLUMN) else name
        if key in seen:
            raise SourceError(f"{path}:1: column '{name}' appears twice (columns {seen[key] + 1} and {i + 1}); "
                              "rename one")
        seen[key] = i


def _number(cell: str, path: Path, line: int, column: str, required: bool) -> float:
    text = cell.strip()
    if not text:
        if required:
            raise SourceError(f"{path}:{line}: column '{column}': missing value")
        return float("nan")
    try:
        value = float(text)
    except ValueError:
        raise SourceError(f"{path}:{line}: column '{column}': not a number: {text[:40]!r}") from None
    if required and not abs(value) <= STEP_MAX:
        raise SourceError(f"{path}:{line}: column '{column}': step {text[:40]!r} is not a finite number within "
                          "+-2**63-1 (the range a run store holds)")
    return value


def _step(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


# ------------------------------------------------------------------------------ TensorBoard
def load_tensorboard(path: Path) -> Loaded:
    """Scalars of every event file under ``path``; a run in a subfolder prefixes its tags
    (``train/epoch_loss``), as TensorBoard shows them."""
    from ..extras import MissingExtraError, require

    files = [path] if path.is_file() else sorted(path.rglob("*tfevents*"))
    if not files:
        raise SourceError(f"{path}: not a handhold run (no run.db) and no TensorBoard event files "
                          "(events.out.tfevents.*) under it")
    try:
        require("tensorboard", "tensorboard")
    except MissingExtraError as exc:
        raise SourceError(f"{path}: {exc}") from None
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    for f in files:
        _check_records(f)
    root = path if path.is_dir() else path.parent
    series: dict[str, tuple[list[float], list[float]]] = {}
    for run_dir in sorted({f.parent for f in files}):
        acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "tensors": 0})
        try:
            acc.Reload()
        except Exception as exc:  # noqa: BLE001 - corrupt files raise several kinds of error
            raise SourceError(f"{run_dir}: unreadable TensorBoard event file ({type(exc).__name__}: {exc})") from None
        prefix = "" if run_dir == root else run_dir.relative_to(root).as_posix() + "/"
        tags = acc.Tags()
        for tag in tags.get("scalars", []):
            events = acc.Scalars(tag)
            series[prefix + tag] = ([e.step for e in events], [e.value for e in events])
        for tag in tags.get("tensors", []):
            events = acc.Tensors(tag)
            try:
                values = [float(np.asarray(tensor_util.make_ndarray(e.tensor_proto)).reshape(-1)[0])
                          for e in events]
            except (ValueError, IndexError, TypeError):
                continue  # not a scalar summary (text, histograms)
            series.setdefault(prefix + tag, ([e.step for e in events], values))
    if not series:
        raise SourceError(f"{path}: the TensorBoard event files hold no scalar series")
    out = {k: (np.asarray(s, dtype=np.float64), np.asarray(v, dtype=np.float64)) for k, (s, v) in series.items()}
    return Loaded(str(path), "tensorboard", out)


def _check_records(path: Path) -> None:
    """TensorBoard's reader stops quietly at the first damaged record (2 of 300 points read,
    without a word); walk the records and their checksums first, so damage is named. A record
    cut short at the very end is a file being written, not damage."""
    from tensorboard.compat.tensorflow_stub import errors
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New

    reader = PyRecordReader_New(str(path))
    n = 0
    try:
        while True:
            try:
                reader.GetNext()
            except errors.OutOfRangeError:
                return
            except errors.DataLossError as exc:
                if "truncated record" in str(exc):
                    return
                raise SourceError(f"{path}: damaged TensorBoard event file: record {n + 1} fails its "
                                  "checksum (the records after it cannot be read)") from None
            n += 1
    finally:
        reader.file_handle.close()
