"""``handhold serve``: the live dashboard and its JSON API (FastAPI), over a folder of runs.

Close to 500 lines: one FastAPI app whose routes share the run lookup, the read-only store per
request, the damage check and the bounds on huge runs; the chat, review and compare routes
already live in their own modules (:mod:`.chat_routes`, :mod:`.review_api`, :mod:`.compare_api`).

Everything is read from the run stores through read-only connections opened per request, so
the page can watch a run that is training (WAL: readers never block the writer) or one whose
trainer died. The one write is a chat exchange, saved as a ``chat`` sample (see :mod:`.chat`).

API (all under ``/api/``; a run is named by its folder name under RUNS_DIR):

- ``GET runs``: every run with status, stages, last step, a one-line phases summary
- ``GET runs/{run}``: the run's info, metric keys and checkpoint steps
- ``GET runs/{run}/panels``: the panels to draw (traces, layout with stage bands, phase marks)
- ``GET runs/{run}/metrics?keys=&prefix=&since=&start=&end=&max_points=``: series reduced on
  the server to at most ``max_points`` points each (min/max per bucket); ``since=S`` returns
  only rows at steps >= S, for live polling
- ``GET runs/{run}/events?kind=&since=``, ``GET runs/{run}/samples?kind=&prompt=&q=&since=&limit=``
- ``POST runs/{run}/chat``: ``{"message", "step", "history", "max_new_tokens", "temperature", "top_p"}``;
  ``chat/stream`` and ``chat/compare`` (see :mod:`.chat_routes`)

Run names from the URL must be a plain folder name (letters, digits, ``.``, ``_``, ``-``) that
names a run directly under RUNS_DIR: no path traversal. Bad parameters
get a 4xx with a message.

``GET compare?runs=A&runs=B&key=``: several runs on one chart (:mod:`.compare_api`).

The wrong-answer review (``GET runs/{run}/review``, ``PUT runs/{run}/review/label``) lives in
:mod:`.review_api`; a label is the one other write, into its own ``labels`` table.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

from ..extras import require

require("fastapi", "dashboard")

from fastapi import FastAPI, HTTPException, Query, Request  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import FileResponse, JSONResponse  # noqa: E402
from fastapi.routing import APIRoute  # noqa: E402
from fastapi.staticfiles import StaticFiles  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402

from ..runstore.listing import run_info  # noqa: E402
from ..runstore.db import RunStore, StoreError, db_path, diagnose, iter_run_dirs  # noqa: E402
from ..summary import stage_table  # noqa: E402
from .chat import Chat, ChatError, ChatLimits, checkpoints  # noqa: E402
from .chat_routes import ChatBody, add_chat_routes, chat_status  # noqa: E402
from .compare_api import add_compare_routes  # noqa: E402
from .downsample import read_series  # noqa: E402
from .guard import Guard  # noqa: E402
from .analysis import load_phases, phase_summary  # noqa: E402
from .marks import mark_kinds  # noqa: E402
from .panels import marked_events, panel_layout, panel_specs  # noqa: E402
from ..roles import stored_roles  # noqa: E402
from .readings import cached_bands  # noqa: E402
from .review_api import add_review_routes  # noqa: E402

STATIC = Path(__file__).parent / "static"
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
MAX_KEYS = 200
MAX_PANEL_KEYS = 300  # metrics drawn as panels: a run of a million keys is drawn in part, and says so
MAX_LISTED_KEYS = 2000
LOSS_PREFIXES = ("train/loss", "eval/loss/")  # metric names in a run's info (the rest: keys_total, and /metrics?keys=)
MAX_STEP = 2**62  # SQLite integers end at 2**63: a larger step is a 422, not an OverflowError
PHASES_EVERY_S = 10.0  # a live run's phases are recomputed at most this often


ChatRequest = ChatBody  # bounded history, no NaN/Infinity (see .chat_routes)


def create_app(runs_dir: str | Path, *, chat_limits: ChatLimits | None = None,
               phases_process: bool = True, allowed_hosts: Sequence[str] = ()) -> FastAPI:
    """The dashboard app over the runs in ``runs_dir`` (a folder of runs, or one run).

    ``allowed_hosts``: Host names served besides the loopback ones (see :mod:`.guard`).

    ``phases_process``: run the phases analysis in a worker process (the default: it is CPU
    work that would otherwise hold the GIL and slow every request while it runs), or in a
    thread of this process (tests that stub the analysis).
    """
    root = Path(runs_dir).resolve()
    phases_cache = _PhasesCache(process=phases_process)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        phases_cache.close()

    app = FastAPI(title="handhold dashboard", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.add_middleware(Guard, allowed_hosts=allowed_hosts)
    chat = Chat(chat_limits)
    public = _PublicText(root)

    # ------------------------------------------------------------------ errors -> 4xx
    # every message names runs by their folder name, never by this server's paths
    @app.exception_handler(StoreError)
    async def _store_error(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": public(str(exc))}, status_code=409)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = public(exc.detail) if isinstance(exc.detail, str) else exc.detail
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # the default handler echoes the input, which fails on NaN/Infinity (a 500): say what and where
        return JSONResponse({"detail": [{"loc": e.get("loc"), "msg": e.get("msg"), "type": e.get("type")}
                                        for e in exc.errors()]}, status_code=422)

    @app.exception_handler(sqlite3.OperationalError)
    async def _busy(request: Request, exc: sqlite3.OperationalError) -> JSONResponse:
        return JSONResponse({"detail": public(f"run store busy or unreadable: {exc}")}, status_code=503)

    def run_dir(run: str) -> Path:
        if not RUN_NAME.fullmatch(run) or ".." in run:
            raise HTTPException(400, f"invalid run name {run!r}: a folder name of letters, digits, "
                                     "'.', '_' and '-'")
        if db_path(root).is_file():  # serving a single run
            if run == root.name:
                return root
        else:
            d = root / run  # one plain path component: it cannot leave root (a symlink that
            if db_path(d).is_file():  # the owner of root put there is followed, as `runs` does)
                return d
        raise HTTPException(404, f"no run named {run!r} here")

    app.router.route_class = _route_class(run_dir)  # the routes below: a damaged run is a 409
    add_review_routes(app, run_dir)  # the wrong-answer review (views/review_api.py)
    add_compare_routes(app, run_dir)  # several runs on one chart (views/compare_api.py)

    # ------------------------------------------------------------------ pages
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        import plotly

        return FileResponse(Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
                            media_type="text/javascript")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # ------------------------------------------------------------------ API
    @app.get("/api/runs")
    def runs() -> dict[str, Any]:
        out = []
        for d in iter_run_dirs(root):
            try:
                info = run_info(d)
            except (StoreError, OSError, ValueError, sqlite3.Error) as exc:
                out.append({"id": d.name, "error": public(str(exc))})
                continue
            summary = phase_summary(phases_cache.get(d, info.last_step, wait=0.0, background=True))
            out.append({**_info(info), "phases": summary})
        return {"root": str(root), "runs": out}

    @app.get("/api/runs/{run}")
    def run(run: str) -> dict[str, Any]:
        d = run_dir(run)
        info = run_info(d)
        with RunStore.reader(d) as store:
            keys, total = bounded_keys(store, MAX_LISTED_KEYS)
            counts = {t: store.count(t) for t in ("events", "samples")}
        return {**_info(info), "keys": keys, "keys_total": total, "checkpoints": checkpoints(d),
                "counts": counts}

    @app.get("/api/runs/{run}/panels")
    def panels(run: str) -> dict[str, Any]:
        d = run_dir(run)
        with RunStore.reader(d) as store:
            last = store.last_step()
            rows = stage_table(store)
            events = marked_events(store)  # not every event: a benchmark run logs one per answer
            n_events = store.count("events")
            keys, total = bounded_keys(store, MAX_PANEL_KEYS)
            roles = stored_roles(store.meta())
            bands = cached_bands(store)  # 95% bands of the benchmark curves, from their documents
        phases = phases_cache.get(d, last)
        marks = phases if phases.get("available") else None
        out = [{**p.to_dict(), "layout": panel_layout(p, rows, events, marks),
                "bands": {t.key: dict(zip(("steps", "lo", "hi"), bands[t.key])) for t in p.traces if t.key in bands}}
               for p in panel_specs(keys, roles)]
        note = (f"{total:,} metrics: the panels draw {len(keys):,} of them (the losses, then the first by "
                "name); /api/runs/RUN/metrics?keys=NAME reads any other") if len(keys) < total else None
        return {"panels": out, "last_step": last, "events": n_events, "marks": mark_kinds(),
                "keys_total": total, "note": note,
                "phases": {k: public(phases[k]) if k == "note" else phases[k]
                           for k in ("available", "note", "pending") if k in phases}}

    @app.get("/api/runs/{run}/metrics")
    def metrics(
        run: str,
        keys: Annotated[Optional[list[str]], Query(description="metric keys (repeat, or comma-separated)")] = None,
        prefix: Annotated[str, Query(max_length=200)] = "",
        since: Annotated[Optional[int], Query(ge=0, le=MAX_STEP, description="only rows at steps >= since")] = None,
        start: Annotated[Optional[int], Query(ge=0, le=MAX_STEP)] = None,
        end: Annotated[Optional[int], Query(ge=0, le=MAX_STEP)] = None,
        max_points: Annotated[int, Query(ge=10, le=100_000)] = 4000,
    ) -> JSONResponse:
        d = run_dir(run)
        if start is not None and end is not None and start > end:
            raise HTTPException(400, f"start ({start}) is after end ({end})")
        with _snapshot(d) as store:
            asked = [k for item in keys or [] for k in item.split(",") if k]
            if len(asked) > MAX_KEYS:
                raise HTTPException(400, f"{len(asked)} keys asked; at most {MAX_KEYS} per call")
            known = _known_keys(store, prefix, asked, MAX_KEYS + 1)  # never the whole key table
            wanted = asked or known
            if len(wanted) > MAX_KEYS:
                raise HTTPException(400, f"over {MAX_KEYS} keys under prefix {prefix!r}; at most {MAX_KEYS} "
                                         "per call (name them with keys=, or a longer prefix)")
            missing = sorted(set(wanted) - set(known))
            if missing:
                raise HTTPException(404, f"no metric {missing[0]!r} in run {run!r}"
                                         + (f" under prefix {prefix!r}" if prefix else ""))
            t0 = time.perf_counter()
            series = {k: read_series(store, k, max_points=max_points, since=since,
                                     start=start, end=end).to_dict() for k in wanted}
            last = store.last_step()
        # plain numbers: JSONResponse skips FastAPI's per-value encoder (~10% of this call)
        return JSONResponse({"last_step": last, "series": series,
                             "seconds": round(time.perf_counter() - t0, 4)})

    @app.get("/api/runs/{run}/events")
    def events(
        run: str,
        kind: Annotated[Optional[str], Query(max_length=100)] = None,
        since: Annotated[Optional[int], Query(ge=0, le=MAX_STEP, description="only events at steps >= since")] = None,
    ) -> dict[str, Any]:
        d = run_dir(run)
        with _snapshot(d) as store:
            q, args = "SELECT step, kind, data, time FROM events WHERE 1", []
            if kind is not None:
                q, args = q + " AND kind = ?", [*args, kind]
            if since is not None:
                q, args = q + " AND step >= ?", [*args, since]
            rows = store.query(q + " ORDER BY step, rowid", args).fetchall()
            last = store.last_step()
        return {"last_step": last, "events": [
            {"step": s, "kind": k, "data": json.loads(data), "time": t} for s, k, data, t in rows]}

    @app.get("/api/runs/{run}/samples")
    def samples(
        run: str,
        kind: Annotated[Optional[str], Query(max_length=100)] = None,
        prompt: Annotated[Optional[str], Query(max_length=5000)] = None,
        q: Annotated[Optional[str], Query(max_length=200, description="text to find in prompt or text")] = None,
        since: Annotated[Optional[int], Query(ge=0, le=MAX_STEP)] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    ) -> dict[str, Any]:
        d = run_dir(run)
        where, args = "1", []
        for clause, value in (("kind = ?", kind), ("prompt = ?", prompt), ("step >= ?", since)):
            if value is not None:
                where, args = f"{where} AND {clause}", [*args, value]
        if q:
            like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where, args = f"{where} AND (prompt LIKE ? ESCAPE '\\' OR text LIKE ? ESCAPE '\\')", [*args, like, like]
        with _snapshot(d) as store:
            total = store.query(f"SELECT COUNT(*) FROM samples WHERE {where}", args).fetchone()[0]
            rows = store.query(f"SELECT step, kind, prompt, text, time FROM samples WHERE {where} "
                                "ORDER BY step DESC, rowid DESC LIMIT ?", [*args, limit]).fetchall()
            kinds = [r[0] for r in store.query("SELECT DISTINCT kind FROM samples ORDER BY kind")]
            last = store.last_step()
        return {"last_step": last, "total": total, "kinds": kinds, "samples": [
            {"step": s, "kind": k, "prompt": p, "text": t, "time": tm} for s, k, p, t, tm in rows]}

    @app.post("/api/runs/{run}/chat")
    def chat_reply(run: str, body: ChatRequest) -> dict[str, Any]:
        d = run_dir(run)
        try:
            reply = chat.reply(d, body.step, body.message, body.history,
                               max_new_tokens=body.max_new_tokens, temperature=body.temperature,
                               top_p=body.top_p)
        except ChatError as exc:
            raise HTTPException(chat_status(exc), str(exc)) from exc
        return reply.to_dict()

    add_chat_routes(app, chat, run_dir, public)

    return app


class _PublicText:
    """A message with this server's paths replaced by run names: ``/srv/runs/demo/run.db``
    reads ``demo/run.db`` (the folder served is nobody's business but the server's)."""

    def __init__(self, root: Path) -> None:
        base = root.parent if db_path(root).is_file() else root
        self._prefixes = sorted({f"{base}{os.sep}", f"{base.resolve()}{os.sep}"}, key=len, reverse=True)
        self._roots = sorted({str(base), str(base.resolve())}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for prefix in self._prefixes:
            text = text.replace(prefix, "")
        for whole in self._roots:
            text = text.replace(whole, ".")
        return text


def _route_class(run_dir: Any) -> type[APIRoute]:
    """Routes whose unexpected failure on a run is first checked against the run's store: a
    damaged one (rows edited by hand, a file that is not a store) is a 409 naming the row;
    anything else stays a 500 (a bug)."""

    class DiagnosedRoute(APIRoute):
        def get_route_handler(self) -> Any:
            handler = super().get_route_handler()

            async def handle(request: Request) -> Any:
                try:
                    return await handler(request)
                except (StarletteHTTPException, RequestValidationError, StoreError):
                    raise
                except OverflowError:  # a request's number past what SQLite stores (2**63)
                    raise HTTPException(422, "a number in the request is out of range (steps end "
                                             f"at {MAX_STEP})") from None
                except Exception as exc:
                    run = request.path_params.get("run")
                    if run is None:
                        raise
                    try:
                        d = run_dir(run)
                    except HTTPException:
                        raise exc from None
                    error = diagnose(d, exc)
                    if error is None:
                        raise
                    raise error from None

            return handle

    return DiagnosedRoute


def bounded_keys(store: RunStore, limit: int) -> tuple[list[str], int]:
    """At most ``limit`` metric names to draw (every loss first, then the others by name) and
    how many the run has (see :meth:`RunStore.some_metric_keys`)."""
    return store.some_metric_keys(limit, first=LOSS_PREFIXES)


def _known_keys(store: RunStore, prefix: str, asked: list[str], limit: int) -> list[str]:
    """The metric names under ``prefix``: those of ``asked`` that exist, or (none asked) the
    first ``limit`` of them."""
    like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if asked:
        marks = ",".join("?" * len(asked))
        rows = store.query(f"SELECT key FROM metric_keys WHERE key IN ({marks}) AND key LIKE ? ESCAPE '\\'",
                           [*asked, like])
    else:
        rows = store.query("SELECT key FROM metric_keys WHERE key LIKE ? ESCAPE '\\' ORDER BY key LIMIT ?",
                           (like, limit))
    return [r[0] for r in rows]


@contextmanager
def _snapshot(run_dir: Path) -> Iterator[RunStore]:
    """A read-only store inside one read transaction: every query sees the same moment, so
    ``last_step`` never runs ahead of the rows returned (a poller would skip rows otherwise).
    In WAL mode this holds no lock the writer waits for."""
    with RunStore.reader(run_dir) as store, store.snapshot():
        yield store


def _info(info: Any) -> dict[str, Any]:
    return {"id": info.path.name, "name": info.name, "status": info.status, "reason": info.reason,
            "stages": info.stages, "stage": info.stage, "last_step": info.last_step}


class _PhasesCache:
    """Phases per run, computed off the request path, kept until the run moves on and then
    recomputed at most every PHASES_EVERY_S. Two single workers (processes by default): one for
    the run a person opened, one for the runs list, which queues a run only when it is idle,
    so an opened run never waits behind every run of a big folder. A request waits for a fresh
    result up to ``wait`` seconds (small runs: done by then); past that it gets the previous
    result, or a "pending" note, and the page asks again on its next poll."""

    def __init__(self, *, process: bool) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

        def pool() -> Any:
            if process:
                return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                           initializer=_background_priority, initargs=(os.getpid(),))
            return ThreadPoolExecutor(max_workers=1, thread_name_prefix="handhold-phases")

        self._lock = threading.RLock()  # a done callback may run at once, inside get()
        self._pools = {"page": pool(), "list": pool()}
        self._data: dict[Path, tuple[int | None, float, dict[str, Any]]] = {}
        self._pending: dict[Path, tuple[str, Any]] = {}

    def get(self, run_dir: Path, last_step: int | None, *, wait: float = 0.5,
            background: bool = False) -> dict[str, Any]:
        """``background``: a runs-list request (queued only on an idle list worker, no wait)."""
        lane = "list" if background else "page"
        with self._lock:
            hit = self._data.get(run_dir)
            if hit is not None and (hit[0] == last_step or time.monotonic() - hit[1] < PHASES_EVERY_S):
                return hit[2]
            pending = self._pending.get(run_dir)
            if pending is None and background and any(ln == "list" for ln, _ in self._pending.values()):
                return hit[2] if hit is not None else {"available": False, "pending": True}
            if pending is None:
                future = self._pools[lane].submit(phases_of, str(run_dir))
                self._pending[run_dir] = (lane, future)
                future.add_done_callback(lambda f, d=run_dir, s=last_step: self._done(d, s, f))
            else:
                future, wait = pending[1], 0.0  # an earlier request is already waiting on it
        try:
            return future.result(timeout=wait)
        except FutureTimeout:
            return hit[2] if hit is not None else {
                "available": False, "pending": True, "note": "phases: analysing this run…"}
        except Exception as exc:  # noqa: BLE001 - a dead worker must not take the page down
            return {"available": False, "note": f"phases: the analysis failed ({type(exc).__name__}: {exc})"}

    def _done(self, run_dir: Path, last_step: int | None, future: Any) -> None:
        try:
            phases = future.result()
        except Exception as exc:  # noqa: BLE001
            phases = {"available": False, "note": f"phases: the analysis failed ({type(exc).__name__}: {exc})"}
        with self._lock:
            self._data[run_dir] = (last_step, time.monotonic(), phases)
            self._pending.pop(run_dir, None)

    def close(self) -> None:
        """Stop the workers now: an analysis of a big run must not outlive the server."""
        for pool in self._pools.values():
            procs = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:  # no public API for this before Python 3.14's terminate_workers()
                proc.terminate()
                proc.join(timeout=5)


def _background_priority(parent: int | None = None) -> None:
    """The phases worker yields the CPU to the server's requests (and to a trainer), leaves
    Ctrl-C to the server (which stops it), and on Linux dies with the server whatever way the
    server ends (SIGKILL included): never an orphan holding a big run in memory."""
    import signal

    try:
        os.nice(10)
    except (AttributeError, OSError):  # not on this platform / not allowed
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)


def _die_with_parent(parent: int | None) -> None:
    """prctl(PR_SET_PDEATHSIG, SIGTERM): the kernel ends this process when its parent ends."""
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if parent is not None and os.getppid() != parent:  # it was gone before the call took effect
        os._exit(0)


def phases_of(run_dir: str) -> dict[str, Any]:
    """The phases document of one run (the worker's job; module level so a process can run it)."""
    try:
        with RunStore.reader(run_dir) as store:
            return load_phases(store)
    except (StoreError, sqlite3.Error) as exc:
        return {"available": False, "note": f"phases: cannot read the run ({exc})"}
