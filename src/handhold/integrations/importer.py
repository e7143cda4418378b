"""``handhold import SOURCE --out RUN_DIR``: another tool's run as a handhold run store, so
``serve``, ``report`` and ``analyze`` work on it (phases included).

Sources (read by :mod:`.import_sources`):

- a CSV file with a ``step`` column (or W&B's ``Step``/``_step``), comma-, semicolon- or
  tab-separated: one column per metric, empty cells skipped. A W&B chart export's
  ``name__MIN``/``name__MAX`` columns (the envelope of the points W&B sampled) are dropped, and a
  run-name prefix shared by every column (``"my-run - train/loss"``) is stripped and kept as the
  run's name. A ``stage`` column becomes stage starts.
- a TensorBoard log directory (or event file): every scalar.
- a trackio project database (``~/.cache/huggingface/trackio/<project>.db``): its ``metrics``
  table (one JSON object per row and step) of one run (``--run NAME`` when it holds several),
  and that run's config when the database has a ``configs`` table.

Every point is imported, or the command says how many were not and why, or it refuses and names
the option that allows the import:

- steps must be whole numbers from 0 to 2**63-1 (a run store's steps). Fractions (0.5, 1.5),
  negative steps, steps beyond that or rows without a step are refused; ``--step-from index``
  numbers the rows 0, 1, 2, ... instead (CSV and trackio: in file order; TensorBoard: by step)
  and keeps the source's step as the metric ``import/source_step``;
- a metric with two points at one step is refused; ``--on-duplicate last|first|mean`` keeps the
  last, the first or their mean, and the command counts the points merged;
- keys with characters the Run API refuses are rewritten (``"val acc"`` -> ``val_acc``; a key
  over 256 characters is cut and given a digest), two names that would become one key are told
  apart (``_2``), all listed in the run's ``imported`` meta;
- the run is written into a temporary folder beside ``--out`` and renamed at the end: an import
  that fails leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from ..phases.sources import SourceError
from ..runstore.layout import db_path
from ..runstore.live import Run, RunError
from .import_sources import Source, read

_BAD = re.compile(r"[^\w.\-:@+=,()\[\]/]+")
MAX_KEY = 256
SOURCE_STEP = "import/source_step"


class OnDuplicate(str, Enum):
    error = "error"
    last = "last"
    first = "first"
    mean = "mean"


class StepFrom(str, Enum):
    source = "source"
    index = "index"


@dataclass
class ImportResult:
    path: Path
    kind: str
    values: int  # points written
    metrics: int
    last_step: int
    notes: list[str] = field(default_factory=list)  # what changed, with counts


def _key(name: str) -> str:
    key = "/".join(p for p in _BAD.sub("_", name.strip()).split("/") if p) or "value"
    if len(key) > MAX_KEY:
        digest = hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        key = key[:MAX_KEY - 11].rstrip("/") + "-" + digest
    return key


def _keys(names: list[str]) -> dict[str, str]:
    """Each source name's key: cleaned, and unique (two names never merge into one curve)."""
    out: dict[str, str] = {}
    taken: set[str] = {SOURCE_STEP}
    for name in names:
        key, n = _key(name), 1
        while key in taken:
            n += 1
            key = _key(f"{name[:MAX_KEY - 8]}_{n}")
        taken.add(key)
        out[name] = key
    return out


# ------------------------------------------------------------------------------ steps
def _steps(src: Path, source: Source, step_from: StepFrom) -> dict[str, np.ndarray]:
    """Each column's steps as int64: the source's (checked) or the row numbers."""
    if step_from is StepFrom.index:
        return {k: c.rows.astype(np.int64) for k, c in source.columns.items()}
    bad = {"missing": 0, "negative": 0, "too large": 0, "fractional": 0}
    first = None
    total = 0
    for c in source.columns.values():
        s = c.steps
        total += len(s)
        with np.errstate(invalid="ignore"):
            why = {"missing": ~np.isfinite(s), "negative": s < 0, "too large": s >= 2.0**63,
                   "fractional": np.isfinite(s) & (s != np.floor(s))}
        for reason, mask in why.items():
            bad[reason] += int(mask.sum())
        wrong = np.flatnonzero(np.logical_or.reduce(list(why.values()))) if len(s) else []
        if len(wrong) and first is None:
            first = float(s[wrong[0]])
    n_bad = sum(bad.values())
    if n_bad:
        what = ", ".join(f"{n} {why}" for why, n in bad.items() if n)
        raise SourceError(f"{src}: {n_bad} of {total} points have a step a run store cannot hold ({what}; "
                          f"first: {first:g}); steps are whole numbers from 0 to 2**63-1. --step-from index "
                          f"numbers the rows 0, 1, 2, ... instead (the source's step kept as {SOURCE_STEP})")
    return {k: c.steps.astype(np.int64) for k, c in source.columns.items()}


def _one_per_step(src: Path, name: str, steps: np.ndarray, values: np.ndarray, how: OnDuplicate,
                  merged: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The column with one point per step, as ``--on-duplicate`` says; ``merged[0]`` counts the
    points that were folded into another."""
    order = np.argsort(steps, kind="stable")
    steps, values = steps[order], values[order]
    uniq, start, counts = np.unique(steps, return_index=True, return_counts=True)
    extra = int(len(steps) - len(uniq))
    if not extra:
        return steps, values
    if how is OnDuplicate.error:
        at = uniq[counts > 1][0]
        raise SourceError(f"{src}: metric {name!r} has {extra} points at a step it already has (first at step "
                          f"{at}: {counts[counts > 1][0]} points); --on-duplicate last|first|mean keeps one per step")
    merged[0] += extra
    if how is OnDuplicate.first:
        return uniq, values[start]
    if how is OnDuplicate.last:
        return uniq, values[start + counts - 1]
    with np.errstate(invalid="ignore"):
        sums = np.add.reduceat(values, start)
    return uniq, sums / counts


# ------------------------------------------------------------------------------ writing
# what other trackers log besides signals (W&B's _runtime/_timestamp): recorded roles (handhold.roles)
IMPORT_ROLES = {"_runtime": "system", "_timestamp": "system", "*/_runtime": "system", "*/_timestamp": "system"}


def import_run(source: str | Path, out: str | Path, *, run: str | None = None, name: str | None = None,
               on_duplicate: OnDuplicate | str = OnDuplicate.error,
               step_from: StepFrom | str = StepFrom.source, roles: dict[str, str] | None = None) -> Path:
    """Write ``source`` (CSV, TensorBoard dir, trackio db) as a new run store at ``out``; its path.
    ``roles``: metric key (or glob) -> role (:mod:`handhold.roles`), recorded with the run.

    Raises ``SourceError`` (or ``RunError``) with one line; then nothing is left at ``out``."""
    return import_source(source, out, run=run, name=name, on_duplicate=on_duplicate, step_from=step_from,
                         roles=roles).path


def import_source(source: str | Path, out: str | Path, *, run: str | None = None, name: str | None = None,
                  on_duplicate: OnDuplicate | str = OnDuplicate.error,
                  step_from: StepFrom | str = StepFrom.source, roles: dict[str, str] | None = None) -> ImportResult:
    """:func:`import_run`, answering what was written and what changed (counts, notes)."""
    src, out = Path(source), Path(out)
    how, step_from = OnDuplicate(on_duplicate), StepFrom(step_from)
    if not src.exists():
        raise SourceError(f"{src}: no such file or directory")
    _check_out(out)
    loaded = read(src, run)
    if not any(len(c.steps) for c in loaded.columns.values()):
        raise SourceError(f"{src}: no metric values to import")
    steps = _steps(src, loaded, step_from)
    keys = _keys(list(loaded.columns))
    merged = [0]
    by_step: dict[int, dict[str, float]] = {}
    for k, c in loaded.columns.items():
        s, v = _one_per_step(src, k, steps[k], c.values, how, merged)
        key = keys[k]
        for at, x in zip(s.tolist(), v.tolist()):
            by_step.setdefault(at, {})[key] = x
    if step_from is StepFrom.index:
        _source_steps(loaded, by_step)
    switches = sorted({int(r) for r in loaded.switch_rows} if step_from is StepFrom.index
                      else {int(s) for s in loaded.switches})
    notes = _notes(loaded, keys, merged[0], how, step_from)
    renamed = {k: v for k, v in keys.items() if k != v}
    result = _write(src, out, loaded, by_step, switches,
                    meta={"source": str(src.resolve()), "kind": loaded.kind, "run": loaded.name,
                          "renamed": renamed, "on_duplicate": how.value, "step_from": step_from.value,
                          "notes": notes},
                    name=name or loaded.name or src.stem,
                    roles={**IMPORT_ROLES, **{keys.get(k, k): r for k, r in (roles or {}).items()}})
    result.notes = notes
    return result


def _source_steps(loaded: Source, by_step: dict[int, dict[str, float]]) -> None:
    """With ``--step-from index``: the source's step of each row, as a metric."""
    for c in loaded.columns.values():
        for row, s in zip(c.rows.tolist(), c.steps.tolist()):
            if s == s:  # not NaN: a row without a step has none to keep
                by_step.setdefault(row, {})[SOURCE_STEP] = s


def _notes(loaded: Source, keys: dict[str, str], merged: int, how: OnDuplicate, step_from: StepFrom) -> list[str]:
    notes = []
    if merged:
        kept = {"last": "the last", "first": "the first", "mean": "the mean"}[how.value]
        notes.append(f"{merged} points at a step their metric already had were merged: kept {kept} of each "
                     f"(--on-duplicate {how.value})")
    if step_from is StepFrom.index:
        notes.append(f"steps are row numbers 0..{loaded.rows - 1} (--step-from index); the source's steps are "
                     f"the metric {SOURCE_STEP}")
    renamed = sum(1 for k, v in keys.items() if k != v)
    if renamed:
        notes.append(f"{renamed} metric names rewritten as keys (listed in the run's 'imported' meta)")
    for why, n in loaded.skipped.items():
        notes.append(f"{n} values not imported: {why}" if not why.startswith("config") else f"not imported: {why}")
    return notes


def _check_out(out: Path) -> None:
    if db_path(out).is_file():
        raise RunError(f"{out} already holds a run; choose another --out")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunError(f"{out} exists and is not an empty folder; choose another --out")


def _write(src: Path, out: Path, loaded: Source, by_step: dict[int, dict[str, float]], switches: list[int],
           meta: dict, name: str, roles: dict[str, str] | None = None) -> ImportResult:
    """Write the run into a temporary folder beside ``out``, then rename it to ``out``."""
    made = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.importing-", dir=out.parent))
    try:
        run = Run(tmp, config=loaded.config, name=name)
        try:
            run.set_meta(imported=meta)
            if roles:
                run.set_roles(roles)
            marks, n_stages = list(switches), 0
            steps = sorted(by_step)
            if marks:
                run.stage("stage 0", step=steps[0])
                n_stages = 1
            for step in steps:
                while marks and marks[0] <= step:
                    run.stage(f"stage {n_stages}", step=max(marks.pop(0), run.step, 0))
                    n_stages += 1
                run.log(by_step[step], step=step)
            run.finish("finished", f"imported from {loaded.kind} {src.name}")
        except BaseException as exc:
            run.finish("failed", f"import failed: {exc}")
            raise
        os.replace(tmp, out) if not out.exists() else _onto_empty(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for p in made:  # folders this import made for --out, innermost first
            try:
                p.rmdir()
            except OSError:
                break
        raise
    values = sum(len(v) - (SOURCE_STEP in v) for v in by_step.values())  # the source's points, not the step column
    keys = {k for v in by_step.values() for k in v} - {SOURCE_STEP}
    return ImportResult(out, loaded.kind, values, len(keys), max(by_step))


def _onto_empty(tmp: Path, out: Path) -> None:
    out.rmdir()  # checked empty before the import began
    os.replace(tmp, out)


def import_cmd(
    source: Annotated[Path, typer.Argument(help="a CSV (W&B export too; , ; or tab separated), a TensorBoard "
                                               "log dir, or a trackio .db")],
    out: Annotated[Path, typer.Option("--out", help="the new run directory")],
    run: Annotated[Optional[str], typer.Option("--run", help="which run of a trackio database")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="the run's name (default: from the source)")] = None,
    on_duplicate: Annotated[OnDuplicate, typer.Option(
        "--on-duplicate", help="a metric with several points at one step: refuse (error), or keep the last, "
                               "the first or their mean (the command says how many were merged)")] = OnDuplicate.error,
    step_from: Annotated[StepFrom, typer.Option(
        "--step-from", help="source: the source's steps (whole numbers from 0 to 2**63-1); index: number the "
                            "rows 0, 1, 2, ... (for fractional, negative or too large steps, or trackio rows "
                            f"without one), the source's step kept as the metric {SOURCE_STEP}")] = StepFrom.source,
    role: Annotated[Optional[list[str]], typer.Option(
        "--role", help="KEY=ROLE (signal, schedule or system; KEY may be a glob), recorded with the run; "
                       "repeatable")] = None,
) -> None:
    """Turn another tool's run into a handhold run store (then serve, report, analyze it).

    Every point is imported, or the command says how many were not and why, or it refuses and
    names the option that allows the import. A failed import leaves nothing at --out."""
    from ..terminal import fail as _fail

    from ..roles import parse_flags

    try:
        result = import_source(source, out, run=run, name=name, on_duplicate=on_duplicate, step_from=step_from,
                               roles=parse_flags(role or []))
    except (SourceError, RunError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"imported {result.values:,} values of {result.metrics} metrics (steps up to {result.last_step}) "
               f"into {result.path}")
    for note in result.notes:
        typer.echo(f"  {note}")
