"""Runs for the wrong-answer review tests, built through the Run API: ``answer`` events as the
benchmark scorer writes them (the data contract)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import handhold

CHOICES = ["a cat", "a dog", "a bird"]


def answer(task: str, doc: int, *, correct: bool = False, consistent: bool | None = True,
           choice: int | None = 1, gold: int = 0) -> dict:
    return {"task": task, "doc_id": str(doc), "question": f"Which animal is question {doc} about?",
            "choices": CHOICES, "gold": gold, "choice": choice, "correct": correct,
            "reasoning": f"It purrs, so it is {CHOICES[choice] if choice is not None else 'unclear'} ({doc}).",
            "consistent": consistent}


def answers_run(run_dir: Path, *, metrics: bool | Callable[[int], dict] = True) -> Path:
    """Step 10: arc_easy docs 0-4 (0 right; 1, 2 consistent; 3 inconsistent; 4 undecided: an answer whose reasoning names no conclusion) and
    boolq doc 0 (inconsistent), plus one malformed event; step 20: arc_easy doc 0 (consistent).
    Stages general, physics, mixed start at steps 0, 10, 20; the last ends at 30. ``metrics``:
    the default curves, none, or ``step -> {key: value}`` for steps 1-30."""
    answers = {10: [answer("arc_easy", 0, correct=True, choice=0), answer("arc_easy", 1),
                    answer("arc_easy", 2, choice=2), answer("arc_easy", 3, consistent=False),
                    answer("arc_easy", 4, consistent=None, choice=2), answer("boolq", 0, consistent=False),
                    {"task": "arc_easy", "doc_id": "9", "correct": False, "choices": "not a list"}],
               20: [answer("arc_easy", 0)]}
    with handhold.init(run_dir, name=run_dir.name, stages=["general", "physics", "mixed"]) as run:
        for step in range(0, 31):
            if step in (0, 10, 20):
                if step:
                    run.stage_end("budget", step=step)
                run.stage(("general", "physics", "mixed")[step // 10], step=step)
            if callable(metrics) and step:
                run.log(metrics(step), step=step)
            elif metrics and step:
                m = {"train/loss": 3.0 - step / 30}
                if step % 5 == 0:
                    m.update({"eval/loss/a": 2.0 + (step == 15), "eval/family/reasoning": step / 60,
                              "eval/family/standard": 0.02})
                run.log(m, step=step)
            for data in answers.get(step, []):
                run.event("answer", step=step, **data)
        run.stage_end("budget", step=30)
    return run_dir


def without_labels_table(run_dir: Path, *, legacy_table: bool = False) -> Path:
    """Make ``run_dir`` a store as handhold wrote it before labels joined the schema: no ``labels``
    table, or (``legacy_table``) the one the first review created, without the ``answer`` column."""
    con = sqlite3.connect(run_dir / "run.db")
    try:
        con.execute("DROP TABLE labels")
        if legacy_table:
            con.execute("CREATE TABLE labels (step INTEGER NOT NULL, task TEXT NOT NULL, doc_id TEXT NOT NULL, "
                        "label TEXT NOT NULL, source TEXT NOT NULL, time REAL NOT NULL, "
                        "PRIMARY KEY (step, task, doc_id, source))")
        con.commit()
    finally:
        con.close()
    return run_dir
