"""End to end in headless Chromium: a real short training run, served by ``create_app``, opened
by Playwright driving Debian's chromium (never a downloaded browser).

`make test` installs chromium (apt-get, as root); the test is skipped, saying why, only where it
is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from live_server import serve  # tests/views/live_server.py

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path):
    """Serve ``tmp_path/runs`` on a free loopback port in a thread; yields (base URL, runs dir)."""
    from handhold.views.dashboard import create_app

    runs = tmp_path / "runs"
    runs.mkdir()
    with serve(create_app(runs)) as url:
        yield url, runs


def test_dashboard_end_to_end(browser, server, tiny_config, tmp_path, monkeypatch):
    import handhold
    from handhold.config import load_config
    from handhold.runstore.db import RunStore
    from handhold.train.runner import start

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    url, runs = server
    run = runs / "tiny"
    state = start(load_config(tiny_config()), run, progress=False)
    assert state.status == "finished"
    with handhold.amend(run) as later:  # probe generations at the steps the probes callback writes them
        for step in (8, 16, 24):
            later.sample("probe", "How is your training going?", f"learning, step {step}", step=step)
            later.sample("probe", "F = m * a; m = 2, a = 3; F =", f"{step % 5}", step=step)

    shutil.copytree(run, runs / "tiny-copy")  # a second run to overlay
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)

    # the runs list
    page.goto(url + "/")
    row = page.locator("tr[data-run=tiny]")
    row.wait_for()
    assert "finished" in row.inner_text() and "general › physics" in row.inner_text()

    # the run page: every panel drawn, the two stages as bands on every subplot
    row.locator("a").click()
    from urllib.request import urlopen

    with urlopen(url + "/api/runs/tiny/panels") as res:
        expected = [p["id"] for p in json.load(res)["panels"]]
    assert expected[0] == "loss" and "family:train" in expected and len(expected) >= 3
    page.wait_for_function("n => [...document.querySelectorAll('.panel')].filter(gd => gd._fullLayout)"
                           ".length === n", arg=len(expected), timeout=20_000)
    panels = page.evaluate("""() => [...document.querySelectorAll('.panel')].map(gd => ({
        id: gd.dataset.panel, traces: gd.data.length,
        subplots: Object.keys(gd._fullLayout).filter(k => /^yaxis\\d*$/.test(k)).length,
        bands: gd.layout.shapes.filter(s => s.name.startsWith('stage:')).length,
        drawn: gd.querySelectorAll('.layer-below .shapelayer path').length,
        labels: [...gd.querySelectorAll('.annotation-text')].map(a => a.textContent)}))""")
    assert [p["id"] for p in panels] == expected
    for p in panels:
        assert p["traces"] >= 1
        assert p["bands"] == 2 * p["subplots"] and p["drawn"] >= p["bands"], p
    assert {"general", "physics"} <= set(panels[0]["labels"])
    assert page.locator("#run-title").inner_text() == "tiny — finished, step 24"

    # smoothing: the slider changes the drawn train curve, not the held-out one
    before = page.evaluate("document.querySelector('.panel').data.find(t => t.name === 'general · train').y")
    page.locator("#smoothing").fill("0")
    after = page.evaluate("document.querySelector('.panel').data.find(t => t.name === 'general · train').y")
    assert before != after and len(before) == len(after) == 24

    # another run overlaid, dashed, on the same panels
    page.locator("#compare summary").click()
    page.locator("#compare-list input[value='tiny-copy']").check()
    page.wait_for_function("""() => document.querySelector('.panel').data
        .some(t => t.name === 'tiny-copy · general · eval' && t.line.dash === 'dash')""")
    page.locator("#compare summary").click()

    # the probe timeline, searchable
    page.locator("#samples details").first.wait_for()
    assert page.locator("#samples details").count() == 2
    page.locator("#sample-search").fill("learning, step 16")
    page.wait_for_function("document.querySelectorAll('#samples details').length === 1")
    assert page.locator("#samples mark").inner_text() == "learning, step 16"
    page.locator("#sample-search").fill("")

    # one chat message with the latest checkpoint; saved to the run
    page.locator("#chat-step").select_option("24")
    page.locator("#chat-input").fill("What is 2 + 3?")
    page.locator("#chat-input").press("Enter")
    page.locator(".msg.model").wait_for(timeout=60_000)  # the reply streams into it
    saved = "document.querySelector('#chat-status').textContent.includes('saved to the run')"
    page.wait_for_function(saved, timeout=60_000)
    assert page.locator(".msg.you").inner_text().endswith("What is 2 + 3?")
    with RunStore.reader(run) as store:
        chats = list(store.samples("chat"))
    assert [(c.step, c.prompt) for c in chats] == [(24, "What is 2 + 3?")]
    # side by side: the same message to a second checkpoint, one column each
    page.locator("#chat-step2").select_option("20")
    page.locator("#chat-input").fill("Hi")
    page.locator("#chat-input").press("Enter")
    page.wait_for_function("document.querySelector('#chat-status').textContent.includes('step 20:')",
                           timeout=60_000)
    assert page.locator(".pair .msg.model .who").all_inner_texts() == ["step 24", "step 20"]
    with RunStore.reader(run) as store:
        assert sorted((c.step, c.prompt) for c in store.samples("chat")) == [
            (20, "Hi"), (24, "Hi"), (24, "What is 2 + 3?")]

    # live: rows a writer adds appear within ~2 s, without a reload
    page.evaluate("window.__same_page = true")
    with handhold.init(run, resume=True) as live:
        for step in range(25, 31):
            live.log({"train/loss/general": 1.0, "eval/loss/general": 1.5}, step=step)
    t0 = time.monotonic()
    page.wait_for_function("document.querySelector('#run-title').dataset.lastStep === '30'", timeout=5_000)
    page.wait_for_function("""() => document.querySelector('.panel').data
        .find(t => t.name === 'general · eval').x.includes(30)""", timeout=5_000)
    waited = time.monotonic() - t0
    assert page.evaluate("window.__same_page === true")
    assert waited < 4.0, f"the page took {waited:.1f} s to show new rows"

    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    if os.environ.get("HANDHOLD_SCREENSHOT_DIR"):  # to look at it after the run
        shutil.copy(shot, Path(os.environ["HANDHOLD_SCREENSHOT_DIR"]) / shot.name)
    page.close()
    assert problems == [], "\n".join(problems)
