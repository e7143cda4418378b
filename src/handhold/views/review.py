"""The wrong-answer review: was a wrong answer reasoned well? A person decides; handhold counts.

The seed's "66% of wrong answers had good reasoning" made measurable: for every wrong answer at
a step, the model's reasoning, its choice and the gold are listed; a person marks each
``sound`` or ``unsound``; the share of sound reasoning among the labelled wrong answers is
reported per task and step with a Wilson 95% interval (counted and drawn in :mod:`.review_share`).

Where the wrong answers come from (read only; the store is never changed by reading):

- ``answer`` events (real benchmarks scored with chain of thought), one per document::

      data = {"task", "doc_id", "question", "choices": [str], "gold": int, "choice": int | None,
              "correct": bool, "reasoning": str, "consistent": bool | None}
      # optional: "conclusion": int | None, the choice the reasoning itself concluded

- the procedural eval suite's stored generations (samples ``eval/<task>``), matched to their
  examples through the run's ``config.yaml``; ``doc_id`` is the example's index in the task's
  held-out list.

A question the model did not answer (no choice could be read from its generation: ``answered``
false in the event, or no ``choice``; for the procedural suite, no stated answer) is not a wrong
answer: it has no reasoning toward an answer to judge. Such items are kept apart
(``wrong_answers(..., unanswered=True)`` lists them, the API returns them under ``unanswered``)
and never enter the share of sound reasoning; a note says how many there are.

An automatic label pre-fills each item, marked ``auto``: for an ``answer`` event, the
consistency check (the choice follows from the reasoning's own conclusion: ``sound``; it
contradicts it: ``unsound``, unless that conclusion was the gold; no conclusion found: no
label; see :func:`_consistency_label`); for the procedural suite, the
audit of :mod:`handhold.evals.audit` (a slip or another valid route: ``sound``). A human label
overrides it. Labels live in the store's ``labels`` table::

    labels(step, task, doc_id, label, source, time, answer)   -- one row per item and source

:func:`save_label` writes one through the amend door (:func:`handhold.amend`), safe beside a
trainer still writing the run; stores written before the table joined the schema read as
unlabelled. The examples of the procedural suite are rebuilt without torch
(:mod:`handhold.evals.examples`): a view never loads a model library.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ..runstore.db import RunStore
from .review_share import ALL_TASKS, ShareRow, share_figure, share_rows, wilson_interval  # noqa: F401 - the review's API

LABELS = ("sound", "unsound")
HUMAN = "human"
AUTO = "auto"
ANSWER_KIND = "answer"
EVAL_SAMPLE_PREFIX = "eval/"


class ReviewError(ValueError):
    """A label that cannot be saved as asked (bad label, no such wrong answer)."""


# ------------------------------------------------------------------------------ items
@dataclass
class ReviewItem:
    """One wrong answer to review."""

    step: int
    task: str
    doc_id: str
    question: str
    choices: list[str]
    gold: int | None  # index into choices (None: a free answer, see gold_text)
    choice: int | None  # the model's choice (None: none of the choices / no answer)
    gold_text: str
    choice_text: str | None
    reasoning: str
    origin: str  # "answer" (an answer event) or "eval" (a procedural eval generation)
    auto: str | None = None  # the automatic label, or None when the check could not decide
    auto_reason: str = ""
    human: str | None = None
    answered: bool = True  # False: no answer could be read (kept apart from wrong answers)

    @property
    def label(self) -> str | None:
        """The label that counts: the human one when there is one, else the automatic one."""
        return self.human or self.auto

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.step, self.task, self.doc_id)

    @property
    def digest(self) -> str:
        """What a label is about: this reasoning and this choice (not the key alone)."""
        return hashlib.sha1(json.dumps([self.reasoning, self.choice_text]).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label,
                "label_source": HUMAN if self.human else AUTO if self.auto else None}


def _answer_item(step: int, data: Any) -> ReviewItem | None:
    """A wrong answer from an ``answer`` event, or None (right, or not of the contract's shape)."""
    if not isinstance(data, dict) or data.get("correct") is not False:
        return None
    choices = data.get("choices")
    gold, choice = data.get("gold"), data.get("choice")
    if not (isinstance(data.get("task"), str) and isinstance(choices, list)
            and all(isinstance(c, str) for c in choices) and _index(gold, choices)
            and (choice is None or _index(choice, choices)) and data.get("doc_id") is not None):
        return None
    auto, why = _consistency_label(data.get("consistent"), data.get("conclusion"), gold, choices)
    return ReviewItem(step, data["task"], str(data["doc_id"]), str(data.get("question", "")), choices,
                      gold, choice, choices[gold], None if choice is None else choices[choice],
                      str(data.get("reasoning", "")), ANSWER_KIND, auto, why,
                      answered=bool(data.get("answered", choice is not None)))


def _consistency_label(consistent: Any, conclusion: Any, gold: int, choices: list[str]) -> tuple[str | None, str]:
    """The automatic label of a wrong answer from the consistency check.

    The seed's "good reasoning" on a wrong answer is reasoning that argues coherently for the
    answer it gives ("reasonable in a different direction"): consistent -> ``sound``. An answer
    that contradicts its own reasoning is not reasoned well -> ``unsound``, except when the
    event also names the reasoning's ``conclusion`` (optional index) and that is the gold: the
    reasoning got it right and the answer slipped -> ``sound`` (the audit's ``sound_slip``).
    No conclusion found (``consistent`` null): no label; a person decides.
    """
    if consistent is True:
        return "sound", "consistent: the choice follows from the reasoning's own conclusion"
    if consistent is False:
        if _index(conclusion, choices) and conclusion == gold:
            return "sound", "a slip: the reasoning concluded the gold, the answer says otherwise"
        return "unsound", "inconsistent: the choice contradicts the reasoning's own conclusion"
    return None, "no conclusion found in the reasoning (or no choice): label it yourself"


def _index(i: Any, choices: list[str]) -> bool:
    return isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(choices)


class ReviewCache:
    """What the review reads again and again, kept between requests: the wrong answers of the
    ``answer`` events (read on from the last row seen: the events table only grows, except when a
    resumed run cuts rows, which starts the read over), the run's procedural eval examples by
    prompt (rebuilt from its ``config.yaml``, cached on the file's mtime), and the audit verdict
    of each generation (samples never change)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._examples: dict[Path, tuple[float, dict[str, dict[str, tuple[int, Any]]], str]] = {}
        self._verdicts: dict[tuple[str, str], Any] = {}
        self._answers: dict[Path, tuple[tuple[Any, int, int, int], list[ReviewItem], int]] = {}

    def answers(self, store: RunStore, run_dir: Path) -> tuple[list[ReviewItem], int]:
        """Every wrong answer of the ``answer`` events and the count of malformed events."""
        count, top, resumes = store.query(
            "SELECT COUNT(*), COALESCE(MAX(rowid), 0), (SELECT COUNT(*) FROM events WHERE kind = 'resume') "
            "FROM events WHERE kind = ?", (ANSWER_KIND,)).fetchone()
        key = (store.get_meta("created"), count, top, resumes)  # created: the same path, another run
        with self._lock:
            hit = self._answers.get(run_dir)
        if hit is not None and hit[0] == key:
            return hit[1], hit[2]
        grown = hit is not None and hit[0][0] == key[0] and hit[0][3] == resumes and hit[0][1] <= count \
            and hit[0][2] <= top
        items, bad = (list(hit[1]), hit[2]) if grown else ([], 0)
        new, more_bad = _answer_rows(store, "rowid > ?", [hit[0][2] if grown else 0])
        items += new
        with self._lock:
            self._answers[run_dir] = (key, items, bad + more_bad)
        return items, bad + more_bad

    def examples(self, run_dir: Path) -> tuple[dict[str, dict[str, tuple[int, Any]]], str]:
        """``({task: {prompt: (index, Example)}}, note)``; the note says why there are none."""
        path = Path(run_dir) / "config.yaml"
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return {}, ""
        with self._lock:
            hit = self._examples.get(path)
            if hit is not None and hit[0] == mtime:
                return hit[1], hit[2]
        by_task, note = _load_examples(path)
        with self._lock:
            self._examples[path] = (mtime, by_task, note)
        return by_task, note

    def verdict(self, example: Any, text: str) -> Any:
        from ..evals.audit import audit

        key = (example.prompt, text)
        with self._lock:
            hit = self._verdicts.get(key)
        if hit is None:
            hit = audit(example, text)
            with self._lock:
                if len(self._verdicts) > 200_000:
                    self._verdicts.clear()
                self._verdicts[key] = hit
        return hit


def _load_examples(path: Path) -> tuple[dict[str, dict[str, tuple[int, Any]]], str]:
    from ..config import ConfigError, load_config
    from ..data.sources import DataError, build_sources
    from ..evals.examples import task_examples

    try:
        cfg = load_config(path)
        if not cfg.evals.tasks:
            return {}, ""
        sources = build_sources(cfg)
        out = {}
        for task in cfg.evals.tasks:
            try:
                out[task.name] = {ex.prompt: (i, ex) for i, ex in enumerate(task_examples(task, sources))}
            except (ValueError, KeyError):
                continue  # not a procedural source: nothing to audit
        return out, ""
    except (ConfigError, DataError, OSError, ValueError) as exc:
        return {}, f"the procedural eval suite cannot be rebuilt from {path.name}: {exc}"


_CACHE = ReviewCache()


def _answer_rows(store: RunStore, where: str, args: list[Any]) -> tuple[list[ReviewItem], int]:
    """The wrong answers of the ``answer`` events matching ``where``, and how many were malformed."""
    items, bad = [], 0
    for s, raw in store.query(f"SELECT step, data FROM events WHERE kind = ? AND {where} ORDER BY rowid",
                              [ANSWER_KIND, *args]):
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        item = _answer_item(s, data)
        if item is not None:
            items.append(item)
        elif not (isinstance(data, dict) and data.get("correct") is True):
            bad += 1
    return items, bad


def _eval_items(store: RunStore, run_dir: Path, step: int | None, index: ReviewCache
                ) -> tuple[list[ReviewItem], str]:
    from ..evals.audit import SOUND

    by_task, note = index.examples(run_dir)
    items = []
    for task, examples in by_task.items():
        q = "SELECT step, prompt, text FROM samples WHERE kind = ?"
        args: list[Any] = [EVAL_SAMPLE_PREFIX + task]
        if step is not None:
            q, args = q + " AND step = ?", [*args, step]
        for s, prompt, text in store.query(q + " ORDER BY step, rowid", args):
            if prompt not in examples:
                continue
            i, ex = examples[prompt]
            v = index.verdict(ex, text)
            if v.kind == "correct":
                continue
            choices = list(ex.choices)
            stated = v.score.stated_answer
            items.append(ReviewItem(
                s, task, str(i), ex.question, choices,
                choices.index(ex.answer) if ex.answer in choices else None,
                choices.index(stated) if stated in choices else None,
                ex.answer, stated, text.strip(), "eval",
                "sound" if v.kind in SOUND else "unsound", f"audit: {v.kind}: {v.reason}",
                answered=stated is not None))
    return items, note


def wrong_answers(store: RunStore, run_dir: str | os.PathLike[str], *, step: int | None = None,
                  task: str | None = None, index: ReviewCache | None = None, unanswered: bool = False,
                  ) -> tuple[list[ReviewItem], list[str]]:
    """Every wrong answer of the run (or of one step / task) with its labels, and notes that say
    what could not be read. Answer events win over procedural generations of the same task and step.
    Unanswered questions are not wrong answers: ``unanswered=True`` lists them instead.
    The items may be shared with ``index``: read them, or change a copy (``dataclasses.replace``)."""
    run_dir = Path(run_dir)
    cache = index or _CACHE
    if step is None:
        items, bad = cache.answers(store, run_dir)
    else:
        items, bad = _answer_rows(store, "step = ?", [step])
    items = [i for i in items if task is None or i.task == task]
    notes = [f"{bad} answer event(s) not of the expected shape were skipped"] if bad else []
    covered = {(i.step, i.task) for i in items}
    procedural, note = _eval_items(store, run_dir, step, cache)
    items += [i for i in procedural if (i.step, i.task) not in covered]
    if note:
        notes.append(note)
    if task is not None:
        items = [i for i in items if i.task == task]
    seen, unique = set(), []
    for item in items:
        if item.key not in seen:
            seen.add(item.key)
            unique.append(item)
    human = read_labels(store, digests=True)
    unique = [replace(item, human=h[0]) if (h := human.get(item.key)) is not None and h[1] in (None, item.digest)
              else item for item in unique]
    unique.sort(key=lambda i: (i.step, i.task, _doc_order(i.doc_id)))
    apart = [i for i in unique if not i.answered]
    if unanswered:
        return apart, notes
    if apart:
        notes.append(f"{len(apart)} question(s) got no answer that could be read: listed apart as unanswered, "
                     "not counted as wrong answers")
    return [i for i in unique if i.answered], notes


def _doc_order(doc_id: str) -> tuple[int, int | str]:
    return (0, int(doc_id)) if doc_id.isdigit() else (1, doc_id)


# ------------------------------------------------------------------------------ labels
def has_labels_table(store: RunStore) -> bool:
    return store.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'labels'").fetchone() is not None


def read_labels(store: RunStore, source: str = HUMAN, *, digests: bool = False) -> dict[tuple[int, str, str], Any]:
    """``{(step, task, doc_id): label}`` (with ``digests``: ``(label, digest of the answer)``);
    empty for a store without the ``labels`` table."""
    return {(r.step, r.task, r.doc_id): (r.label, r.answer) if digests else r.label
            for r in store.labels(source) if r.label in LABELS}


def save_label(run_dir: str | os.PathLike[str], step: int, task: str, doc_id: str,
               label: str | None, *, digest: str | None = None) -> None:
    """Set (or, with ``None``, clear) the human label of one item, through the amend door.
    ``digest`` (:attr:`ReviewItem.digest`) ties the label to the answer it was given to."""
    from ..runstore.amend import amend

    if label is not None and label not in LABELS:
        raise ReviewError(f"label must be one of {', '.join(LABELS)} (or null to clear), got {label!r}")
    with amend(run_dir) as run:
        run.label(step, task, doc_id, label, answer=digest, source=HUMAN)


def review_summary(run_dir: str | os.PathLike[str], *, step: int | None = None,
                   task: str | None = None) -> tuple[list[ShareRow], list[str]]:
    """The share rows of a run directory (for the report and the CLI)."""
    with RunStore.reader(run_dir) as store:
        items, notes = wrong_answers(store, run_dir, step=step, task=task)
    return share_rows(items), notes
