"""The wrong-answer review: items from answer events and the procedural suite, labels, the
share of sound reasoning with its Wilson interval, the report section and `handhold review`."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import handhold
from handhold.cli import app as cli_app
from handhold.runstore.db import RunStore
from handhold.views.review import (has_labels_table, read_labels, save_label, share_rows, wilson_interval,
                                   wrong_answers)

from handhold.summary import StageRow
from review_runs import answer, answers_run, without_labels_table  # tests/views/review_runs.py

ROWS_10_20 = [StageRow(name=n, index=i, start=a, end=b, steps=b - a, tokens=None, end_reason="budget")
              for i, (n, a, b) in enumerate([("general", 0, 10), ("physics", 10, 20)])]


# ------------------------------------------------------------------------------- Wilson
@pytest.mark.parametrize("k, n, low, high", [
    # p = k/n, z = 1.959964 (z² = 3.841459); centre = (p + z²/2n) / (1 + z²/n),
    # half = z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n)
    (2, 3, 0.2077, 0.9385),   # centre 1.306910/2.280486 = 0.573084, half 0.833338/2.280486 = 0.365421
    (3, 4, 0.3006, 0.9544),   # centre 1.230182/1.960365 = 0.627527, half 0.640816/1.960365 = 0.326886
    (2, 4, 0.1500, 0.8500),   # centre 0.5, half 1.959964·0.350033/1.960365 = 0.349962
    (0, 10, 0.0, 0.2775),     # k = 0: high = z²/(n + z²) = 3.841459/13.841459
    (10, 10, 0.7225, 1.0),    # k = n: low = n/(n + z²) = 10/13.841459
])
def test_wilson_interval_matches_hand_computed_values(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=6e-5) and hi == pytest.approx(high, abs=6e-5)


def test_wilson_interval_agrees_with_scipy():
    from scipy.stats import binomtest

    for n in (1, 2, 7, 30, 500):
        for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
            ci = binomtest(k, n).proportion_ci(confidence_level=0.9, method="wilson")
            assert wilson_interval(k, n, confidence=0.9) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_wilson_interval_edges():
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError, match="0 <= k <= n"):
        wilson_interval(5, 4)


# ------------------------------------------------------------------------ answer events
def test_wrong_answers_from_answer_events(tmp_path):
    run = answers_run(tmp_path / "r")
    with RunStore.reader(run) as store:
        items, notes = wrong_answers(store, run)
        assert has_labels_table(store) and read_labels(store) == {}  # the table is there, empty
    assert [(i.step, i.task, i.doc_id) for i in items] == [
        (10, "arc_easy", "1"), (10, "arc_easy", "2"), (10, "arc_easy", "3"), (10, "arc_easy", "4"),
        (10, "boolq", "0"), (20, "arc_easy", "0")]  # the right answer (doc 0 at step 10) is not listed
    assert notes == ["1 answer event(s) not of the expected shape were skipped"]
    one = items[1]
    assert (one.gold_text, one.choice_text, one.origin) == ("a cat", "a bird", "answer")
    assert [i.auto for i in items] == ["sound", "sound", "unsound", None, "unsound", "sound"]
    assert items[3].choice == 2 and items[3].choice_text == "a bird" and items[3].label is None
    assert items[2].auto_reason.startswith("inconsistent") and items[0].auto_reason.startswith("consistent")

    rows = {(r.step, r.task): r for r in share_rows(items)}
    arc = rows[(10, "arc_easy")]
    assert (arc.wrong, arc.sound, arc.unsound, arc.unlabelled, arc.human) == (4, 2, 1, 1, 0)
    assert arc.share == pytest.approx(2 / 3) and (arc.low, arc.high) == pytest.approx((0.2077, 0.9385), abs=6e-5)
    both = rows[(10, "all")]  # two tasks at step 10: an "all" row too
    assert (both.wrong, both.sound, both.unsound) == (5, 2, 2)
    assert (20, "all") not in rows and rows[(20, "arc_easy")].share == 1.0
    assert arc.describe() == "67% sound (95% CI 21–94%) of 3 labelled wrong answers (0 by hand); 1 unlabelled"


def test_an_inconsistent_answer_whose_reasoning_concluded_the_gold_is_a_slip(tmp_path):
    with handhold.init(tmp_path / "r") as run:
        run.event("answer", step=5, **{**answer("arc_easy", 1, consistent=False), "conclusion": 0})  # gold
        run.event("answer", step=5, **{**answer("arc_easy", 2, consistent=False), "conclusion": 2})
    with RunStore.reader(tmp_path / "r") as store:
        items, notes = wrong_answers(store, tmp_path / "r")
    assert [(i.doc_id, i.auto) for i in items] == [("1", "sound"), ("2", "unsound")] and notes == []
    assert items[0].auto_reason.startswith("a slip")


def test_a_human_label_overrides_the_automatic_one_and_can_be_cleared(tmp_path):
    run = answers_run(tmp_path / "r")

    def arc_row():
        with RunStore.reader(run) as store:
            items, _ = wrong_answers(store, run, step=10, task="arc_easy")
        return items, share_rows(items)[0]

    save_label(run, 10, "arc_easy", "4", "sound")  # the undecided one: 3 sound of 4
    items, row = arc_row()
    assert (row.sound, row.unsound, row.unlabelled, row.human) == (3, 1, 0, 1)
    assert (row.low, row.high) == pytest.approx((0.3006, 0.9544), abs=6e-5)
    save_label(run, 10, "arc_easy", "1", "unsound")  # overrides an automatic "sound": 2 of 4
    save_label(run, 10, "arc_easy", "1", "unsound")  # the same label again: still one row
    items, row = arc_row()
    assert items[0].to_dict()["label"] == "unsound" and items[0].to_dict()["label_source"] == "human"
    assert (row.sound, row.unsound, row.human) == (2, 2, 2) and row.share == 0.5
    assert (row.low, row.high) == pytest.approx((0.1500, 0.8500), abs=6e-5)
    save_label(run, 10, "arc_easy", "1", None)  # cleared: the automatic label counts again
    items, row = arc_row()
    assert items[0].human is None and items[0].label == "sound" and items[0].to_dict()["label_source"] == "auto"
    with RunStore.reader(run) as store:
        assert [(r.step, r.task, r.doc_id, r.label, r.source) for r in store.labels()] == [
            (10, "arc_easy", "4", "sound", "human")]
    with pytest.raises(ValueError, match="label must be one of sound, unsound"):
        save_label(run, 10, "arc_easy", "1", "good")


def test_a_label_does_not_stick_to_another_answer_under_the_same_key(tmp_path):
    """A resumed run writes the steps after its checkpoint again: a label given to the first
    answer must not count for the new one (same step, task and document)."""
    run = answers_run(tmp_path / "r")
    with RunStore.reader(run) as store:
        (old,) = wrong_answers(store, run, step=20)[0]
    save_label(run, 20, "arc_easy", "0", "unsound", digest=old.digest)
    with handhold.init(run, resume=True, resume_from=19) as resumed:  # rows after step 19 go
        resumed.event("answer", step=20, **answer("arc_easy", 0, choice=2))  # a different answer now
    with RunStore.reader(run) as store:
        (new,) = wrong_answers(store, run, step=20)[0]
        assert read_labels(store) == {(20, "arc_easy", "0"): "unsound"}  # still stored
    assert new.digest != old.digest and new.human is None and new.label == "sound"


@pytest.mark.parametrize("legacy_table", [False, True], ids=["no table", "table without answer"])
def test_a_store_written_before_labels_joined_the_schema_reads_and_takes_labels(tmp_path, legacy_table):
    """Runs written by an older handhold have no labels table, or the first review's one without
    the ``answer`` column: they read as unlabelled, and a label is saved (the table made whole)."""
    run = without_labels_table(answers_run(tmp_path / "r"), legacy_table=legacy_table)
    with RunStore.reader(run) as store:
        assert has_labels_table(store) is legacy_table and read_labels(store) == {}
        assert store.labels() == []
        items, _ = wrong_answers(store, run, step=10, task="arc_easy")
    assert [i.human for i in items] == [None] * 4
    save_label(run, 10, "arc_easy", "4", "sound", digest=items[3].digest)
    with RunStore.reader(run) as store:
        assert read_labels(store, digests=True) == {(10, "arc_easy", "4"): ("sound", items[3].digest)}
        items, _ = wrong_answers(store, run, step=10, task="arc_easy")
    assert share_rows(items)[0].human == 1 and items[3].label == "sound"


def test_share_figure_draws_each_task_with_its_interval(tmp_path):
    from handhold.views.review import share_figure

    run = answers_run(tmp_path / "r")
    with RunStore.reader(run) as store:
        items, _ = wrong_answers(store, run)
    fig = share_figure(share_rows(items), ROWS_10_20)
    assert [t["name"] for t in fig["data"]] == ["arc_easy", "boolq", "all"]
    arc = fig["data"][0]
    assert arc["x"] == [10, 20] and arc["y"] == pytest.approx([2 / 3, 1.0])
    assert arc["error_y"]["array"][0] == pytest.approx(0.9385 - 2 / 3, abs=6e-5)
    assert arc["error_y"]["arrayminus"][0] == pytest.approx(2 / 3 - 0.2077, abs=6e-5)
    assert fig["data"][2]["line"]["dash"] == "dash" and fig["data"][2]["x"] == [10]
    bands = [s for s in fig["layout"]["shapes"] if s["name"].startswith("stage:")]
    assert [(b["x0"], b["x1"]) for b in bands] == [(0, 10), (10, 20)]


# --------------------------------------------------------------- the procedural eval suite
def test_procedural_eval_generations_are_reviewable_with_the_audit_as_prefill(tmp_path, tiny_config):
    from handhold.config import load_config
    from handhold.data.sources import build_sources
    from handhold.evals.audit import audit
    from handhold.evals.examples import task_examples

    run = tmp_path / "demo"
    run.mkdir()
    evals = {"tasks": [{"name": "general", "source": "general", "examples": 4, "metrics": ["answer_acc"]}]}
    (run / "config.yaml").write_text(tiny_config(evals=evals).read_text())
    examples = task_examples(load_config(run / "config.yaml").evals.tasks[0],
                             build_sources(load_config(run / "config.yaml")))
    right, slip, junk = examples[0], examples[1], examples[2]
    wrong_answer = "yes" if slip.answer == "no" else "no"
    texts = {right.prompt: right.solution,  # correct: not listed
             slip.prompt: slip.solution.rsplit("Answer:", 1)[0] + f"Answer: {wrong_answer}",  # valid chain, wrong copy
             junk.prompt: " = = 7\nAnswer: 7"}  # no parseable reasoning
    with handhold.init(run) as live:
        for prompt, text in texts.items():
            live.sample("eval/general", prompt, text, step=8)
        live.sample("eval/general", "Q: not an eval prompt\nA:", "x", step=8)  # ignored
    with RunStore.reader(run) as store:
        items, notes = wrong_answers(store, run)
    assert notes == []
    assert [(i.step, i.task, i.doc_id, i.origin) for i in items] == [(8, "general", "1", "eval"),
                                                                       (8, "general", "2", "eval")]
    assert [i.auto for i in items] == ["sound", "unsound"]
    assert items[0].auto_reason == f"audit: sound_slip: {audit(slip, texts[slip.prompt]).reason}"
    assert items[0].choices == list(slip.choices) and items[0].gold == list(slip.choices).index(slip.answer)
    assert items[0].choice_text == wrong_answer and items[1].gold_text == junk.answer
    save_label(run, 8, "general", "2", "sound")  # a person disagrees with the audit
    with RunStore.reader(run) as store:
        items, _ = wrong_answers(store, run)
    assert share_rows(items)[0].sound == 2

    (run / "config.yaml").write_text("stages: [not, a, stage]\n")  # the suite cannot be rebuilt
    with RunStore.reader(run) as store:
        items, notes = wrong_answers(store, run)
    assert items == [] and "cannot be rebuilt from config.yaml" in notes[0]


# ----------------------------------------------------------------------- report and CLI
def test_report_has_the_review_and_opens_on_the_family_panel(tmp_path):
    from handhold.views.report import build_figures, write_report

    run = answers_run(tmp_path / "r")
    save_label(run, 10, "arc_easy", "4", "unsound")
    text = write_report(run).read_text(encoding="utf-8")
    assert "<h2>Wrong-answer review</h2>" in text
    # step 10, arc_easy: 2 sound of 4 labelled (1 by hand): 50% (15–85%)
    assert "<b>50%</b> <span class=range>(15–85%)</span> <span class=range>2/4; 1 by hand</span>" in text
    assert "<b>100%</b> <span class=range>(21–100%)</span> <span class=range>1/1</span>" in text  # step 20
    assert text.index("<h2>Wrong-answer review</h2>") < text.index("<h2>Probe timeline</h2>")
    assert text.count("sound reasoning among wrong answers (Wilson 95% interval)") == 1  # its figure
    with RunStore.reader(run) as store:
        figs = build_figures(store)
    assert figs[0].layout.title.text.startswith("reasoning vs standard")
    assert [t.name for t in figs[0].data] == ["reasoning", "standard"]
    assert figs[1].layout.title.text.startswith("loss per source")


def test_report_without_answers_has_no_review_section(tmp_path):
    from handhold.views.report import write_report

    with handhold.init(tmp_path / "r") as run:
        for step in range(1, 9):
            run.log({"train/loss": 1.0 / step}, step=step)
    assert "Wrong-answer review" not in write_report(tmp_path / "r").read_text(encoding="utf-8")


def test_cli_review(tmp_path):
    run = answers_run(tmp_path / "r")
    res = CliRunner().invoke(cli_app, ["review", str(run), "--step", "10"])
    assert res.exit_code == 0, res.output
    lines = [ln.split() for ln in res.output.splitlines()]
    assert ["10", "arc_easy", "4", "2", "1", "1", "0", "66.7%", "20.8–93.9%"] in lines
    assert ["10", "all", "5", "2", "2", "1", "0", "50.0%", "15.0–85.0%"] in lines
    assert "skipped" in res.output  # the malformed event is reported, not hidden
    res = CliRunner().invoke(cli_app, ["review", str(run), "--step", "11"])
    assert res.exit_code == 1 and "no wrong answers to review at step 11" in res.output
    res = CliRunner().invoke(cli_app, ["review", str(tmp_path / "nowhere")])
    assert res.exit_code == 2 and "no run store here" in res.output


# ------------------------------------------------------------------------ no torch in a view
def test_the_review_never_imports_torch(tmp_path, tiny_config):
    """The review rebuilds the procedural suite's examples and audits generations without loading
    torch, at import and at call time: run in a fresh interpreter, it leaves torch unloaded."""
    import subprocess
    import sys

    from handhold.config import load_config
    from handhold.data.sources import build_sources
    from handhold.evals.examples import task_examples

    run = answers_run(tmp_path / "r")
    evals = {"tasks": [{"name": "general", "source": "general", "examples": 3, "metrics": ["answer_acc"]}]}
    (run / "config.yaml").write_text(tiny_config(evals=evals).read_text())
    cfg = load_config(run / "config.yaml")
    (example, *_) = task_examples(cfg.evals.tasks[0], build_sources(cfg))
    with handhold.amend(run) as later:
        later.sample("eval/general", example.prompt, " = = 7\nAnswer: 7", step=30)
    script = """
import sys
from pathlib import Path
from handhold.runstore.db import RunStore
from handhold.views import review
run = Path(sys.argv[1])
with RunStore.reader(run) as store:
    items, notes = review.wrong_answers(store, run)
assert any(i.origin == "eval" for i in items) and any(i.origin == "answer" for i in items), items
review.save_label(run, 30, "general", "0", "sound", digest=items[-1].digest)
rows, _ = review.review_summary(run)
review.share_figure(rows)
print("torch" in sys.modules, sorted({m.split(".")[0] for m in sys.modules} & {"torch", "transformers"}))
"""
    out = subprocess.run([sys.executable, "-c", script, str(run)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "False", out.stdout
