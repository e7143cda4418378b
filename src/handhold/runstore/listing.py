"""What runs are there and in what state: read from each run's store, never from the trainer."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from . import lock as runlock
from .db import RunStore, StoreError, diagnosed, iter_run_dirs


@dataclass(frozen=True)
class RunInfo:
    path: Path
    name: str
    status: str  # running | finished | failed | stopped | crashed (the writer died without finishing)
    reason: str | None
    stages: list[str]
    stage: str | None  # the stage the run is in (or ended in)
    last_step: int | None


def _alive(writer: dict | None) -> bool:
    """Is the process that last wrote this run still there? (Only knowable on its own host.)"""
    if not writer or writer.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(writer["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_info(run_dir: Path) -> RunInfo:
    """The run's state; a damaged store is a one-line ``StoreError`` naming the row."""
    with diagnosed(run_dir), RunStore.reader(run_dir) as store:
        meta = store.meta()
        status, reason = meta.get("status", "running"), meta.get("stop_reason")
        if status == "running" and (runlock.held(run_dir) is False or not _alive(meta.get("writer"))):
            status, reason = "crashed", ("the writing process is gone without finishing (killed?); "
                                         "`handhold resume` continues a handhold trainer run")
        starts = store.events("stage_start")
        stages, stage = meta.get("stages", []), starts[-1].data.get("stage") if starts else None
        for what, value, ok in (("name", meta.get("name", ""), isinstance(meta.get("name", ""), str)),
                                ("status", status, isinstance(status, str)),
                                ("stages", stages, isinstance(stages, list) and all(isinstance(x, str) for x in stages)),
                                ("stage_start stage", stage, stage is None or isinstance(stage, str))):
            if not ok:
                raise store.damaged(f"meta {what!r}", value)
        return RunInfo(path=Path(run_dir), name=meta.get("name", Path(run_dir).name), status=status,
                       reason=None if reason is None else str(reason), stages=stages, stage=stage,
                       last_step=store.last_step())


def list_runs(root: Path) -> list[RunInfo | tuple[Path, str]]:
    """Every run under ``root``; a damaged or unreadable store comes back as (path, error), so
    one run never hides the others."""
    out: list[RunInfo | tuple[Path, str]] = []
    for d in iter_run_dirs(root):
        try:
            out.append(run_info(d))
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - whatever broke, it is this run's, not the listing's
            text = str(exc) if isinstance(exc, (StoreError, OSError)) else f"{type(exc).__name__}: {exc}"
            out.append((d, text))
    return out
