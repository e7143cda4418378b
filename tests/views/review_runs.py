"""Hand-built runs for the wrong-answer review tests: ``answer`` events as the benchmark scorer
writes them (the data contract), and a procedural eval suite's stored generations."""

from __future__ import annotations

from pathlib import Path

from handhold.store import RunStore

CHOICES = ["a cat", "a dog", "a bird"]


def answer(task: str, doc: int, *, correct: bool = False, consistent: bool | None = True,
           choice: int | None = 1, gold: int = 0) -> dict:
    return {"task": task, "doc_id": str(doc), "question": f"Which animal is question {doc} about?",
            "choices": CHOICES, "gold": gold, "choice": choice, "correct": correct,
            "reasoning": f"It purrs, so it is {CHOICES[choice] if choice is not None else 'unclear'} ({doc}).",
            "consistent": consistent}


def answers_run(run_dir: Path, *, metrics: bool = True) -> Path:
    """Step 10: arc_easy docs 0-4 (0 right; 1, 2 consistent; 3 inconsistent; 4 undecided) and
    boolq doc 0 (inconsistent), plus one malformed event; step 20: arc_easy doc 0 (consistent)."""
    s = RunStore.open(run_dir)
    s.set_meta("name", run_dir.name)
    s.set_meta("stages", ["general", "physics", "mixed"])
    for i, stage in enumerate(("general", "physics", "mixed")):
        s.log_event(10 * i, "stage_start", {"stage": stage, "index": i})
    if metrics:
        for step in range(1, 31):
            m = {"train/loss": 3.0 - step / 30}
            if step % 5 == 0:
                m.update({"eval/loss/a": 2.0 + (step == 15), "eval/family/reasoning": step / 60,
                          "eval/family/standard": 0.02})
            s.log_metrics(step, m)
    s.log_event(10, "answer", answer("arc_easy", 0, correct=True, choice=0))
    s.log_event(10, "answer", answer("arc_easy", 1))
    s.log_event(10, "answer", answer("arc_easy", 2, choice=2))
    s.log_event(10, "answer", answer("arc_easy", 3, consistent=False))
    s.log_event(10, "answer", answer("arc_easy", 4, consistent=None, choice=None))
    s.log_event(10, "answer", answer("boolq", 0, consistent=False))
    s.log_event(10, "answer", {"task": "arc_easy", "doc_id": "9", "correct": False, "choices": "not a list"})
    s.log_event(20, "answer", answer("arc_easy", 0))
    s.log_event(30, "stage_end", {"stage": "mixed", "index": 2, "reason": "budget"})
    s.set_meta("status", "finished")
    s.close()
    return run_dir
