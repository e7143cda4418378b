"""Run stores damaged by hand (rows handhold never writes, files that are not stores) are read as
damaged: one line naming the run and the row from every command, a 4xx from every dashboard
route, never a traceback, a 500, a stream cut without an error, or a store made anew; the
folder's other runs are still listed, and no message shows the server's paths."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from test_dashboard_api import build_run, tiny_checkpoint  # noqa: E402 - a sibling test module
from typer.testing import CliRunner  # noqa: E402

import handhold  # noqa: E402
from handhold.cli import app as cli  # noqa: E402
from handhold.runstore.db import RunStore, StoreError  # noqa: E402
from handhold.views.dashboard import create_app  # noqa: E402

runner = CliRunner()

DAMAGE = {
    "meta_not_json": "UPDATE meta SET value = '{bad' WHERE key = 'status'",
    "name_not_json": "UPDATE meta SET value = '{bad' WHERE key = 'name'",
    "stages_not_a_list": "UPDATE meta SET value = '\"abc\"' WHERE key = 'stages'",
    "last_step_text": "UPDATE meta SET value = '\"abc\"' WHERE key = 'last_logged_step'",
    "event_not_json": "UPDATE events SET data = '{bad'",
    "event_a_list": "UPDATE events SET data = '[1, 2]'",
    "metric_value_text": "UPDATE metrics SET value = 'abc' WHERE rowid % 7 = 0",
    "metric_step_text": "UPDATE metrics SET step = 'abc' WHERE rowid % 7 = 0",
    "event_step_text": "UPDATE events SET step = 'abc'",
}
ROUTES = ("", "/panels", "/metrics", "/events", "/samples", "/review")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """One healthy run and one run per kind of damage, side by side."""
    root = tmp_path_factory.mktemp("damaged") / "runs"
    build_run(root / "healthy", name="healthy")
    for name, sql in DAMAGE.items():
        build_run(root / name, name=name)
        with sqlite3.connect(root / name / "run.db") as conn:
            assert conn.execute(sql).rowcount > 0
    return root


def one_line_error(res) -> str:
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    text = " ".join(res.output.split())
    assert len(res.output.strip().splitlines()) <= 4, res.output
    return text


def test_runs_lists_the_folder_and_names_each_damaged_run(folder):
    from handhold.runstore.listing import RunInfo, list_runs

    found = list_runs(folder)
    healthy = [i for i in found if isinstance(i, RunInfo)]
    damaged = {p.name: why for p, why in (i for i in found if not isinstance(i, RunInfo))}
    # the listing reads meta and events, not every metric row (a damaged value shows where it is read)
    metric_rows = {"metric_value_text", "metric_step_text"}
    assert sorted(i.name for i in healthy) == sorted({"healthy", *metric_rows})
    assert set(damaged) == set(DAMAGE) - metric_rows
    for name, why in damaged.items():
        assert name in why and "damaged run store" in why, why
    res = runner.invoke(cli, ["runs", str(folder)])
    assert res.exit_code == 0 and "Traceback" not in res.output, res.output


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_report_and_analyze_say_damaged_in_one_line(folder, name, tmp_path):
    d = folder / name
    text = one_line_error(runner.invoke(cli, ["report", str(d), "-o", str(tmp_path / "r.html")],
                                        terminal_width=400))
    assert name in text and "damaged" in text
    res = runner.invoke(cli, ["analyze", str(d)], terminal_width=400)
    if name in ("meta_not_json", "name_not_json", "stages_not_a_list"):  # analyze reads no meta row
        assert res.exit_code in (0, 2) and "Traceback" not in res.output, res.output
    else:
        assert "damaged" in one_line_error(res)


def test_every_dashboard_route_answers_a_damaged_run_with_a_4xx_naming_no_path(folder):
    client = TestClient(create_app(folder, phases_process=False), base_url="http://127.0.0.1",
                        raise_server_exceptions=False)
    listing = client.get("/api/runs")
    assert listing.status_code == 200
    errors = {r["id"] for r in listing.json()["runs"] if "error" in r}
    assert errors >= {"meta_not_json", "event_not_json", "last_step_text"} and "healthy" not in errors
    assert str(folder) not in str([r.get("error") for r in listing.json()["runs"]])
    for name in DAMAGE:
        for route in ROUTES:
            res = client.get(f"/api/runs/{name}{route}")
            assert res.status_code < 500, (name, route, res.status_code, res.text[:300])
            assert str(folder) not in res.text and os.sep + "tmp" not in res.text, (name, route, res.text[:300])
    assert client.get("/api/runs/healthy/panels").status_code == 200


def test_metric_values_a_damaged_file_holds_as_text_are_left_out_of_curves(folder):
    """A curve is numbers or nothing: the rows whose value is text are missing points, exactly as
    NaN ones are, on the exact path and on the bucketed one."""
    client = TestClient(create_app(folder, phases_process=False), base_url="http://127.0.0.1")
    with sqlite3.connect(f"file:{folder / 'metric_value_text' / 'run.db'}?mode=ro", uri=True) as conn:
        key, damaged = conn.execute("SELECT key, COUNT(*) FROM metrics WHERE typeof(value) = 'text' "
                                    "GROUP BY key ORDER BY 2 DESC LIMIT 1").fetchone()
        numeric = conn.execute("SELECT COUNT(*) FROM metrics WHERE key = ? AND typeof(value) IN ('real', "
                               "'integer')", (key,)).fetchone()[0]
    assert damaged > 0
    for max_points in (100_000, 10):
        res = client.get(f"/api/runs/metric_value_text/metrics?keys={key}&max_points={max_points}")
        assert res.status_code == 200
        got = res.json()["series"][key]
        assert all(isinstance(v, (int, float)) for v in got["values"]) and got["values"]
        if max_points > numeric:
            assert len(got["values"]) == numeric


def test_find_damage_names_the_row_and_passes_a_healthy_store(folder):
    with RunStore.reader(folder / "healthy") as store:
        assert store.find_damage() is None
    with RunStore.reader(folder / "event_a_list") as store:
        found = store.find_damage()
    assert found is not None and "events row" in found and "[1, 2]" in found


@pytest.mark.parametrize("content", [b"", os.urandom(4096)])
def test_the_amend_door_refuses_a_file_that_is_not_a_run_store(tmp_path, content):
    """An empty run.db must not become a fresh store (the run would then read as running)."""
    (tmp_path / "run.db").write_bytes(content)
    with pytest.raises(StoreError, match="not a handhold run store"):
        with handhold.amend(tmp_path) as run:
            run.sample("chat", "hi", "there", step=0)
    assert (tmp_path / "run.db").read_bytes() == content
    assert not (tmp_path / "run.db-wal").exists() or (tmp_path / "run.db-wal").stat().st_size == 0


@pytest.mark.parametrize("content", [b"", os.urandom(4096)])
def test_chat_on_a_damaged_store_is_refused_before_generating(tmp_path, content):
    root = tmp_path / "runs"
    d = build_run(root / "broken", name="broken")
    tiny_checkpoint(d, 5)
    for extra in ("run.db-wal", "run.db-shm"):
        (d / extra).unlink(missing_ok=True)
    (d / "run.db").write_bytes(content)
    client = TestClient(create_app(root, phases_process=False), base_url="http://127.0.0.1",
                        raise_server_exceptions=False)
    body = {"message": "hi", "max_new_tokens": 2}
    for route in ("chat", "chat/stream", "chat/compare"):
        payload = {**body, "steps": [5, 5]} if route == "chat/compare" else body
        res = client.post(f"/api/runs/broken/{route}", json=payload)
        assert 400 <= res.status_code < 500, (route, res.status_code, res.text)
        assert str(root) not in res.text
    res = client.post("/api/runs/broken/chat/stream", json=body)
    assert res.status_code == 409 and "not a handhold run store" in res.text
    text = one_line_error(runner.invoke(cli, ["chat", str(d)], input="hello\n"))
    assert "not a handhold run store" in text
    assert (d / "run.db").read_bytes() == content
