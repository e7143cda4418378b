"""The readers of ``handhold import``: a CSV (W&B export too), a TensorBoard log and a trackio
database as :class:`Source` columns, every point kept with its source step and its row number.

Nothing here decides what to keep: :mod:`.importer` checks the steps, resolves repeated ones as
the user asked and writes the run. A source that cannot be read is a ``SourceError`` naming the
file (the trackio reader also the run, the row or the table); a point that is not a number is
counted in ``skipped``, never dropped without a word.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..phases.sources import SourceError, load_csv, load_tensorboard

_ENVELOPE = re.compile(r"__(MIN|MAX)$")
_WANDB_BOOKKEEPING = {"_runtime", "_timestamp", "_step"}


@dataclass
class Column:
    """One metric's points: the source's steps (floats, NaN where it has none), the values and
    the row number of each point (what ``--step-from index`` uses as its step)."""

    steps: np.ndarray
    values: np.ndarray
    rows: np.ndarray


@dataclass
class Source:
    kind: str  # csv, tensorboard or trackio
    columns: dict[str, Column]
    switches: list[float] = field(default_factory=list)  # source steps where a new stage starts
    switch_rows: list[int] = field(default_factory=list)  # the same, as row numbers
    name: str | None = None
    config: dict[str, Any] | None = None
    skipped: dict[str, int] = field(default_factory=dict)  # why -> how many points were not read
    rows: int = 0  # rows (CSV lines, trackio log calls, TensorBoard distinct steps) in the source


def is_trackio(path: Path) -> bool:
    if path.suffix not in (".db", ".sqlite", ".sqlite3") or not path.is_file():
        return False
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            cols = {r[1] for r in conn.execute("PRAGMA table_info(metrics)")}
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False
    return {"run_name", "step", "metrics"} <= cols


def read(path: Path, run: str | None) -> Source:
    if is_trackio(path):
        return read_trackio(path, run)
    if path.is_dir() or "tfevents" in path.name:
        return read_tensorboard(path)
    return read_csv(path)


# ------------------------------------------------------------------------------ CSV
def read_csv(path: Path) -> Source:
    """A CSV / W&B export: envelope columns (``__MIN``/``__MAX``) and W&B bookkeeping dropped, a
    run-name prefix shared by every column stripped and kept as the name; empty cells are no
    point."""
    loaded = load_csv(path)
    names = [k for k in loaded.series if not _ENVELOPE.search(k) and k not in _WANDB_BOOKKEEPING]
    prefixes = {k.split(" - ", 1)[0] for k in names if " - " in k}
    run_name = prefixes.pop() if len(prefixes) == 1 and all(" - " in k for k in names) else None
    columns = {}
    n = 0
    for k in names:
        steps, values = loaded.series[k]
        n = len(steps)
        rows = np.arange(len(steps))
        keep = ~np.isnan(values)
        label = k.split(" - ", 1)[1] if run_name else k
        columns[label] = Column(np.asarray(steps)[keep], np.asarray(values)[keep], rows[keep])
    steps = next(iter(loaded.series.values()))[0]
    switch_rows = [int(np.flatnonzero(steps == s)[0]) for s in loaded.switches]
    return Source("csv", columns, [float(s) for s in loaded.switches], switch_rows, run_name, rows=n)


# ------------------------------------------------------------------------------ TensorBoard
def read_tensorboard(path: Path) -> Source:
    """Every scalar; a point's row number is the rank of its step among all the log's steps."""
    loaded = load_tensorboard(path)
    every = np.unique(np.concatenate([s for s, _ in loaded.series.values()]))
    columns = {k: Column(np.asarray(s, dtype=np.float64), np.asarray(v, dtype=np.float64),
                         np.searchsorted(every, s)) for k, (s, v) in loaded.series.items()}
    return Source("tensorboard", columns, rows=len(every))


# ------------------------------------------------------------------------------ trackio
def read_trackio(path: Path, run: str | None) -> Source:
    """One run of a trackio project database: its series, its config (if stored) and its name.

    Any shape trackio has written or a user has edited is read or named: no ``id`` column (rows
    in insertion order), steps as text or NULL (counted as rows without a step), a NULL run name,
    metrics that are not a JSON object, a config that is not one."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise SourceError(f"{path}: cannot open the trackio database ({exc})") from None
    try:
        return _read_trackio(conn, path, run)
    except sqlite3.Error as exc:
        raise SourceError(f"{path}: unreadable trackio database ({type(exc).__name__}: {exc})") from None
    finally:
        conn.close()


def _run_label(name: Any) -> str:
    return "(no name)" if name is None else str(name)


def _read_trackio(conn: sqlite3.Connection, path: Path, run: str | None) -> Source:
    runs = [r[0] for r in conn.execute("SELECT DISTINCT run_name FROM metrics")]
    runs.sort(key=_run_label)
    labels = [_run_label(r) for r in runs]
    if not runs:
        raise SourceError(f"{path}: the trackio database has no metrics")
    if run is None:
        if len(runs) > 1:
            raise SourceError(f"{path}: the trackio database holds {len(runs)} runs ({', '.join(labels)}); "
                              "choose one with --run NAME")
        chosen = runs[0]
    elif run in labels:
        chosen = runs[labels.index(run)]
    else:
        raise SourceError(f"{path}: no run {run!r} in the trackio database (runs: {', '.join(labels)})")
    cols = {r[1] for r in conn.execute("PRAGMA table_info(metrics)")}
    order = "id" if "id" in cols else "rowid"
    points: dict[str, tuple[list[float], list[float], list[int]]] = {}
    skipped: dict[str, int] = {}
    n = 0
    for i, (step, blob) in enumerate(conn.execute(
            f"SELECT step, metrics FROM metrics WHERE run_name IS ? ORDER BY {order}", (chosen,))):
        n += 1
        try:
            values = json.loads(blob)
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError, RecursionError) as exc:
            raise SourceError(f"{path}: run {_run_label(chosen)!r}, row {i + 1} (step {step!r:.40}): metrics "
                              f"are not JSON ({str(exc)[:80]})") from None
        if not isinstance(values, dict):
            raise SourceError(f"{path}: run {_run_label(chosen)!r}, row {i + 1}: metrics are a JSON "
                              f"{type(values).__name__}, not an object of name: value")
        at = _float(step)
        for k, v in values.items():
            if k in ("step", "timestamp"):
                continue
            x = _float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
            if x is None:
                why = "not a number (text, a list, a bool)"
                skipped[why] = skipped.get(why, 0) + 1
                continue
            s, vals, rows = points.setdefault(str(k), ([], [], []))
            s.append(at if at is not None else math.nan)
            vals.append(x)
            rows.append(i)
    columns = {k: Column(np.asarray(s, dtype=np.float64), np.asarray(v, dtype=np.float64), np.asarray(r))
               for k, (s, v, r) in points.items()}
    return Source("trackio", columns, name=_run_label(chosen), config=_trackio_config(conn, chosen, skipped),
                  skipped=skipped, rows=n)


def _float(v: Any) -> float | None:
    """A number from the database (int, float or numeric text); None for anything else."""
    if isinstance(v, bool) or v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError, OverflowError):
        return None


def _trackio_config(conn: sqlite3.Connection, run: Any, skipped: dict[str, int]) -> dict[str, Any] | None:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "configs" not in tables:
        return None
    cols = {r[1] for r in conn.execute("PRAGMA table_info(configs)")}
    if not {"run_name", "config"} <= cols:
        skipped["config: the configs table has no run_name/config column"] = 1
        return None
    row = conn.execute("SELECT config FROM configs WHERE run_name IS ? ORDER BY rowid DESC LIMIT 1", (run,)).fetchone()
    if row is None:
        return None
    try:
        config = json.loads(row[0])
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, RecursionError):
        config = None
    if not isinstance(config, dict):
        skipped["config: not a JSON object"] = 1
        return None
    return config
