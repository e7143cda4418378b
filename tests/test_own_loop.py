"""A plain ten-line loop through ``handhold.init/log/finish`` makes a run that ``report``,
``analyze`` and the dashboard show with its stages (the README's first example)."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from handhold.cli import app

runner = CliRunner()


def test_a_ten_line_loop_is_a_run_that_every_reader_shows(tmp_path):
    import handhold

    run = handhold.init(tmp_path / "runs" / "mine", config={"lr": 0.1})
    for stage, (start, end) in {"easy": (0, 60), "hard": (60, 150)}.items():
        run.stage(stage, step=start)
        for step in range(start + 1, end + 1):
            shock = 1.5 * math.exp(-(step - start) / 10) if stage == "hard" else 0.0
            handhold.log({"train/loss": 3 / math.sqrt(step) + shock}, step=step)
        run.stage_end("budget", step=end, steps=end - start)
    handhold.finish()

    report = runner.invoke(app, ["report", str(tmp_path / "runs" / "mine")])
    assert report.exit_code == 0, report.output
    page = (tmp_path / "runs" / "mine" / "report.html").read_text()
    assert "easy" in page and "hard" in page and "budget" in page
    analyzed = runner.invoke(app, ["analyze", str(tmp_path / "runs" / "mine"), "--json"])
    doc = json.loads(analyzed.stdout)
    assert doc["stage_switches"] == [60]
    assert [(s["stage"], s["start"], s["end"], s["reason"]) for s in doc["stages"]] == [
        ("easy", 0, 60, "budget"), ("hard", 60, 150, "budget")]
    assert doc["metrics"]["train/loss"]["shocks"], "the loss jump at the switch is found"

    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from handhold.views.dashboard import create_app

    client = TestClient(create_app(tmp_path / "runs"), base_url="http://127.0.0.1")  # a loopback Host
    (info,) = client.get("/api/runs").json()["runs"]
    assert (info["status"], info["stages"], info["stage"], info["last_step"]) == ("finished", ["easy", "hard"], "hard", 150)
