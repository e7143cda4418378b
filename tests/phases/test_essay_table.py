"""The essay's quick-reference table answered from the data, on synthetic staged runs where each
answer is known: every row holds; every row fails; and a run too small to tell (16 documents)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from handhold.doc_scores import DocScores
from handhold.phases.analyze import analyze

STAGES = [{"stage": "general", "start": 0, "end": 100}, {"stage": "physics", "start": 100, "end": 200},
          {"stage": "general-again", "start": 200, "end": 300}]
EVAL_STEPS = list(range(0, 301, 20))


def _family_docs(rng, n, curves, eval_steps=EVAL_STEPS):
    """Per-document 0/1 scores of one task per family, their accuracy following ``curves[family]``
    (a function of the step); each document keeps its own difficulty across evals."""
    z = {f: rng.standard_normal(n) for f in curves}
    scale = np.sqrt(1 + 0.5 ** 2)
    events = []
    for step in eval_steps:
        tasks = {}
        for fam, curve in curves.items():
            correct = z[fam] + 0.5 * rng.standard_normal(n) > norm.ppf(1 - curve(step)) * scale
            tasks[f"task_{fam}"] = {"family": fam, "ids": [str(i) for i in range(n)],
                                    "scores": {"acc": correct.astype(float).tolist()},
                                    "members": [["acc", 0.5, "mean"]]}
        events.append(DocScores(step, {"suite": {"name": "s", "digest": "d"}, "prefix": "eval/", "tasks": tasks}))
    return events


def _run(rng, *, n, reasoning, standard, loss, ready, eval_steps=EVAL_STEPS):
    docs = _family_docs(rng, n, {"reasoning": reasoning, "standard": standard}, eval_steps)
    series, by_key = {}, {}
    for fam in ("reasoning", "standard"):
        key = f"eval/family/{fam}"
        series[key] = ([d.step for d in docs], [d.value(key) for d in docs])
        by_key[key] = docs
    steps = np.arange(0, 301, 5)
    series["eval/loss/general"] = (steps, np.array([loss(s) for s in steps]) + rng.normal(0, 0.005, len(steps)))
    probe_steps = np.arange(10, 301, 10)
    series["probe/self_report/readiness"] = (probe_steps, np.array([ready(s) for s in probe_steps])
                                             + rng.normal(0, 0.05, len(probe_steps)))
    doc = analyze(series, stage_switches=[100, 200], docs=by_key, stages=STAGES)
    return {r["row"]: r for r in doc["essay"]}, doc


def plateau_after(rise_from, rise_to, start, top_at):
    def f(s):
        if s <= start:
            return rise_from
        return rise_from + (rise_to - rise_from) * min(1.0, (s - start) / (top_at - start))
    return f


def shocked_loss(s):
    if s <= 200:
        return 2.0 - 0.5 * min(s, 100) / 100
    return 1.5 + 0.8 * max(0.0, 1 - (s - 200) / 30)  # up at the switch back, recovered in ~30 steps


def test_every_row_holds_on_the_essays_arc():
    reasoning = lambda s: (0.55 if s <= 100 else 0.55 + 0.25 * min(1, (s - 100) / 40) if s <= 200
                           else 0.8 - 0.25 + 0.2 * min(1, (s - 200) / 60))
    rows, doc = _run(np.random.default_rng(1), n=500, reasoning=reasoning, standard=lambda s: 0.6,
                     loss=shocked_loss, ready=lambda s: -0.4 if s <= 100 else 0.0 if s <= 200 else 0.4)
    assert {r: rows[r]["verdict"] for r in rows} == {"mastery": "holds", "shock": "holds", "families": "holds",
                                                     "self_report": "holds"}, rows
    assert "steps)" in rows["shock"]["figures"] and "paired 95%" in rows["families"]["figures"]
    # the per-stage family table: start -> end, the paired interval, the documents, documents needed
    last = [c for c in doc["benchmark_changes"] if c["key"] == "eval/family/standard" and c["start"] == 200]
    assert last and last[0]["n_docs"] == 500 and last[0]["reading"].startswith("within noise (±")
    assert last[0]["docs_needed"] > 0


def test_rows_that_do_not_hold():
    rising = lambda s: 0.5 + 0.3 * s / 300  # rising all along, in both families
    rows, _ = _run(np.random.default_rng(2), n=500, reasoning=rising, standard=rising,
                   loss=lambda s: 2.0 - 0.5 * s / 300, ready=lambda s: 0.4 - 0.8 * s / 300)
    assert rows["mastery"]["verdict"] == "does not hold"  # still rising at the focused stage's end
    assert rows["shock"]["verdict"] == "does not hold"  # no shock at the switch back
    assert rows["families"]["verdict"] == "does not hold"  # the standard family rose too
    assert rows["self_report"]["verdict"] == "does not hold"  # it moved toward overwhelmed


def test_sixteen_documents_cannot_tell():
    small = lambda s: 0.6 + 0.04 * (s > 200)  # a 4-point move of 16 documents
    rows, _ = _run(np.random.default_rng(3), n=16, reasoning=small, standard=lambda s: 0.6,
                   loss=shocked_loss, ready=lambda s: 0.0)
    assert rows["families"]["verdict"] == "cannot tell (noise)", rows["families"]
    assert rows["mastery"]["verdict"] == "cannot tell (noise)", rows["mastery"]
    assert rows["self_report"]["verdict"] == "cannot tell (noise)"


@pytest.mark.parametrize("eval_steps", [[0, 100, 200, 300], [0, 100, 200, 280, 300]])
def test_benchmarks_only_at_stage_ends_still_answer_from_the_loss_and_the_switch(eval_steps):
    """A CPU-sized run scores benchmarks at step 0 and at each stage end only: the focused stage
    has too few family evals, so mastery is read on its held-out loss (and says why); the family
    change after the switch back is read from the eval at the switch itself (also when the first
    eval after it falls in the stage's second half: 280 to 300 is no reading of the stage)."""
    def mastering_loss(s):  # falls through the focused stage, then flat: mastery on the loss
        return 2.0 - 0.6 * min(1.0, max(0.0, s - 100) / 40)
    reasoning = lambda s: 0.55 if s <= 200 else 0.8
    rows, _ = _run(np.random.default_rng(4), n=500, reasoning=reasoning, standard=lambda s: 0.6,
                   loss=mastering_loss, ready=lambda s: 0.0, eval_steps=eval_steps)
    assert rows["mastery"]["verdict"] == "holds", rows["mastery"]
    assert rows["mastery"]["metric"] == "eval/loss/general"
    assert rows["mastery"]["figures"].startswith("2 eval(s) of eval/family/reasoning in the stage (3 needed)")
    assert rows["families"]["verdict"] == "holds", rows["families"]
    assert rows["families"]["figures"].startswith("from the eval at the switch (step 200)")


def test_two_stages_have_no_switch_back_and_no_essay_table():
    """general -> physics and nothing after: the table's rows (the focused stage, the switch back)
    do not apply, so the section is empty rather than reading the first stage as the focused one."""
    steps = np.arange(0, 41, 5)
    series = {"eval/loss/general": (steps, 3.0 - steps / 40), "eval/loss/physics": (steps, 2.5 - steps / 80)}
    stages = [{"stage": "general", "start": 0, "end": 20}, {"stage": "physics", "start": 20, "end": 40}]
    assert analyze(series, stage_switches=[20], stages=stages)["essay"] == []
    three = [*stages[:1], {"stage": "physics", "start": 20, "end": 30}, {"stage": "general", "start": 30, "end": 40}]
    assert len(analyze(series, stage_switches=[20, 30], stages=three)["essay"]) == 4
