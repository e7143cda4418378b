"""The comparison in headless Chromium: a curriculum run and its baseline picked from the runs
list (checkboxes, filter), overlaid on one chart, one curve and one stage strip per run, by step
and by tokens; then the offline page ``handhold report A B -o`` writes, drawn the same. A
screenshot of each is kept in the test's tmp dir (and copied to $HANDHOLD_SCREENSHOT_DIR)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from live_server import serve  # tests/views/live_server.py

from compare_runs import write_pair  # tests/views/compare_runs.py

pytestmark = pytest.mark.slow

FIGURE = """() => {
  const gd = document.getElementById('cmp-figure');
  if (!gd || !gd._fullLayout) return null;
  return {traces: gd.data.map(t => ({name: t.name, color: t.line.color, n: t.x.length, x: t.x.slice(-1)[0]})),
          strips: gd.layout.shapes.filter(s => s.name.startsWith('strip:')).map(s => s.name),
          drawn: gd.querySelectorAll('.shapelayer path').length,
          xtitle: gd._fullLayout.xaxis.title.text};
}"""


@pytest.fixture
def server(tmp_path):
    from handhold.views.dashboard import create_app

    runs = tmp_path / "runs"
    write_pair(runs)
    with serve(create_app(runs)) as url:
        yield url, runs


def _keep(shot: Path) -> None:
    assert shot.stat().st_size > 30_000
    if os.environ.get("HANDHOLD_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["HANDHOLD_SCREENSHOT_DIR"]) / shot.name)


def test_compare_in_the_dashboard_and_offline(browser, server, tmp_path):
    from handhold.views.compare import run_colors

    url, runs = server
    colors = run_colors(["curriculum", "baseline"])
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)

    # the runs list: filter, tick both, compare
    page.goto(url + "/")
    page.locator("tr[data-run=curriculum]").wait_for()
    page.locator("#runs-filter").fill("curr")
    assert page.locator("tr[data-run=baseline]").is_hidden()
    page.locator("tr[data-run=curriculum] input.pick").check()
    page.locator("#runs-filter").fill("")
    page.wait_for_timeout(1700)  # a refresh of the list keeps the tick
    assert page.locator("tr[data-run=curriculum] input.pick").is_checked()
    page.locator("tr[data-run=baseline] input.pick").check()
    assert page.locator("#compare-go").inner_text() == "compare selected (2)"
    shot = tmp_path / "compare-runs-list.png"
    page.screenshot(path=str(shot))
    if os.environ.get("HANDHOLD_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["HANDHOLD_SCREENSHOT_DIR"]) / shot.name)
    page.locator("#compare-go").click()

    # two runs drawn, one curve each in its own colour, one stage strip per run
    page.wait_for_function(f"({FIGURE})() && ({FIGURE})().traces.length === 2", timeout=20_000)
    fig = page.evaluate(FIGURE)
    assert {t["name"]: t["color"] for t in fig["traces"]} == colors
    assert all(t["n"] == 8 for t in fig["traces"])  # eval/loss/physics every 5 steps of 40
    assert sorted(fig["strips"]) == ["strip:baseline:mixed", "strip:curriculum:general", "strip:curriculum:physics"]
    assert fig["drawn"] >= 3 and fig["xtitle"] == "step"
    assert page.locator("#cmp-key").input_value() == "eval/loss/physics"
    assert page.locator("#cmp-config-table tr[data-key='optim.lr']").inner_text().split("\t")[1:] == ["0.003", "0.001"]
    arc = page.locator("#cmp-finals-table tr[data-key='eval/arc_easy/acc']").inner_text()
    assert "0.75 (95% CI 0.579–0.867, n=32; step 40)" in arc
    assert "n/a" in page.locator("#cmp-finals-table tr[data-key='eval/boolq/acc']").inner_text()

    # aligned by tokens: the curriculum saw 768 tokens a step, the baseline 512
    page.locator("#cmp-axis").select_option("tokens")
    page.wait_for_function(f"({FIGURE})().xtitle === 'tokens'")
    last = {t["name"]: t["x"] for t in page.evaluate(FIGURE)["traces"]}
    assert last == {"curriculum": 768 * 40, "baseline": 512 * 40}
    # another metric: asked of the server, the choice kept in the URL
    page.locator("#cmp-key").select_option("train/loss")
    page.wait_for_function(f"({FIGURE})().traces.every(t => t.n === 40)")
    assert "key=train%2Floss" in page.url and "x=tokens" in page.url
    page.locator("#cmp-axis").select_option("step")
    page.locator("#cmp-key").select_option("eval/loss/physics")
    page.wait_for_function(f"({FIGURE})().traces.every(t => t.n === 8) && ({FIGURE})().xtitle === 'step'")
    # live: a row the baseline's writer adds appears without a reload
    import handhold

    with handhold.init(runs / "baseline", resume=True) as live:
        live.log({"eval/loss/physics": 1.5}, step=45)
    page.wait_for_function(f"({FIGURE})().traces.find(t => t.name === 'baseline').n === 9", timeout=10_000)
    page.wait_for_function("document.querySelector('#compare-title').textContent.includes('baseline (finished)')")
    shot = tmp_path / "compare-dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    _keep(shot)

    # the offline page: the same view from one file
    from handhold.views.compare import write_compare

    out = write_compare([runs / "curriculum", runs / "baseline"], tmp_path / "compare.html")
    offline = browser.new_page(viewport={"width": 1280, "height": 1000})
    offline.on("pageerror", lambda e: problems.append(f"offline page error: {e}"))
    offline.route("**/*", lambda route: route.abort() if not route.request.url.startswith("file:") else route.continue_())
    offline.goto(out.as_uri())
    offline.wait_for_function(f"({FIGURE})() && ({FIGURE})().traces.length === 2", timeout=20_000)
    assert {t["name"]: t["color"] for t in offline.evaluate(FIGURE)["traces"]} == colors
    assert len(offline.evaluate(FIGURE)["strips"]) == 3
    offline.locator("#cmp-key").select_option("train/loss")  # every metric is in the file
    offline.wait_for_function(f"({FIGURE})().traces.every(t => t.n === 40)")
    shot = tmp_path / "compare-offline.png"
    offline.screenshot(path=str(shot), full_page=True)
    _keep(shot)
    page.close()
    offline.close()
    assert problems == [], "\n".join(problems)
