"""Read runs from a notebook: pandas DataFrames of metrics, stages, events, samples and runs.

    import handhold.read as hh
    df = hh.metric(["runs/curriculum", "runs/baseline"], "eval/loss/physics")
    df.plot(backend="plotly")

Everything is read through the store's read-only connection, each table inside one read
transaction (a WAL snapshot): a trainer can keep writing the same run, and a table never holds
half of a flush. Nothing here writes; a run is opened per call, so an object kept for hours in a
notebook holds no file open. ``handhold export RUN --format parquet|csv --out DIR`` writes the
same tables as files (:func:`export`).

pandas is the ``notebook`` extra (``pip install 'handhold[notebook]'``; parquet needs pyarrow,
in the same extra).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .extras import require
from .runstore.db import RunStore, StoreError, iter_run_dirs

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RunReader", "open_run", "runs", "metric", "metrics", "flatten_config", "export", "TABLES"]

PathLike = str | os.PathLike[str]
TABLES = ("metrics", "metrics_wide", "stages", "events", "samples")


def _pd() -> Any:
    return require("pandas", "notebook")


def flatten_config(config: Mapping[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    """Nested config as dotted keys: ``{"optim": {"lr": 3e-3}}`` -> ``{"optim.lr": 0.003}``.
    A list stays one value (two runs differ in it or not as a whole)."""
    out: dict[str, Any] = {}
    for k, v in (config or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten_config(v, key + "."))
        else:
            out[key] = v
    return out


class RunReader:
    """One run directory, read-only. Each method reads the store anew (a live run moves on)."""

    def __init__(self, run_dir: PathLike) -> None:
        self.path = Path(run_dir)
        with self._snapshot():  # fails now, with the store's message, on a folder that is no run
            pass

    def __repr__(self) -> str:
        return f"RunReader({str(self.path)!r})"

    @contextmanager
    def _snapshot(self) -> Iterator[RunStore]:
        with RunStore.reader(self.path) as store, store.snapshot():
            yield store

    # ------------------------------------------------------------------ run-level facts
    @property
    def id(self) -> str:
        """The run's folder name: how tables of several runs name it."""
        return self.path.name

    @property
    def meta(self) -> dict[str, Any]:
        with self._snapshot() as s:
            return s.meta()

    @property
    def name(self) -> str:
        return str(self.meta.get("name") or self.id)

    @property
    def status(self) -> str:
        """running, finished, failed, stopped, or crashed (a writer that died without finishing)."""
        from .runstore.listing import run_info

        return run_info(self.path).status

    def config(self, flat: bool = False) -> dict[str, Any]:
        """The config the run was started with (``flat``: dotted keys)."""
        cfg = self.meta.get("config") or {}
        return flatten_config(cfg) if flat else cfg

    def keys(self, prefix: str = "") -> list[str]:
        with self._snapshot() as s:
            return s.metric_keys(prefix)

    # ------------------------------------------------------------------ tables
    def metrics(self, keys: str | Iterable[str] | None = None, *, prefix: str = "") -> pd.DataFrame:
        """Long table: ``step, key, value, time`` in step order (NaN: a value logged as NaN/inf)."""
        pd = _pd()
        wanted = _key_list(keys)
        with self._snapshot() as s:
            if wanted is None:
                rows = s.query("SELECT step, key, value, time FROM metrics WHERE key LIKE ? ESCAPE '\\' "
                               "ORDER BY step, rowid", (_like(prefix),)).fetchall()
            else:
                marks = ",".join("?" * len(wanted))
                rows = s.query(f"SELECT step, key, value, time FROM metrics WHERE key IN ({marks}) "
                               "ORDER BY step, rowid", wanted).fetchall() if wanted else []
        df = pd.DataFrame(rows, columns=["step", "key", "value", "time"])
        return df.astype({"step": "int64", "key": "object", "value": "float64", "time": "float64"})

    def metrics_wide(self, keys: str | Iterable[str] | None = None, *, prefix: str = "") -> pd.DataFrame:
        """Wide table: one row per step, one column per key (a key logged twice at a step: the last)."""
        long = self.metrics(keys, prefix=prefix)
        wide = long.groupby(["step", "key"], sort=True)["value"].last().unstack("key")
        wide.columns.name = None
        return wide

    def stages(self) -> pd.DataFrame:
        """One row per started stage: ``index, stage, start, end, steps, reason, evidence, open``,
        plus ``tokens``/``samples`` when the loop logged those counters. ``reason`` is the exit
        rule's (budget, plateau, threshold, max_steps, requested); an open stage's is the run's
        stop reason or ``running``. ``evidence``: the numbers behind the decision (a dict)."""
        pd = _pd()
        from .summary import stage_decisions

        with self._snapshot() as s:
            rows = stage_decisions(s)
            ends = {int(e.data.get("index", i)): e.data for i, e in enumerate(s.events("stage_end"))}
        out = []
        for r in rows:
            end = ends.get(r["index"], {}) if not r["open"] else {}
            out.append({"index": r["index"], "stage": r["stage"], "start": r["start"], "end": r["end"],
                        "steps": r["end"] - r["start"], "reason": r["reason"], "evidence": r["evidence"],
                        "open": r["open"], "tokens": end.get("tokens"), "samples": end.get("samples")})
        cols = ["index", "stage", "start", "end", "steps", "reason", "evidence", "open", "tokens", "samples"]
        return pd.DataFrame(out, columns=cols)

    def events(self, kind: str | None = None) -> pd.DataFrame:
        """``step, kind, data (a dict), time``, in step order."""
        pd = _pd()
        with self._snapshot() as s:
            rows = [(e.step, e.kind, e.data, e.time) for e in s.events(kind)]
        return pd.DataFrame(rows, columns=["step", "kind", "data", "time"])

    def samples(self, kind: str | None = None) -> pd.DataFrame:
        """Generations: ``step, kind, prompt, text, time`` (probes, chats, benchmark answers)."""
        pd = _pd()
        with self._snapshot() as s:
            rows = [(x.step, x.kind, x.prompt, x.text, x.time) for x in s.samples(kind)]
        return pd.DataFrame(rows, columns=["step", "kind", "prompt", "text", "time"])

    def phases(self, **kw: Any) -> dict[str, Any]:
        """The phases document (:func:`handhold.phases.analyze_store`): change points, trends,
        shocks, divergence, grokking, per metric; ``kw`` goes to the analysis."""
        from .phases import analyze_store

        with self._snapshot() as s:
            return analyze_store(s, **kw)

    def last_values(self) -> dict[str, float]:
        """Each metric's value at the last step it has a finite value."""
        with self._snapshot() as s:
            return _last_values(s)


def open_run(run_dir: PathLike) -> RunReader:
    """Open a run directory read-only (a :class:`~handhold.runstore.db.StoreError` if it holds no run)."""
    return RunReader(run_dir)


def _last_values(store: RunStore) -> dict[str, float]:
    rows = store.query(
        "SELECT m.key, m.value FROM metrics m JOIN (SELECT key, MAX(step) AS step FROM metrics "
        "WHERE value IS NOT NULL GROUP BY key) last ON m.key = last.key AND m.step = last.step "
        "WHERE m.value IS NOT NULL ORDER BY m.key, m.rowid").fetchall()
    return {k: v for k, v in rows}  # a key logged twice at its last step: the later row


def _readers(run_dirs: PathLike | RunReader | Iterable[PathLike | RunReader]) -> list[RunReader]:
    if isinstance(run_dirs, (str, os.PathLike, RunReader)):
        run_dirs = [run_dirs]
    return [r if isinstance(r, RunReader) else RunReader(r) for r in run_dirs]


def _labels(readers: list[RunReader]) -> list[str]:
    """The runs' folder names; the whole paths where two folders share a name."""
    ids = [r.id for r in readers]
    return ids if len(set(ids)) == len(ids) else [str(r.path) for r in readers]


def metrics(run_dirs: PathLike | RunReader | Iterable[PathLike | RunReader],
            keys: str | Iterable[str] | None = None, *, prefix: str = "") -> pd.DataFrame:
    """Long table of several runs: ``run, step, key, value, time``."""
    pd = _pd()
    readers = _readers(run_dirs)
    frames = [r.metrics(keys, prefix=prefix).assign(run=label) for r, label in zip(readers, _labels(readers))]
    if not frames:
        return pd.DataFrame(columns=["run", "step", "key", "value", "time"])
    return pd.concat(frames, ignore_index=True)[["run", "step", "key", "value", "time"]]


def metric(run_dirs: PathLike | RunReader | Iterable[PathLike | RunReader], key: str) -> pd.DataFrame:
    """One metric of several runs side by side: index ``step``, one column per run (NaN where a
    run has no value at that step). ``df.plot(backend="plotly")`` draws it."""
    readers = _readers(run_dirs)
    labels = _labels(readers)
    long = metrics(readers, [key])
    wide = long.groupby(["step", "run"], sort=True)["value"].last().unstack("run")
    wide = wide.reindex(columns=[c for c in labels if c in wide.columns] + [c for c in wide.columns if c not in labels])
    wide.columns.name = key
    return wide


def runs(root: PathLike = "runs") -> pd.DataFrame:
    """Every run under ``root`` (a folder of runs, or one run): one row each with ``run, path,
    name, status, reason, stage, stages, last_step``, the flattened config as ``config.<key>``
    columns and each metric's last value under its key. A run that cannot be read gets its
    ``error`` instead. Safe while trainers write (each run read in one snapshot)."""
    pd = _pd()
    from .runstore.listing import run_info

    rows = []
    for d in iter_run_dirs(root):
        try:
            info = run_info(d)
            reader = RunReader(d)
            with reader._snapshot() as s:
                cfg = flatten_config(s.get_meta("config") or {})
                last = _last_values(s)
        except (StoreError, OSError, ValueError) as exc:
            rows.append({"run": d.name, "path": str(d), "error": str(exc)})
            continue
        rows.append({"run": d.name, "path": str(d), "name": info.name, "status": info.status,
                     "reason": info.reason, "stage": info.stage, "stages": list(info.stages),
                     "last_step": info.last_step,
                     **{f"config.{k}": _cell(v) for k, v in cfg.items()}, **last})
    base = ["run", "path", "name", "status", "reason", "stage", "stages", "last_step"]
    df = pd.DataFrame(rows)
    for col in base:
        if col not in df.columns:
            df[col] = None
    config_cols = sorted(c for c in df.columns if c.startswith("config."))
    rest = sorted(c for c in df.columns if c not in base and c not in config_cols)
    return df[base + config_cols + rest]


def _cell(v: Any) -> Any:
    """A config value as one cell (a list becomes its JSON text, so columns stay comparable)."""
    return json.dumps(v) if isinstance(v, (list, dict)) else v


def _key_list(keys: str | Iterable[str] | None) -> list[str] | None:
    if keys is None:
        return None
    return [keys] if isinstance(keys, str) else list(keys)


def _like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


# ---------------------------------------------------------------------- export
def export(run_dir: PathLike, out: PathLike, fmt: str = "parquet") -> list[Path]:
    """Write the run's tables as files in ``out``: ``metrics``, ``metrics_wide``, ``stages``,
    ``events``, ``samples`` (``.parquet`` or ``.csv``), then ``config.json`` and ``phases.json``.
    Dict cells (event data, stage evidence) are written as JSON text. Returns the paths."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"export: format must be parquet or csv, not {fmt!r}")
    if fmt == "parquet":
        require("pyarrow", "notebook")
    run = RunReader(run_dir)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = {"metrics": run.metrics(), "metrics_wide": run.metrics_wide().reset_index(),
              "stages": run.stages(), "events": run.events(), "samples": run.samples()}
    written = []
    for name, df in tables.items():
        df = df.copy()
        for col in ("data", "evidence"):
            if col in df.columns:
                df[col] = [json.dumps(v, sort_keys=True) for v in df[col]]
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            df.to_csv(path, index=False)
        else:
            df.to_parquet(path, index=False)
        written.append(path)
    for name, doc in (("config", run.config()), ("phases", run.phases())):
        path = out / f"{name}.json"
        path.write_text(json.dumps(doc, indent=1, sort_keys=True, default=str), encoding="utf-8")
        written.append(path)
    return written
