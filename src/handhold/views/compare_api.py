"""The dashboard's run comparison endpoint (the document is built in :mod:`.compare`).

``GET compare?runs=A&runs=B&key=&max_points=``: the comparison document of the runs (repeat
``runs`` or separate names with commas; 1 to :data:`.compare.MAX_RUNS` runs) with the series of
``key`` (default: a held-out loss every run shares). An unknown run is a 404 (as everywhere), a
key no chosen run has a 404, too many runs a 400.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse

from ..runstore.db import RunStore
from .compare import MAX_RUNS, compare_doc


def add_compare_routes(app: FastAPI, run_dir: Callable[[str], Path]) -> None:
    """Register the endpoint; ``run_dir`` maps a run name to its folder (or raises 4xx)."""

    @app.get("/api/compare")
    def compare(
        runs: Annotated[list[str], Query(description="run names (repeat, or comma-separated)")],
        key: Annotated[Optional[str], Query(max_length=500)] = None,
        max_points: Annotated[int, Query(ge=10, le=20_000)] = 2000,
    ) -> JSONResponse:
        names = list(dict.fromkeys(n for item in runs for n in item.split(",") if n))
        if not names:
            raise HTTPException(400, "name at least one run to compare")
        if len(names) > MAX_RUNS:
            raise HTTPException(400, f"{len(names)} runs asked; at most {MAX_RUNS} on one chart")
        dirs = [run_dir(n) for n in names]
        if key is not None:
            found = False
            for d in dirs:
                with RunStore.reader(d) as store:
                    found = found or key in store.metric_keys(key)
            if not found:
                raise HTTPException(404, f"no metric {key!r} in runs {', '.join(names)}")
        doc: dict[str, Any] = compare_doc(dirs, key, max_points=max_points, ids=names)
        return JSONResponse(doc)
