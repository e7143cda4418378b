"""Every view of a run stays bounded whatever the number of metrics: ``analyze`` takes at most
MAX_METRICS curves and says how many it left out, the dashboard's run page and the report draw
a bounded number of keys (the losses first) and say how many the run has."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import handhold
from handhold.cli import app as cli
from handhold.phases.prepare import MAX_METRICS

runner = CliRunner()
KEYS = 3000


@pytest.fixture(scope="module")
def wide_run(tmp_path_factory) -> Path:
    """A finished run of KEYS metrics (plus the loss) at three steps, written in bulk."""
    run_dir = tmp_path_factory.mktemp("wide") / "runs" / "wide"
    names = [f"probe/k{i:05d}" for i in range(KEYS)]
    with handhold.init(run_dir, name="wide", stages=["only"]) as run:
        run.stage("only", step=0)
        for step in range(3):
            run.log({name: float(step + i % 7) for i, name in enumerate(names)}, step=step)
            run.log({"train/loss": 3.0 / (step + 1), "zz/last": float(step)}, step=step)
        run.finish("finished", "done")
    return run_dir


def test_analyze_on_a_wide_csv_takes_the_first_curves_and_says_so(tmp_path):
    columns = 1000
    lines = ["step," + ",".join(f"m{i:04d}" for i in range(columns))]
    lines += [f"{s}," + ",".join(str((s * 7 + i) % 11) for i in range(columns)) for s in range(6)]
    (tmp_path / "wide.csv").write_text("\n".join(lines) + "\n")
    t0 = time.monotonic()
    res = runner.invoke(cli, ["analyze", str(tmp_path / "wide.csv"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert list(doc["metrics"]) == [f"m{i:04d}" for i in range(MAX_METRICS)]
    assert f"{columns:,} metrics; analysed the first {MAX_METRICS}" in res.stderr
    assert time.monotonic() - t0 < 120


def test_analyze_on_a_wide_run_is_bounded_and_metric_picks_any(wide_run):
    res = runner.invoke(cli, ["analyze", str(wide_run), "--json"])
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)["metrics"]) == MAX_METRICS and "analysed the first" in res.stderr
    res = runner.invoke(cli, ["analyze", str(wide_run), "--json", "-m", "zz/last"])  # past the bound by name
    assert res.exit_code == 0 and list(json.loads(res.stdout)["metrics"]) == ["zz/last"], res.output
    res = runner.invoke(cli, ["analyze", str(wide_run), "-m", "probe/*"])
    assert res.exit_code == 2 and "at most" in res.output and "Traceback" not in res.output


def test_the_run_page_draws_a_bounded_part_and_says_how_many(wide_run):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from handhold.views.dashboard import MAX_LISTED_KEYS, MAX_PANEL_KEYS, create_app

    with TestClient(create_app(wide_run.parent, phases_process=False), base_url="http://127.0.0.1") as client:
        info = client.get("/api/runs/wide").json()
        assert info["keys_total"] == KEYS + 2 and len(info["keys"]) == min(MAX_LISTED_KEYS, KEYS + 2)
        panels = client.get("/api/runs/wide/panels").json()
        drawn = {t["key"] for p in panels["panels"] for t in p["traces"]}
        assert "train/loss" in drawn and len(drawn) <= MAX_PANEL_KEYS
        assert panels["keys_total"] == KEYS + 2 and f"{KEYS + 2:,} metrics" in panels["note"]
        res = client.get("/api/runs/wide/metrics", params={"keys": "zz/last"})  # any key, by name
        assert res.status_code == 200 and res.json()["series"]["zz/last"]["values"] == [0.0, 1.0, 2.0]
        assert client.get("/api/runs/wide/metrics", params={"prefix": "probe/"}).status_code == 400


def test_the_report_draws_a_bounded_part_and_says_how_many(wide_run, tmp_path):
    from handhold.views.report import MAX_FIGURE_KEYS

    res = runner.invoke(cli, ["report", str(wide_run), "-o", str(tmp_path / "r.html")])
    assert res.exit_code == 0, res.output
    page = (tmp_path / "r.html").read_text()
    assert f"{KEYS + 2:,} metrics: the curves below draw {MAX_FIGURE_KEYS:,}" in page
