"""``handhold import SOURCE --out RUN_DIR``: another tool's run as a handhold run store, so
``serve``, ``report`` and ``analyze`` work on it (phases included).

Sources (read by :mod:`handhold.phases.sources` where it already can):

- a CSV file with a ``step`` column (or W&B's ``Step``/``_step``): one column per metric, empty
  cells skipped. A W&B chart export's ``name__MIN``/``name__MAX`` columns (the envelope of the
  points W&B sampled) are dropped, and a run-name prefix shared by every column
  (``"my-run - train/loss"``) is stripped and kept as the run's name. A ``stage`` column
  becomes stage starts.
- a TensorBoard log directory (or event file): every scalar.
- a trackio project database (``~/.cache/huggingface/trackio/<project>.db``): its ``metrics``
  table (one JSON object per row and step) of one run (``--run NAME`` when it holds several),
  and that run's config when the database has a ``configs`` table.

Keys with characters the Run API refuses are rewritten (``"val acc"`` -> ``val_acc``).
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..phases.sources import SourceError, load_csv, load_tensorboard
from ..runstore.live import Run, RunError

_BAD = re.compile(r"[^\w.\-:@+=,()\[\]/]+")
_ENVELOPE = re.compile(r"__(MIN|MAX)$")
_WANDB_BOOKKEEPING = {"_runtime", "_timestamp", "_step"}


def _key(name: str) -> str:
    key = "/".join(p for p in _BAD.sub("_", name.strip()).split("/") if p)
    return key or "value"


def _is_trackio(path: Path) -> bool:
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


# ------------------------------------------------------------------------------ readers
def read_csv(path: Path) -> tuple[dict[str, tuple[list[int], list[float]]], list[int], str | None]:
    """(series, stage switch steps, run name) of a CSV / W&B export."""
    loaded = load_csv(path)
    names = [k for k in loaded.series if not _ENVELOPE.search(k) and k not in _WANDB_BOOKKEEPING]
    prefixes = {k.split(" - ", 1)[0] for k in names if " - " in k}
    run_name = None
    if len(prefixes) == 1 and all(" - " in k for k in names):
        run_name = prefixes.pop()
    series = {}
    for k in names:
        steps, values = loaded.series[k]
        pairs = [(int(s), float(v)) for s, v in zip(steps, values) if not math.isnan(v)]
        label = k.split(" - ", 1)[1] if run_name else k
        series[label] = ([s for s, _ in pairs], [v for _, v in pairs])
    return series, [int(s) for s in loaded.switches], run_name


def read_tensorboard(path: Path) -> dict[str, tuple[list[int], list[float]]]:
    loaded = load_tensorboard(path)
    return {k: ([int(x) for x in s], [float(x) for x in v]) for k, (s, v) in loaded.series.items()}


def read_trackio(path: Path, run: str | None) -> tuple[dict[str, tuple[list[int], list[float]]], dict | None, str]:
    """One run of a trackio project database: its series, its config (if stored) and its name."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        runs = [r[0] for r in conn.execute("SELECT DISTINCT run_name FROM metrics ORDER BY run_name")]
        if not runs:
            raise SourceError(f"{path}: the trackio database has no metrics")
        if run is None:
            if len(runs) > 1:
                raise SourceError(f"{path}: the trackio database holds {len(runs)} runs ({', '.join(runs)}); "
                                  "choose one with --run NAME")
            run = runs[0]
        elif run not in runs:
            raise SourceError(f"{path}: no run {run!r} in the trackio database (runs: {', '.join(runs)})")
        series: dict[str, tuple[list[int], list[float]]] = {}
        rows = conn.execute("SELECT step, metrics FROM metrics WHERE run_name = ? ORDER BY step, id", (run,))
        for i, (step, blob) in enumerate(rows, 1):
            try:
                values = json.loads(blob)
            except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
                raise SourceError(f"{path}: run {run!r}, row {i} (step {step}): metrics are not JSON ({exc})") from None
            for k, v in values.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("step", "timestamp"):
                    s, vals = series.setdefault(k, ([], []))
                    s.append(int(step))
                    vals.append(float(v))
        config = None
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "configs" in tables:
            row = conn.execute("SELECT config FROM configs WHERE run_name = ? ORDER BY rowid DESC LIMIT 1",
                               (run,)).fetchone()
            if row is not None:
                try:
                    config = json.loads(row[0])
                except (json.JSONDecodeError, TypeError):
                    config = None
    finally:
        conn.close()
    return series, config, run


# ------------------------------------------------------------------------------ writing
def import_run(source: str | Path, out: str | Path, *, run: str | None = None, name: str | None = None) -> Path:
    """Write ``source`` (CSV, TensorBoard dir, trackio db) as a new run store at ``out``."""
    src = Path(source)
    if not src.exists():
        raise SourceError(f"{src}: no such file or directory")
    config, switches, found_name, kind = None, [], None, ""
    if _is_trackio(src):
        series, config, found_name = read_trackio(src, run)
        kind = "trackio"
    elif src.is_dir() or "tfevents" in src.name:
        series, kind = read_tensorboard(src), "tensorboard"
    else:
        series, switches, found_name = read_csv(src)
        kind = "csv"
    if not any(s for s, _ in series.values()):
        raise SourceError(f"{src}: no metric values to import")
    by_step: dict[int, dict[str, float]] = {}
    renamed: dict[str, str] = {}
    for k, (steps, values) in series.items():
        key = _key(k)
        if key != k:
            renamed[k] = key
        for s, v in zip(steps, values):
            by_step.setdefault(s, {})[key] = v
    run = Run(out, config=config, name=name or found_name or src.stem)
    try:
        run.set_meta(imported={"source": str(src.resolve()), "kind": kind, "run": found_name, "renamed": renamed})
        marks, n_stages = sorted(set(switches)), 0
        if marks:
            run.stage("stage 0", step=min(by_step))
            n_stages = 1
        for step in sorted(by_step):
            while marks and marks[0] <= step:
                run.stage(f"stage {n_stages}", step=marks.pop(0))
                n_stages += 1
            run.log(by_step[step], step=step)
        run.finish("finished", f"imported from {kind} {src.name}")
    except BaseException as exc:
        run.finish("failed", f"import failed: {exc}")
        raise
    return Path(out)


def import_cmd(
    source: Annotated[Path, typer.Argument(help="a CSV (W&B export too), a TensorBoard log dir, or a trackio .db")],
    out: Annotated[Path, typer.Option("--out", help="the new run directory")],
    run: Annotated[Optional[str], typer.Option("--run", help="which run of a trackio database")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="the run's name (default: from the source)")] = None,
) -> None:
    """Turn another tool's run into a handhold run store (then serve, report, analyze it)."""
    from ..terminal import fail as _fail

    try:
        path = import_run(source, out, run=run, name=name)
    except (SourceError, RunError) as exc:
        _fail(str(exc))
    from ..runstore.db import RunStore

    with RunStore.reader(path) as store:
        typer.echo(f"imported {store.count('metrics'):,} values of {len(store.metric_keys())} metrics "
                   f"(steps up to {store.last_step()}) into {path}")
