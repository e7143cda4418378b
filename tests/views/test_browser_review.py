"""In headless Chromium (Debian's, never a downloaded one): the phase marks (one per switch with
shocks, a toggle per kind) and the wrong-answer review (mark an answer, the share updates).

Skipped, saying why, where chromium is not installed (`make test` installs it). Set
HANDHOLD_SCREENSHOT_DIR to keep the screenshot.
"""

from __future__ import annotations

import os
import shutil
import sys
import types
from pathlib import Path

import pytest
from live_server import serve  # tests/views/live_server.py

from handhold.runstore.db import RunStore
from review_runs import answers_run  # tests/views/review_runs.py

pytestmark = pytest.mark.slow

LOSS_SHOCKS = {"eval/loss/a": [10, 20], "eval/loss/b": [10], "train/loss/a": [10]}  # switches at 10 and 20
PHASES = {
    "metrics": {
        "eval/loss/a": {"changepoints": [10], "segments": [
            {"start": 0, "end": 10, "trend": "declining", "slope": -0.1},
            {"start": 10, "end": 30, "trend": "plateau", "slope": 0.0}],
            "shocks": [{"step": s, "peak": 3.0, "baseline": 2.0, "recovered_at": s + 4, "kind": "switch"}
                       for s in LOSS_SHOCKS["eval/loss/a"]]},
        **{k: {"changepoints": [], "segments": [], "shocks": [
            {"step": s, "peak": 3.0, "baseline": 2.0, "recovered_at": None, "kind": "switch"} for s in steps]}
           for k, steps in LOSS_SHOCKS.items() if k != "eval/loss/a"},
        "eval/family/reasoning": {"changepoints": [], "segments": [
            {"start": 0, "end": 30, "trend": "rising", "slope": 0.02}], "shocks": []}},
    "divergences": [{"a": "eval/family/reasoning", "b": "eval/family/standard", "start": 8, "end": 30, "gap": 0.4}],
    "grokking": [{"train": "train/loss/a", "val": "eval/loss/a", "memorized_at": 8, "generalized_at": 24,
                  "grokked": True}]}


@pytest.fixture
def server(tmp_path, monkeypatch):
    """The dashboard over one hand-built run, its phases from a known document (in-process)."""
    from handhold.views.dashboard import create_app

    fake = types.ModuleType("handhold.phases")
    fake.analyze_store = lambda store: PHASES
    monkeypatch.setitem(sys.modules, "handhold.phases", fake)
    runs = tmp_path / "runs"

    def metrics(step):
        m = {"train/loss/a": 3.0 - step / 20, "train/loss": 3.0 - step / 20}
        if step > 10:
            m["train/loss/b"] = 3.5 - step / 30
        if step % 2 == 0:
            m.update({"eval/loss/a": 2.5 - step / 30 + 0.5 * (step in (12, 22)), "eval/loss/b": 2.8 - step / 40,
                      "eval/family/reasoning": step / 50, "eval/family/standard": 0.02 * (step % 4 == 0),
                      "eval/arc_easy/acc": 0.25 + step / 100})
        return m

    run = answers_run(runs / "bench", metrics=metrics)
    with serve(create_app(runs, phases_process=False)) as url:
        yield url, run


DRAWN = """id => { const gd = document.querySelector(`.panel[data-panel="${id}"]`);
  return { shocks: [...gd.querySelectorAll('.annotation-text')].map(a => a.textContent).filter(t => /^[▼▾]/.test(t)),
           shapes: gd.querySelectorAll('.shapelayer path').length,
           divergence: gd.layout.shapes.filter(s => s.name === 'phase:divergence' && s.visible !== false).length }; }"""


def test_marks_toggles_and_review_flow(browser, server, tmp_path):
    url, run = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.goto(url + "/#/run/bench")
    page.wait_for_function("[...document.querySelectorAll('.panel')].length >= 3 && "
                           "[...document.querySelectorAll('.panel')].every(gd => gd._fullLayout)", timeout=30_000)
    page.wait_for_function("document.querySelectorAll('#mark-toggles input').length === 5", timeout=10_000)

    # the page opens on the family panel, then the task, then the loss per source
    ids = page.evaluate("[...document.querySelectorAll('.panel')].map(gd => gd.dataset.panel)")
    assert ids[:3] == ["family:eval/family", "family:eval/arc_easy", "loss"]

    # one shock mark per switch with shocks, a count on the burst
    switches_with_shocks = {s for steps in LOSS_SHOCKS.values() for s in steps}
    loss = page.evaluate(DRAWN, "loss")
    assert len(loss["shocks"]) == len(switches_with_shocks) == 2
    assert sorted(loss["shocks"]) == ["▼", "▼3"]
    assert page.evaluate(DRAWN, "family:eval/family")["shocks"] == []
    family = page.evaluate(DRAWN, "family:eval/family")
    assert family["divergence"] == 1

    # a toggle per kind hides and shows its marks
    page.locator("#mark-toggles input[data-kind=shock]").uncheck()
    page.wait_for_function(f"({DRAWN})('loss').shocks.length === 0")
    page.locator("#mark-toggles input[data-kind=divergence]").uncheck()
    page.wait_for_function(f"({DRAWN})('family:eval/family').divergence === 0")
    assert page.evaluate(DRAWN, "family:eval/family")["shapes"] < family["shapes"]
    page.locator("#mark-toggles input[data-kind=shock]").check()
    page.locator("#mark-toggles input[data-kind=divergence]").check()
    page.wait_for_function(f"({DRAWN})('loss').shocks.length === 2 && ({DRAWN})('family:eval/family').divergence === 1")
    assert page.evaluate(DRAWN, "family:eval/family")["shapes"] == family["shapes"]

    # the review: the latest step first; step 10 lists 5 wrong answers; labelling moves the share
    page.locator("#review-items .answer").first.wait_for()
    assert page.locator("#review-step").input_value() == "20"
    page.locator("#review-step").select_option("10")
    page.wait_for_function("document.querySelectorAll('#review-items .answer').length === 5")
    share = lambda: page.locator("#review-share").get_attribute("data-share")
    assert share() == "0.5000"  # 2 sound of 4 labelled (automatic); one undecided
    undecided = page.locator("#review-items .answer[data-task=arc_easy][data-doc='4']")
    assert undecided.get_attribute("data-label") == ""
    assert "a cat" in undecided.locator("li.gold").inner_text()
    undecided.locator("button[data-label=sound]").click()
    page.wait_for_function("document.querySelector('#review-share').dataset.share === '0.6000'")
    assert undecided.get_attribute("data-source") == "human"
    assert "60% sound" in page.locator("#review-share").inner_text()
    auto = page.locator("#review-items .answer[data-task=arc_easy][data-doc='1']")
    assert auto.get_attribute("data-source") == "auto"
    auto.locator("button[data-label=unsound]").click()  # a person overrides the automatic "sound"
    page.wait_for_function("document.querySelector('#review-share').dataset.share === '0.4000'")
    with RunStore.reader(run) as store:
        labels = store.query("SELECT step, task, doc_id, label, source FROM labels ORDER BY doc_id").fetchall()
    assert labels == [(10, "arc_easy", "1", "unsound", "human"), (10, "arc_easy", "4", "sound", "human")]

    page.evaluate("window.scrollTo(0, 0)")
    shot = tmp_path / "review_marks.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    if os.environ.get("HANDHOLD_SCREENSHOT_DIR"):  # to look at it after the run
        shutil.copy(shot, Path(os.environ["HANDHOLD_SCREENSHOT_DIR"]) / shot.name)
    page.close()
    assert problems == []
