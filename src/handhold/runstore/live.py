"""The public Run API: the one writer of a run store, for any training loop.

    import handhold
    with handhold.init("runs/mine", config={"lr": 3e-4}) as run:
        run.stage("warmup")
        for step in range(100):
            run.log({"train/loss": 1 / (step + 1)}, step=step)
        run.stage_end("budget", steps=100)

handhold's trainer, its grokking lab, the Trainer/Lightning callbacks and a user's own loop all
write through :class:`Run`; reports, the dashboard and ``analyze`` only read the store. Writes
that come after the fact, at a step the run has passed (a re-scored checkpoint, a chat exchange,
a label), go through the other door, :func:`handhold.amend` (:mod:`handhold.runstore.amend`); both
check keys and values with :mod:`handhold.runstore.validate`.

Rules (documented, tested):

- one writer per run directory: a second ``init`` on a directory that a live process writes is
  refused (an advisory lock, released by the OS when the writer dies);
- writes are buffered and flushed in one transaction every ``flush_every`` rows or
  ``flush_seconds`` (a background thread flushes an idle run too), so a process that dies loses
  at most the last flush interval; readers then see the run as ``crashed``;
- values are numbers (int, float, bool, numpy or one-element torch scalars); ``NaN`` and
  ``±inf`` are stored as NULL (a gap in the curve, not a point); anything else is a
  ``TypeError`` naming the key;
- steps are integers from 0 to 2**63-1 (what SQLite stores; :mod:`handhold.bounds`), and they
  never go backwards: logging at a step below the highest step written is a ``ValueError``
  (several calls at the same step are fine);
- keys are ``/``-separated paths of letters, digits and ``_ - . : @ + = , ( ) [ ]``;
- a rejected call writes nothing: every row of a call is checked before any is buffered, and
  rows already buffered or stored are kept (a flush that fails at ``finish``, a full disk,
  marks the run ``failed`` with the reason).

About 450 lines: one class whose methods share one lock and the run's state (step, open stage,
counters), plus the wandb-style module functions over the current run; split, the rules above
would be spread over files that must agree.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import lock as runlock
from ..bounds import STEP_MAX
from ..rules import REASONS
from .db import RunStore, db_path, writer_identity
from .validate import check_key, config_dict, jsonable, number, step_number, text_check

__all__ = ["Run", "RunError", "init", "log", "finish", "current", "REASONS"]

STATUSES = ("finished", "failed", "stopped")
_INT64 = 2**63  # SQLite binds a Python int of this size or more as an error: such a value goes as a float
_COUNTERS = ("train/tokens", "train/samples")  # cumulative counters a stage end reports the stage's share of


class RunError(RuntimeError):
    """The run directory cannot be written as asked (held by another writer, exists, finished)."""


class Run:
    """One run being written. Make it with :func:`init`; every method is thread-safe.

    ``step``: the highest step written so far (-1 before the first write). Methods that take
    ``step=None`` use it (``log`` uses the next step, as wandb does).
    """

    def __init__(self, run_dir: str | os.PathLike[str], config: Any = None, name: str | None = None, *,
                 resume: bool = False, resume_from: int | None = None, overwrite: bool = False,
                 stages: list[str] | None = None, flush_every: int = 4096, flush_seconds: float = 2.0) -> None:
        self.dir = Path(run_dir)
        if self.dir.exists() and not self.dir.is_dir():
            raise RunError(f"{self.dir} is a file, not a run directory")
        if resume_from is not None:
            resume_from = step_number(resume_from, "init: resume_from")
        try:  # the lock first: whether a run is there is only known once no other writer can make one
            self._lockfile: runlock.HeldLock | None = runlock.acquire(self.dir)
        except runlock.RunLocked as exc:
            raise RunError(f"{exc} (one writer per run directory)") from None
        try:
            exists = db_path(self.dir).is_file()
            if exists and not (resume or overwrite):
                raise RunError(f"{self.dir} already holds a run; pass resume=True to continue it, "
                               "or choose another run directory")
            if exists and overwrite:  # we hold the directory: nobody is writing it
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db_path(self.dir)}{suffix}").unlink(missing_ok=True)
                exists = False
            self._store = RunStore.open(self.dir, flush_every=flush_every, flush_seconds=flush_seconds)
        except BaseException:
            self._lockfile.close()
            raise
        self._lock = threading.RLock()
        self._closed = False
        self._ok_keys: set[str] = set()
        self._counters: dict[str, float] = {}
        self._stage: dict[str, Any] | None = None  # the open stage: name, index, start step, counters
        self._n_stages = 0
        self._auto_next = 0
        self.step = -1
        s = self._store
        old = s.meta() if exists else {}
        self.name = name or old.get("name") or self.dir.name
        cfg = config_dict(config)
        self.config: dict[str, Any] = cfg if cfg is not None else dict(old.get("config") or {})
        self._stages = list(stages if stages is not None else old.get("stages") or [])
        from ..provenance import code_version

        for key, value in {"status": "running", "stop_reason": None, "writer": writer_identity(),
                           "name": self.name, "config": self.config, "stages": self._stages,
                           "code_version": code_version()}.items():
            s.set_meta(key, value)
        if exists:
            self._reload()
            if resume_from is not None and resume_from < self.step:
                s.truncate_after(int(resume_from))
                self._reload()
            s.append_event(max(self.step, 0), "resume" if self.step >= 0 else "fit_start", {})
        else:
            s.set_meta("started", time.time())
            s.append_event(0, "fit_start", {})
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, args=(flush_seconds,), daemon=True,
                                         name=f"handhold-flush {self.dir.name}")
        self._flusher.start()
        _open_runs.add(self)
        _install_hooks()
        global _current
        _current = self

    # ------------------------------------------------------------------ state from the store
    def _reload(self) -> None:
        """Highest step, open stage and counters from what the store holds (resume, rewind)."""
        s = self._store
        s.flush()
        last = s.last_step()
        self.step = -1 if last is None else int(last)
        self._auto_next = self.step + 1
        self._n_stages = s.query("SELECT COUNT(*) FROM events WHERE kind = 'stage_start'").fetchone()[0]
        self._stage = None
        last_ev = s.query("SELECT kind, step, data FROM events WHERE kind IN ('stage_start', 'stage_end') "
                          "ORDER BY rowid DESC LIMIT 1").fetchone()
        if last_ev is not None and last_ev[0] == "stage_start":
            data, start = json.loads(last_ev[2]), last_ev[1]
            self._stage = {"name": data.get("stage"), "index": data.get("index", self._n_stages - 1),
                           "start": start, "counters": {}}
            for key in _COUNTERS:
                row = s.query("SELECT value FROM metrics WHERE key = ? AND step <= ? AND value IS NOT NULL "
                              "ORDER BY step DESC, rowid DESC LIMIT 1", (key, start)).fetchone()
                if row is not None:
                    self._stage["counters"][key] = row[0]
        self._counters = {}
        for key in _COUNTERS:
            row = s.query("SELECT value FROM metrics WHERE key = ? AND value IS NOT NULL "
                          "ORDER BY step DESC, rowid DESC LIMIT 1", (key,)).fetchone()
            if row is not None:
                self._counters[key] = row[0]

    def rewind(self, step: int) -> int:
        """Delete rows written after ``step`` (a resumed loop logs them again, identically).

        For resuming from a checkpoint at ``step``; returns the number of rows removed.
        """
        with self._lock:
            self._check_open()
            n = self._store.truncate_after(step_number(step, "run.rewind"))
            self._reload()
            return n

    # ------------------------------------------------------------------ writing
    def _check_open(self) -> None:
        if self._closed:
            raise RunError(f"{self.dir}: this run is finished; handhold.init(..., resume=True) continues it")

    def _at(self, step: Any, what: str) -> int:
        """The step of a write (``None``: the current step), refusing one that goes backwards."""
        if step is None:
            return max(self.step, 0)
        step = step_number(step, what)
        if step < self.step:
            raise ValueError(f"{what}: step {step} is before step {self.step}, already written; steps only "
                             "go forward (write at the same step or a later one)")
        return step

    def log(self, values: Mapping[str, Any], step: int | None = None, commit: bool | None = None) -> None:
        """Record metrics at ``step`` (default: the step after the last ``log``, as in wandb).

        Nested dicts become ``/``-separated keys. ``commit=False`` keeps the next default step at
        this one (wandb's way to log one step in several calls).
        """
        if not isinstance(values, Mapping):
            raise TypeError(f"run.log: expected a dict of metrics, got {type(values).__name__}")
        t = time.time()
        with self._lock:
            self._check_open()
            if step is None:  # the next step, which must exist too (none after 2**63-1)
                step = step_number(max(self._auto_next, self.step, 0), "run.log (the next step)")
            else:
                step = self._at(step, "run.log")
            rows = self._rows(values, step, t)  # every row checked before any is buffered
            for key in _COUNTERS:
                if key in values and rows:
                    value = dict((r[1], r[2]) for r in rows).get(key)
                    if value is not None:
                        self._counters[key] = value
            self._store.append_metric_rows(rows)
            if step > self.step:
                self.step = step
            self._auto_next = step if commit is False else step + 1

    def _rows(self, values: Mapping[str, Any], step: int, t: float,
              prefix: str = "") -> list[tuple[int, str, float | None, float]]:
        """Checked metric rows of ``values`` (nested dicts as ``/``-separated keys); raises on the
        first bad key or value, before anything is buffered."""
        rows: list[tuple[int, str, float | None, float]] = []
        ok = self._ok_keys
        new: list[str] = []
        for k, v in values.items():
            if prefix:
                k = f"{prefix}/{k}" if isinstance(k, str) else k
            if isinstance(v, Mapping):
                rows += self._rows(v, step, t, k if isinstance(k, str) else check_key(k))
                continue
            if k not in ok:
                check_key(k)
                new.append(k)
            tv = type(v)
            if tv is float:
                rows.append((step, k, v if v - v == 0.0 else None, t))
            elif tv is int and -_INT64 <= v < _INT64:
                rows.append((step, k, v, t))
            else:
                rows.append((step, k, number(k, v), t))
        ok.update(new)
        return rows

    def event(self, kind: str, step: int | None = None, **data: Any) -> None:
        """Record something that happened (a checkpoint, a spike, a probe) at ``step``."""
        check_key(kind, "event kind")
        if kind in ("stage_start", "stage_end"):
            raise ValueError(f"run.event: {kind!r} is written by run.stage / run.stage_end (one schema)")
        clean = jsonable(f"run.event({kind!r})", data)
        with self._lock:
            self._check_open()
            at = self._at(step, "run.event")
            self._store.append_event(at, kind, clean)
            self.step = max(self.step, at)

    def sample(self, kind: str, prompt: str, text: str, step: int | None = None) -> None:
        """Record a generation (a probe, an eval answer) with its prompt."""
        check_key(kind, "sample kind")
        text_check(f"run.sample({kind!r})", prompt, text)
        with self._lock:
            self._check_open()
            at = self._at(step, "run.sample")
            self._store.append_sample(at, kind, prompt, text)
            self.step = max(self.step, at)

    def stage(self, name: str, step: int | None = None, **info: Any) -> None:
        """Start stage ``name`` at ``step`` (the step before its first batch). ``info`` is stored
        with the start (mix, exit rule, ...). A stage still open is ended first (``requested``)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"run.stage: name must be a non-empty string, not {name!r}")
        clean = jsonable(f"run.stage({name!r})", info)
        with self._lock:
            self._check_open()
            at = self._at(step, "run.stage")
            index = clean.pop("index", self._n_stages)
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= STEP_MAX:
                raise ValueError(f"run.stage({name!r}): index must be an integer >= 0, not {index!r:.40}")
            if self._stage is not None:
                self.stage_end("requested", step=at, note=f"stage {name!r} started")
            self._store.append_event(at, "stage_start", {**clean, "stage": name, "index": index})
            self._stage = {"name": name, "index": index, "start": at, "counters": dict(self._counters)}
            self._n_stages += 1
            if name not in self._stages:
                self._stages.append(name)
                self._store.set_meta("stages", self._stages)
            self.step = max(self.step, at)

    def stage_end(self, reason: str, step: int | None = None, **evidence: Any) -> None:
        """End the open stage: ``reason`` in :data:`~handhold.rules.REASONS`, ``evidence`` the
        numbers behind it. The event also holds the stage's steps (and tokens/samples when the
        loop logs the cumulative ``train/tokens``/``train/samples``)."""
        if reason not in REASONS:
            raise ValueError(f"run.stage_end: reason {reason!r} is not one of {', '.join(REASONS)}")
        clean = jsonable(f"run.stage_end({reason!r})", evidence)
        with self._lock:
            self._check_open()
            if self._stage is None:
                raise RunError("run.stage_end: no stage is open (start one with run.stage(name))")
            at = self._at(step, "run.stage_end")
            st = self._stage
            data: dict[str, Any] = {"stage": st["name"], "index": st["index"], "steps": at - st["start"],
                                    "reason": reason, "evidence": clean}
            for key in _COUNTERS:
                if key in self._counters:
                    data[key.split("/")[-1]] = int(self._counters[key] - st["counters"].get(key, 0))
            self._store.append_event(at, "stage_end", data)
            self._stage = None
            self.step = max(self.step, at)

    def set_meta(self, **values: Any) -> None:
        """Run-level facts beyond the config (e.g. a lab's spec and result), shown by readers."""
        clean = jsonable("run.set_meta", values)
        reserved = {"status", "stop_reason", "writer", "schema_version", "last_logged_step"} & set(clean)
        if reserved:
            raise ValueError(f"run.set_meta: {', '.join(sorted(reserved))} is written by the Run itself")
        with self._lock:
            self._check_open()
            for k, v in clean.items():
                self._store.set_meta(k, v)

    def set_roles(self, roles: Mapping[str, str]) -> None:
        """Say what each metric is: ``{key or glob: "signal" | "schedule" | "system"}`` (see
        :mod:`handhold.roles`); merged into the roles already recorded, the later word wins."""
        from ..roles import META_KEY, check_roles, stored_roles

        clean = check_roles(roles, "run.set_roles")
        with self._lock:
            self._check_open()
            old = stored_roles(self._store.meta())
            self._store.set_meta(META_KEY, {**{k: v for k, v in old.items() if k not in clean}, **clean})

    def flush(self) -> None:
        """Write every buffered row now (before a checkpoint: it never refers to rows not on disk)."""
        with self._lock:
            if not self._closed:
                self._store.flush()

    def _flush_loop(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the next write or finish reports a broken store
                pass

    def finish(self, status: str = "finished", reason: str | None = None, *, exit_code: int | None = None) -> None:
        """Flush, record ``status`` (finished, failed or stopped) and release the run directory.

        ``exit_code`` (wandb's argument): non-zero means ``failed``. Calling it twice is harmless.
        """
        if exit_code is not None and status == "finished":
            status = "failed" if exit_code else "finished"
        if status not in STATUSES:
            raise ValueError(f"run.finish: status {status!r} is not one of {', '.join(STATUSES)}")
        with self._lock:
            if self._closed:
                return
            self._stop.set()
            s = self._store
            lost: BaseException | None = None
            try:
                try:
                    s.append_event(max(self.step, 0), "fit_end", {"status": status, "reason": reason})
                    s.flush()
                except Exception as exc:  # every row was checked when accepted: this is the disk
                    lost = exc
                    why = f"the last rows could not be written: {type(exc).__name__}: {exc}"
                    try:
                        s.set_meta("status", "failed")
                        s.set_meta("stop_reason", why)
                    except Exception:  # noqa: BLE001 - the store is unwritable; readers see a crash
                        pass
                    raise RunError(f"{self.dir}: {why}; the run is marked failed") from exc
                s.set_meta("status", status)
                s.set_meta("stop_reason", reason)
                s.set_meta("last_step", max(self.step, 0))
                s.set_meta("finished", time.time())
            finally:
                self._closed = True
                try:
                    s.close()
                except Exception:
                    if lost is None:
                        raise
                finally:
                    if self._lockfile is not None:
                        self._lockfile.close()
                        self._lockfile = None
        _open_runs.discard(self)
        global _current
        if _current is self:
            _current = None

    @property
    def finished(self) -> bool:
        return self._closed

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.finish()
        elif issubclass(exc_type, KeyboardInterrupt):
            self.finish("stopped", "interrupted (KeyboardInterrupt)")
        else:
            self.finish("failed", f"{exc_type.__name__}: {exc}")

    def __repr__(self) -> str:
        return f"Run({str(self.dir)!r}, step={self.step}{', finished' if self._closed else ''})"


# --------------------------------------------------------------------------- the current run
_current: Run | None = None
_open_runs: weakref.WeakSet[Run] = weakref.WeakSet()
_uncaught: list[BaseException] = []


def _default_dir(project: str | None, name: str | None, dir: str | os.PathLike[str] | None) -> Path:
    base = Path(dir or os.environ.get("HANDHOLD_DIR", "runs")) / (project or "")
    stem = name or time.strftime("run-%Y%m%d-%H%M%S")
    path, n = base / stem, 1
    while db_path(path).exists():
        n += 1
        path = base / f"{stem}-{n}"
    return path


def init(run_dir: str | os.PathLike[str] | None = None, config: Any = None, name: str | None = None, *,
         project: str | None = None, dir: str | os.PathLike[str] | None = None, resume: bool = False,
         resume_from: int | None = None, stages: list[str] | None = None, flush_every: int = 4096,
         flush_seconds: float = 2.0, roles: Mapping[str, str] | None = None, **ignored: Any) -> Run:
    """Open a run for writing and make it the current one (for :func:`log` / :func:`finish`).

    ``run_dir``: the run directory (holds ``run.db``). Without it (wandb style), the run goes to
    ``DIR/PROJECT/NAME`` (``DIR``: ``dir`` or ``$HANDHOLD_DIR`` or ``runs``; a new name if taken).
    ``resume=True`` continues an existing run after its last step; ``resume_from=N`` also deletes
    rows after step ``N`` first (resuming from a checkpoint at N). Other wandb keywords
    (``entity``, ``tags``, ``mode``, ...) are accepted and ignored. ``roles``: what each metric
    is (``{key or glob: "signal" | "schedule" | "system"}``, :mod:`handhold.roles`).
    """
    if run_dir is None:
        run_dir = _default_dir(project, name, dir)
    run = Run(run_dir, config, name, resume=resume, resume_from=resume_from, stages=stages,
              flush_every=flush_every, flush_seconds=flush_seconds)
    if roles:
        run.set_roles(roles)
    return run


def current() -> Run | None:
    """The run the last :func:`init` opened, until it finishes."""
    return _current


def log(values: Mapping[str, Any], step: int | None = None, commit: bool | None = None) -> None:
    """:meth:`Run.log` on the current run."""
    if _current is None:
        raise RunError("handhold.log: no run is open; call handhold.init(run_dir) first")
    _current.log(values, step=step, commit=commit)


def finish(status: str = "finished", reason: str | None = None, *, exit_code: int | None = None,
           **ignored: Any) -> None:
    """:meth:`Run.finish` on the current run (nothing to do if none is open)."""
    if _current is not None:
        _current.finish(status, reason, exit_code=exit_code)


_hooks_installed = False


def _install_hooks() -> None:
    """At exit, finish runs left open: ``failed`` after an uncaught exception, else ``finished``."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    previous = sys.excepthook

    def hook(exc_type: Any, exc: BaseException, tb: Any) -> None:
        _uncaught.append(exc)
        previous(exc_type, exc, tb)

    sys.excepthook = hook
    atexit.register(_finish_open_runs)


def _finish_open_runs() -> None:
    for run in list(_open_runs):
        try:
            if _uncaught:
                exc = _uncaught[-1]
                run.finish("failed", f"{type(exc).__name__}: {exc}")
            else:
                run.finish()
        except Exception:  # noqa: BLE001 - exiting anyway; the run reads as crashed
            pass
