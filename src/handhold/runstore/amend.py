"""The amend door: writing into an existing run, beside the live one.

    import handhold
    with handhold.amend("runs/demo") as run:
        run.replace({"eval/physics/answer_acc": 0.61}, step=500)   # checkpoint 500 scored again
        run.event("eval", step=500, checkpoint="step_0000500")

:func:`handhold.init` opens the live run: one writer, held by the run lock while the loop trains,
whose steps only go forward. Some writes come later and belong at a step the run has passed: a
checkpoint scored again (``handhold eval``), a chat exchange with the checkpoint of step N, a
person's label on a wrong answer. They go through this door, the only other writer of a run
store (a test fails if any other module opens one for writing). Rules:

- it writes into a run that exists (no ``run.db``: a ``StoreError``; it never creates one), at
  any step (a past one is the point);
- it does not take the run lock, so it works beside a live trainer: what a block writes goes to
  the store in one short SQLite transaction when the block ends (WAL: readers never wait; the
  trainer's next flush waits for that transaction only, and the block waits out a flush, up to
  ``timeout`` seconds). Keep a block short: score the model first, then open it;
- amend writers take turns: a block holds the run's amend lock (``.amend.lock``) from its start
  to its end, so what it reads (:attr:`Amend.store`: "which answers are stored at this step?")
  still holds when its writes land;
- an exception inside the block writes nothing, nor does a refused call;
- keys, values and data are checked as ``run.log`` / ``run.event`` / ``run.sample`` check them
  (:mod:`handhold.runstore.validate`); stage starts and ends belong to the live run and are refused.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import lock as runlock
from .db import RunStore, StoreError, db_path
from .validate import check_key, jsonable, metric_rows, step_number, text_check

__all__ = ["Amend", "AmendError", "amend", "LOCK_NAME"]

LOCK_NAME = ".amend.lock"
LIVE_RUN_EVENTS = ("stage_start", "stage_end", "fit_start", "fit_end", "resume")


class AmendError(RuntimeError):
    """The amend door cannot be used as asked (closed, or another amend writer holds the run too long)."""


def amend(run_dir: str | os.PathLike[str], *, timeout: float = 30.0) -> Amend:
    """Open an existing run for writing at past steps; use it as ``with handhold.amend(d) as run:``.

    ``timeout``: seconds to wait for another amend writer of the run, and for a trainer's flush.
    """
    return Amend(run_dir, timeout=timeout)


def _take_lock(run_dir: Path, timeout: float) -> runlock.HeldLock:
    try:
        return runlock.take(run_dir / LOCK_NAME, timeout)
    except runlock.RunLocked:
        raise AmendError(f"{run_dir}: another amend writer has held the run for {timeout:g} s") from None


class Amend:
    """Writes into an existing run, kept until the block ends and then written in one transaction.

    Every write names its ``step``. ``store`` reads the run as stored (not the writes still
    pending in this block).
    """

    def __init__(self, run_dir: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self.dir = Path(run_dir)
        if not db_path(self.dir).is_file():
            raise StoreError(f"{db_path(self.dir)}: no run store here; handhold.amend writes into an "
                             "existing run (handhold.init starts one)")
        self._lockfile: runlock.HeldLock | None = _take_lock(self.dir, timeout)
        try:
            self._writer = RunStore.open(self.dir, create=False, timeout=timeout)
            self.store = RunStore.reader(self.dir)
        except BaseException:
            self._lockfile.close()
            raise
        self._pending: dict[str, list[Any]] = {"replace": [], "metrics": [], "events": [], "samples": [],
                                               "labels": []}

    def _step(self, step: Any, where: str) -> int:
        if self._lockfile is None:
            raise AmendError(f"{where}: this amend block is closed; open another with handhold.amend(run_dir)")
        return step_number(step, where)  # 0 .. 2**63-1: the range SQLite stores

    def log(self, values: Mapping[str, Any], step: int) -> None:
        """Add metrics at ``step`` (rows already there stay: use :meth:`replace` to re-score)."""
        at = self._step(step, "amend.log")
        self._pending["metrics"] += metric_rows(values, at, time.time(), "amend.log")

    def replace(self, values: Mapping[str, Any], step: int) -> None:
        """Write metrics at ``step`` in place of the rows of the same keys there (a checkpoint
        scored again must not count a metric twice)."""
        at = self._step(step, "amend.replace")
        rows = metric_rows(values, at, time.time(), "amend.replace")
        self._pending["replace"] += [(key, at) for _, key, _, _ in rows]
        self._pending["metrics"] += rows

    def event(self, kind: str, step: int, **data: Any) -> None:
        """Record something that happened at ``step`` (an ``eval`` of a checkpoint, an ``answer``)."""
        at = self._step(step, "amend.event")
        check_key(kind, "event kind", "amend.event")
        if kind in LIVE_RUN_EVENTS:
            raise ValueError(f"amend.event: {kind!r} is written by the live run (handhold.init) only")
        self._pending["events"].append((at, kind, jsonable(f"amend.event({kind!r})", data), time.time()))

    def sample(self, kind: str, prompt: str, text: str, step: int) -> None:
        """Record a generation at ``step`` (a chat exchange, an eval answer) with its prompt."""
        at = self._step(step, "amend.sample")
        check_key(kind, "sample kind", "amend.sample")
        text_check(f"amend.sample({kind!r})", prompt, text)
        self._pending["samples"].append((at, kind, prompt, text, time.time()))

    def label(self, step: int, task: str, doc_id: str, label: str | None, *, answer: str | None = None,
              source: str = "human") -> None:
        """Set the ``source``'s label of one item (``None`` clears it); ``answer``: a digest of
        what was labelled, so the label is not read as one of another answer under the same key."""
        at = self._step(step, "amend.label")
        for name, value in (("task", task), ("doc_id", doc_id), ("source", source)):
            if not isinstance(value, str) or not value:
                raise TypeError(f"amend.label: {name} must be a non-empty string, not {value!r}")
        if label is not None and (not isinstance(label, str) or not label):
            raise TypeError(f"amend.label: label must be a non-empty string or None, not {label!r}")
        if answer is not None and not isinstance(answer, str):
            raise TypeError(f"amend.label: answer must be a string or None, not {answer!r}")
        text_check("amend.label", task, doc_id, source, *(t for t in (label, answer) if t is not None))
        self._pending["labels"].append((at, task, doc_id, label, source, time.time(), answer))

    def commit(self) -> None:
        """Write what the block holds now, in one transaction (the block's end does it too)."""
        if self._lockfile is None:
            raise AmendError("amend.commit: this amend block is closed")
        pending = self._pending
        if any(pending.values()):
            self._writer.amend(**pending)
            for rows in pending.values():
                rows.clear()

    def close(self, *, write: bool = True) -> None:
        """Write what is pending (unless ``write=False``) and release the run. Harmless twice."""
        if self._lockfile is None:
            return
        try:
            if write:
                self.commit()
        finally:
            self._writer.close()
            self.store.close()
            self._lockfile.close()
            self._lockfile = None

    def __enter__(self) -> Amend:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close(write=exc_type is None)

    def __repr__(self) -> str:
        return f"Amend({str(self.dir)!r}{', closed' if self._lockfile is None else ''})"
