"""The dashboard's wrong-answer review endpoints (the logic is in :mod:`.review`).

- ``GET runs/{run}/review?step=&task=&offset=&limit=``: the steps and tasks that have wrong
  answers, the wrong answers of one step (default: the latest; ``total`` of them, ``limit`` from
  ``offset`` listed), and the share of sound reasoning per task and step for the whole run, with
  its figure (:func:`.review_share.share_figure`, the report's too)
- ``PUT runs/{run}/review/label``: ``{"step", "task", "doc_id", "label": "sound"|"unsound"|null}``
  sets (or clears) a person's label; answers the item and its step's share rows

Reading never writes; a label is written through the amend door (:func:`handhold.amend`).
An unknown step, task or document is a 404, a bad label a 422.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

from ..bounds import STEP_MAX
from ..runstore.db import RunStore
from ..summary import stage_table
from .review import ReviewCache, save_label, wrong_answers
from .review_share import share_figure, share_rows


class LabelRequest(BaseModel):
    step: int = Field(ge=0, le=STEP_MAX)  # a step SQLite can hold; beyond it a 422, not a 500
    task: str = Field(min_length=1, max_length=200)
    doc_id: str = Field(min_length=1, max_length=200)
    label: Optional[Literal["sound", "unsound"]]


def add_review_routes(app: FastAPI, run_dir: Callable[[str], Path]) -> None:
    """Register the review endpoints; ``run_dir`` maps a run name to its folder (or raises 4xx)."""
    index = ReviewCache()

    @app.get("/api/runs/{run}/review")
    def review(
        run: str,
        step: Annotated[Optional[int], Query(ge=0, le=STEP_MAX, description="the step to list (default: the latest)")] = None,
        task: Annotated[Optional[str], Query(max_length=200, description="only this task")] = None,
        offset: Annotated[int, Query(ge=0, description="skip this many of the step's wrong answers")] = 0,
        limit: Annotated[int, Query(ge=1, le=2000, description="list at most this many")] = 200,
    ) -> dict[str, Any]:
        d = run_dir(run)
        with RunStore.reader(d) as store, store.snapshot():
            items, notes = wrong_answers(store, d, index=index)
            missing, _ = wrong_answers(store, d, index=index, unanswered=True)
            stages = stage_table(store)
        steps = sorted({i.step for i in items})
        tasks = sorted({i.task for i in items})
        if task is not None and task not in tasks:
            raise HTTPException(404, f"no wrong answers of task {task!r} in run {run!r}"
                                     + (f" (tasks: {', '.join(tasks)})" if tasks else ""))
        if step is not None and step not in steps:
            raise HTTPException(404, f"no wrong answers at step {step} in run {run!r}"
                                     + (f" (steps: {', '.join(map(str, steps))})" if steps else ""))
        at = step if step is not None else (steps[-1] if steps else None)
        rows = share_rows(items)
        shown = [i for i in items if i.step == at and (task is None or i.task == task)]
        return {"steps": steps, "tasks": tasks, "step": at, "task": task, "notes": notes,
                "total": len(shown), "offset": offset,
                "items": [i.to_dict() for i in shown[offset:offset + limit]],
                "unanswered": [i.to_dict() for i in missing if i.step == at and (task is None or i.task == task)],
                "summary": [r.to_dict() for r in rows], "figure": share_figure(rows, stages) if rows else None}

    @app.put("/api/runs/{run}/review/label")
    def label(run: str, body: LabelRequest) -> dict[str, Any]:
        d = run_dir(run)
        with RunStore.reader(d) as store, store.snapshot():
            items, _ = wrong_answers(store, d, step=body.step, index=index)
        if not items:
            raise HTTPException(404, f"no wrong answers at step {body.step} in run {run!r}")
        item = next((i for i in items if i.task == body.task and i.doc_id == body.doc_id), None)
        if item is None:
            known = sorted({i.task for i in items})
            raise HTTPException(404, f"no wrong answer {body.doc_id!r} of task {body.task!r} at step "
                                     f"{body.step} (tasks there: {', '.join(known)})")
        save_label(d, body.step, body.task, body.doc_id, body.label, digest=item.digest)
        items = [replace(i, human=body.label) if i is item else i for i in items]
        item = replace(item, human=body.label)
        return {"item": item.to_dict(), "summary": [r.to_dict() for r in share_rows(items)]}
