"""The run store: one SQLite file per run, the seam between training and everything that reads it.

Two doors write it, both through this module: the live run (``handhold.init``,
:mod:`handhold.runstore.live`: metrics, events, samples, stages; one writer per run, held by the run lock)
and the amend door (``handhold.amend``, :mod:`handhold.runstore.amend`: a re-scored checkpoint, a chat
exchange, a person's label, written into an existing run in one short transaction). Reports,
the dashboard and analysis only read. WAL mode lets readers and the amend door share the file
with a trainer that is writing. The live run's writes are buffered and flushed in one
transaction (every ``flush_every`` rows or ``flush_seconds``), and always before a checkpoint,
so that a checkpoint never refers to rows that are not on disk.

Over 400 lines on purpose: every SQL statement of a run store lives here (the schema, the two
doors' writes, every read, the checks of damaged rows), so that ``tests/test_store_doors.py`` can
hold that no other module writes SQL.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .layout import DB_NAME, db_path, disk_full, is_disk_full  # noqa: F401 - the run directory's layout lives there

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS metrics (step INTEGER NOT NULL, key TEXT NOT NULL,
                                    value REAL, time REAL NOT NULL);
CREATE INDEX IF NOT EXISTS metrics_key_step_value ON metrics (key, step, value);
CREATE TABLE IF NOT EXISTS events (step INTEGER NOT NULL, kind TEXT NOT NULL,
                                   data TEXT NOT NULL DEFAULT '{}', time REAL NOT NULL);
CREATE INDEX IF NOT EXISTS events_kind_step ON events (kind, step);
CREATE TABLE IF NOT EXISTS metric_keys (key TEXT PRIMARY KEY, first_step INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS samples (step INTEGER NOT NULL, kind TEXT NOT NULL,
                                    prompt TEXT NOT NULL, text TEXT NOT NULL, time REAL NOT NULL);
CREATE INDEX IF NOT EXISTS samples_step ON samples (step);
CREATE TABLE IF NOT EXISTS labels (step INTEGER NOT NULL, task TEXT NOT NULL, doc_id TEXT NOT NULL,
                                   label TEXT NOT NULL, source TEXT NOT NULL, time REAL NOT NULL,
                                   answer TEXT, PRIMARY KEY (step, task, doc_id, source));
"""
# labels: a person's (or a check's) verdict on one item (step, task, doc_id); ``answer`` is a digest
# of what was labelled, so a label never sticks to another answer under the same key (a resumed
# run writes the steps after its checkpoint again). Stores written before labels joined the
# schema have no such table (read as no labels) or one without ``answer`` (added on open).


class StoreError(RuntimeError):
    """The store file is missing, unreadable or from an incompatible schema."""


@dataclass(frozen=True)
class Event:
    step: int
    kind: str
    data: dict[str, Any]
    time: float


@dataclass(frozen=True)
class Label:
    step: int
    task: str
    doc_id: str
    label: str
    source: str
    time: float
    answer: str | None


@dataclass(frozen=True)
class Sample:
    step: int
    kind: str
    prompt: str
    text: str
    time: float


class RunStore:
    """Writer and reader of one run's ``run.db``.

    ``RunStore.open`` writes (called by the two doors only: :mod:`handhold.runstore.live` and
    :mod:`handhold.runstore.amend`); ``RunStore.reader`` is a read-only connection that never blocks a writer.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, *, readonly: bool,
                 flush_every: int = 512, flush_seconds: float = 2.0) -> None:
        self._conn = conn
        self.path = path
        self.readonly = readonly
        self._flush_every = flush_every
        self._flush_seconds = flush_seconds
        self._metrics: list[tuple[int, str, float | None, float]] = []
        self._events: list[tuple[int, str, str, float]] = []
        self._samples: list[tuple[int, str, str, str, float]] = []
        self._last_flush = time.monotonic()
        self._known_keys: set[str] = set()

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(cls, run_dir: str | os.PathLike[str], *, create: bool = True, timeout: float = 30.0,
             **kw: Any) -> RunStore:
        """Open the writable store of a run directory (``create``: make it if there is none).

        ``timeout``: how long a write waits for another writer's transaction to end.
        """
        path = db_path(run_dir)
        if not create:
            if not path.is_file():
                raise StoreError(f"{path}: no run store here (expected the file {DB_NAME})")
            with cls.reader(path) as existing:  # an empty or foreign file is refused, never made a store
                if existing.get_meta("schema_version") is None:
                    raise StoreError(f"{path}: not a handhold run store (no schema version)")
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            store = cls(conn, path, readonly=False, **kw)
            version = store.get_meta("schema_version")
        except sqlite3.DatabaseError as exc:  # "file is not a database": refuse, never rewrite it
            conn.close()
            if is_disk_full(exc):
                raise disk_full(path.parent, "the run store was") from None
            raise StoreError(f"{path}: not a handhold run store ({exc})") from None
        if version is None:
            store.set_meta("schema_version", SCHEMA_VERSION)
            store.set_meta("created", time.time())
        elif int(version) != SCHEMA_VERSION:
            conn.close()
            raise StoreError(f"{path}: schema version {version}, this handhold reads {SCHEMA_VERSION}")
        if "answer" not in {r[1] for r in conn.execute("PRAGMA table_info(labels)")}:
            conn.execute("ALTER TABLE labels ADD COLUMN answer TEXT")  # the first review's labels table
        return store

    @classmethod
    def reader(cls, run_dir_or_db: str | os.PathLike[str]) -> RunStore:
        """A read-only view; safe to use while a trainer writes the same file."""
        p = Path(run_dir_or_db)
        path = p if p.suffix == ".db" else db_path(p)
        if not path.is_file():
            raise StoreError(f"{path}: no run store here (expected the file {DB_NAME})")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0,
                               isolation_level=None, check_same_thread=False)
        store = cls(conn, path, readonly=True)
        try:
            version = store.get_meta("schema_version")
        except (sqlite3.DatabaseError, StoreError) as exc:
            conn.close()
            raise StoreError(f"{path}: not a handhold run store ({exc})") from None
        if version is not None and (type(version) is not int or version > SCHEMA_VERSION):
            conn.close()
            raise StoreError(f"{path}: schema version {version} is newer than this handhold ({SCHEMA_VERSION})")
        return store

    def close(self) -> None:
        if not self.readonly:
            self.flush()
        self._conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- writing
    def append_metrics(self, step: int, values: dict[str, float], t: float | None = None) -> None:
        t = time.time() if t is None else t
        self._metrics.extend((step, k, _finite_or_none(v), t) for k, v in values.items())
        self._maybe_flush()

    def append_metric_rows(self, rows: list[tuple[int, str, float | None, float]]) -> None:
        """Buffer rows the caller has already checked, ``(step, key, value or None, time)``: the
        Run API's fast path (it validates keys and values once, not twice)."""
        self._metrics.extend(rows)
        self._maybe_flush()

    def append_event(self, step: int, kind: str, data: dict[str, Any] | None = None) -> None:
        self._events.append((step, kind, json.dumps(data or {}, sort_keys=True), time.time()))
        self._maybe_flush()

    def append_sample(self, step: int, kind: str, prompt: str, text: str) -> None:
        self._samples.append((step, kind, prompt, text, time.time()))
        self._maybe_flush()

    def set_meta(self, key: str, value: Any) -> None:
        with self._writing():
            self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                               (key, json.dumps(value)))

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """SQLite's "database or disk is full" as the one-line ``DiskFull`` (an OSError)."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if is_disk_full(exc):
                raise disk_full(self.path.parent, "the run store's newest rows were") from None
            raise

    def _maybe_flush(self) -> None:
        pending = len(self._metrics) + len(self._events) + len(self._samples)
        if pending >= self._flush_every or time.monotonic() - self._last_flush >= self._flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Write every buffered row in one transaction."""
        if self._metrics or self._events or self._samples:
            with self._writing(), self._transaction():
                new_keys = self._insert(self._metrics, self._events, self._samples)
            self._known_keys.update(new_keys)
            self._metrics.clear()
            self._events.clear()
            self._samples.clear()
        self._last_flush = time.monotonic()

    def _insert(self, metrics: list[tuple[int, str, float | None, float]], events: list[tuple[int, str, str, float]],
                samples: list[tuple[int, str, str, str, float]]) -> dict[str, int]:
        """Insert rows inside the caller's transaction, with the key list and the last step;
        returns the keys new to ``metric_keys`` (known once the transaction commits)."""
        new_keys = {}
        for step, key, _, _ in metrics:
            if key not in self._known_keys and key not in new_keys:
                new_keys[key] = step
        top = max((r[0] for r in (*metrics, *events, *samples)), default=None)
        self._conn.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?)", metrics)
        # a small table of keys and the last step, so readers of huge runs need no scan
        self._conn.executemany("INSERT OR IGNORE INTO metric_keys VALUES (?, ?)", new_keys.items())
        if top is not None:
            self._conn.execute(
                "INSERT INTO meta VALUES ('last_logged_step', ?) ON CONFLICT(key) DO UPDATE "
                "SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))", (str(top),))
        self._conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", events)
        self._conn.executemany("INSERT INTO samples VALUES (?, ?, ?, ?, ?)", samples)
        return new_keys

    def amend(self, *, replace: list[tuple[str, int]] = (), metrics: list[tuple[int, str, float | None, float]] = (),
              events: list[tuple[int, str, dict[str, Any], float]] = (), samples: list[tuple[int, str, str, str, float]] = (),
              labels: list[tuple[int, str, str, str | None, str, float, str | None]] = ()) -> None:
        """Write into an existing run in one transaction (the amend door's only write).

        ``replace``: ``(key, step)`` metric rows deleted first (a re-score does not count a
        metric twice); ``labels``: ``(step, task, doc_id, label, source, time, answer)``, each
        replacing the item's label of that source (``label`` None deletes it).
        """
        self.flush()
        with self._writing(), self._transaction():
            self._conn.executemany("DELETE FROM metrics WHERE key = ? AND step = ?", list(replace))
            new_keys = self._insert(list(metrics), [(s, k, json.dumps(d, sort_keys=True), t) for s, k, d, t in events],
                         list(samples))
            for step, task, doc_id, label, source, t, answer in labels:
                self._conn.execute("DELETE FROM labels WHERE step = ? AND task = ? AND doc_id = ? AND source = ?",
                                   (step, task, doc_id, source))
                if label is not None:
                    self._conn.execute("INSERT INTO labels (step, task, doc_id, label, source, time, answer) "
                                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                                       (step, task, doc_id, label, source, t, answer))
        self._known_keys.update(new_keys)

    def truncate_after(self, step: int) -> int:
        """Delete rows logged after ``step`` (used on resume: they will be logged again).

        Returns the number of rows removed.
        """
        self.flush()
        with self._writing(), self._transaction():
            n = 0
            for table in ("metrics", "events", "samples"):
                n += self._conn.execute(f"DELETE FROM {table} WHERE step > ?", (step,)).rowcount
            self._conn.execute("DELETE FROM metric_keys WHERE key NOT IN (SELECT DISTINCT key FROM metrics)")
            self._conn.execute("DELETE FROM meta WHERE key = 'last_logged_step'")
            last = self._conn.execute("SELECT MAX(step) FROM metrics").fetchone()[0]
            if last is not None:
                self.set_meta("last_logged_step", last)
        self._known_keys.clear()
        return n

    def _transaction(self) -> _Tx:
        return _Tx(self._conn)

    # ----------------------------------------------------------------- reading
    def query(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        """A raw SQL read, for views that aggregate in SQLite (downsampling a million rows).

        The tables are the contract (``metrics``, ``events``, ``samples``, ``meta``,
        ``metric_keys``, ``labels``); on a reader the connection is read-only, so this cannot write.
        """
        return self._conn.execute(sql, params)

    @contextmanager
    def snapshot(self) -> Iterator[RunStore]:
        """Several reads that see one moment of the run (one read transaction).

        A poller asking for rows and for ``last_step`` would otherwise skip rows that land in
        between. In WAL mode this holds nothing the writer waits for.
        """
        self._conn.execute("BEGIN")
        try:
            yield self
        finally:
            self._conn.execute("COMMIT")

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else self._json(row[0], f"meta {key!r}")

    def meta(self) -> dict[str, Any]:
        return {k: self._json(v, f"meta {k!r}") for k, v in self._conn.execute("SELECT key, value FROM meta")}

    def damaged(self, where: str, value: Any) -> StoreError:
        """The error for a row that is not as handhold writes it (a file edited by hand or by
        another program): one line naming the run, the row and the value."""
        shown = repr(value)
        return StoreError(f"{self.path}: damaged run store: {where} holds {shown[:60]}"
                          f"{'...' if len(shown) > 60 else ''}; `handhold runs` lists the others")

    def _json(self, text: Any, where: str) -> Any:
        try:
            return json.loads(text)
        except (TypeError, ValueError):
            raise self.damaged(f"{where} (not JSON)", text) from None

    def metric_keys(self, prefix: str = "") -> list[str]:
        rows = self._conn.execute(
            "SELECT key FROM metric_keys WHERE key LIKE ? ESCAPE '\\' ORDER BY key", (_like_prefix(prefix),))
        keys = [r[0] for r in rows]
        for key in keys:
            if type(key) is not str:
                raise self.damaged("metric_keys (a key that is not text)", key)
        return keys

    def some_metric_keys(self, limit: int, first: tuple[str, ...] = ()) -> tuple[list[str], int]:
        """At most ``limit`` metric names, sorted, and how many the run has: those starting with
        one of ``first`` come before the others (the first by name). A view of a run with a
        million metrics reads a bounded part of the key table."""
        total = self._conn.execute("SELECT COUNT(*) FROM metric_keys").fetchone()[0]
        if total <= limit:
            return self.metric_keys(), total
        chosen: dict[str, None] = {}
        for prefix in (*first, ""):
            rows = self._conn.execute("SELECT key FROM metric_keys WHERE key LIKE ? ESCAPE '\\' ORDER BY key "
                                      "LIMIT ?", (_like_prefix(prefix), limit - len(chosen)))
            chosen.update(dict.fromkeys(r[0] for r in rows))
            if len(chosen) >= limit:
                break
        keys = sorted(chosen)
        for key in keys:
            if type(key) is not str:
                raise self.damaged("metric_keys (a key that is not text)", key)
        return keys, total

    def series(self, key: str) -> tuple[list[int], list[float | None]]:
        """(steps, values) of one metric, in step order."""
        rows = self._conn.execute(
            "SELECT step, value FROM metrics WHERE key = ? ORDER BY step, rowid", (key,)).fetchall()
        steps, values = [r[0] for r in rows], [r[1] for r in rows]
        self._check_numbers(key, steps, values)
        return steps, values

    def _check_numbers(self, key: str, steps: list[Any], values: list[Any]) -> None:
        """Steps are integers and values numbers or NULL, as the writers store them (one pass
        over lists already in memory: cheap beside the query)."""
        if not all(type(s) is int for s in steps):
            raise self.damaged(f"metrics {key!r} (a step that is not an integer)",
                               next(s for s in steps if type(s) is not int))
        if not all(v is None or type(v) is float or type(v) is int for v in values):
            raise self.damaged(f"metrics {key!r} (a value that is not a number)",
                               next(v for v in values if not (v is None or type(v) in (float, int))))

    def metrics(self, prefix: str = "") -> dict[str, tuple[list[int], list[float | None]]]:
        out: dict[str, tuple[list[int], list[float | None]]] = {}
        rows = self._conn.execute(
            "SELECT key, step, value FROM metrics WHERE key LIKE ? ESCAPE '\\' ORDER BY key, step, rowid",
            (_like_prefix(prefix),))
        for key, step, value in rows:
            steps, values = out.setdefault(key, ([], []))
            steps.append(step)
            values.append(value)
        for key, (steps, values) in out.items():
            self._check_numbers(key, steps, values)
        return out

    def events(self, kind: str | None = None) -> list[Event]:
        q = "SELECT step, kind, data, time FROM events"
        args: tuple[Any, ...] = ()
        if kind is not None:
            q += " WHERE kind = ?"
            args = (kind,)
        rows = self._conn.execute(q + " ORDER BY step, rowid", args)
        return [self._event(*row) for row in rows]

    def _event(self, step: Any, kind: str, data: Any, t: Any) -> Event:
        where = f"events {kind!r} at step {step!r}"
        if type(step) is not int:
            raise self.damaged(f"{where} (a step that is not an integer)", step)
        decoded = self._json(data, where)
        if not isinstance(decoded, dict):
            raise self.damaged(f"{where} (data that is not a JSON object)", data)
        return Event(step, kind, decoded, t)

    def samples(self, kind: str | None = None) -> Iterator[Sample]:
        q = "SELECT step, kind, prompt, text, time FROM samples"
        args: tuple[Any, ...] = ()
        if kind is not None:
            q += " WHERE kind = ?"
            args = (kind,)
        for row in self._conn.execute(q + " ORDER BY step, rowid", args):
            if type(row[0]) is not int:
                raise self.damaged(f"samples {row[1]!r} (a step that is not an integer)", row[0])
            yield Sample(*row)

    def labels(self, source: str | None = None) -> list[Label]:
        """The labels (of one ``source``), in step order; none for a store without the table."""
        cols = {r[1] for r in self._conn.execute("PRAGMA table_info(labels)")}
        if not cols:
            return []
        q = f"SELECT step, task, doc_id, label, source, time, {'answer' if 'answer' in cols else 'NULL'} FROM labels"
        args: tuple[Any, ...] = ()
        if source is not None:
            q += " WHERE source = ?"
            args = (source,)
        out = [Label(*row) for row in self._conn.execute(q + " ORDER BY step, rowid", args)]
        for label in out:
            if type(label.step) is not int:
                raise self.damaged(f"labels {label.task!r} (a step that is not an integer)", label.step)
        return out

    def last_step(self) -> int | None:
        """The highest step with a metric, event or sample on disk."""
        last = self.get_meta("last_logged_step")
        if last is not None and type(last) is not int:
            raise self.damaged("meta 'last_logged_step' (not an integer)", last)
        return last

    def find_damage(self) -> str | None:
        """The first row that is not as handhold writes it, in one line, or ``None``.

        A scan of every table (seconds on a run of ten million rows): for the moment a view
        failed on a run, to tell a damaged file from a bug; not for every read.
        """
        checks = (
            ("meta", "key, value", "json_valid(value) = 0 OR (key = 'last_logged_step' AND "
                                   "json_type(value) != 'integer')"),
            ("metrics", "key, step, value", "typeof(step) != 'integer' OR typeof(key) != 'text' "
                                            "OR typeof(value) NOT IN ('real', 'integer', 'null') "
                                            "OR typeof(time) NOT IN ('real', 'integer')"),
            ("metric_keys", "key, first_step", "typeof(first_step) != 'integer' OR typeof(key) != 'text'"),
            ("events", "kind, step, data", "typeof(step) != 'integer' OR json_valid(data) = 0 "
                                           "OR json_type(data) != 'object' OR typeof(time) NOT IN ('real', 'integer')"),
            ("samples", "kind, step", "typeof(step) != 'integer' OR typeof(prompt) != 'text' "
                                      "OR typeof(text) != 'text'"),
            ("labels", "task, step", "typeof(step) != 'integer'"),
        )
        tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table, cols, bad in checks:
            if table not in tables:
                continue
            row = self._conn.execute(f"SELECT rowid, {cols} FROM {table} WHERE {bad} LIMIT 1").fetchone()
            if row is not None:
                return str(self.damaged(f"{table} row {row[0]}", row[1:]))
        return None

    def count(self, table: str) -> int:
        if table not in ("metrics", "events", "samples"):
            raise ValueError(f"unknown table {table!r}")
        return self._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


class _Tx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._conn.execute("ROLLBACK" if exc_type else "COMMIT")


def _finite_or_none(v: float) -> float | None:
    f = float(v)
    return f if f == f and f not in (float("inf"), float("-inf")) else None


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def diagnose(run_dir: str | os.PathLike[str], exc: BaseException) -> StoreError | None:
    """A ``StoreError`` naming the damaged row when a read of ``run_dir`` failed with ``exc``
    because its store holds rows handhold never writes; ``None`` when the store is sound (then
    ``exc`` is a bug to report as it is)."""
    if isinstance(exc, StoreError):
        return exc
    try:
        with RunStore.reader(run_dir) as store:
            found = store.find_damage()
    except StoreError as err:
        return err
    except sqlite3.Error as err:
        return StoreError(f"{db_path(run_dir)}: unreadable run store ({err})")
    return None if found is None else StoreError(found)


@contextmanager
def diagnosed(run_dir: str | os.PathLike[str]) -> Iterator[None]:
    """Reads of one run inside this block fail with a one-line ``StoreError`` when the run's
    store is damaged (a view's own bug still raises as it is)."""
    try:
        yield
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except Exception as exc:
        error = diagnose(run_dir, exc)
        if error is None or error is exc:
            raise
        raise error from None


def writer_identity() -> dict[str, Any]:
    """Who is writing: used by ``handhold runs`` to tell a live run from a dead one."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def iter_run_dirs(root: str | os.PathLike[str]) -> Iterable[Path]:
    """Run directories under ``root`` (a directory holding ``run.db``), itself included."""
    root = Path(root)
    if db_path(root).is_file():
        yield root
        return
    if root.is_dir():
        for child in sorted(root.iterdir()):
            if db_path(child).is_file():
                yield child
