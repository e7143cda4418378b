"""``handhold import``: a W&B CSV export, a TensorBoard log dir and a trackio database become run
stores that ``analyze`` reads; bad sources are one-line errors with exit code 2."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from handhold.cli import app
from handhold.runstore.db import RunStore

runner = CliRunner()


def test_a_wandb_csv_export_keeps_values_and_drops_the_envelope(tmp_path):
    csv = tmp_path / "wandb.csv"
    rows = ["Step,fancy-run - train/loss,fancy-run - train/loss__MIN,fancy-run - train/loss__MAX,fancy-run - val acc"]
    for step in range(0, 200, 10):
        val = "" if step % 20 else f"{min(1.0, step / 100):.3f}"
        rows.append(f"{step},{3.0 - step / 100:.3f},{2.9 - step / 100:.3f},{3.1 - step / 100:.3f},{val}")
    csv.write_text("\n".join(rows) + "\n")
    result = runner.invoke(app, ["import", str(csv), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    s = RunStore.reader(tmp_path / "run")
    assert s.metric_keys() == ["train/loss", "val_acc"]  # envelope dropped, run prefix stripped, key cleaned
    assert s.series("train/loss")[1][:2] == [3.0, 2.9] and s.series("val_acc")[0] == list(range(0, 200, 20))
    assert s.get_meta("name") == "fancy-run" and s.get_meta("imported")["renamed"] == {"val acc": "val_acc"}
    analyzed = runner.invoke(app, ["analyze", str(tmp_path / "run"), "--json"])
    doc = json.loads(analyzed.stdout)
    assert analyzed.exit_code == 0 and {"train/loss", "val_acc"} <= set(doc["metrics"])
    again = runner.invoke(app, ["import", str(csv), "--out", str(tmp_path / "run")])
    assert again.exit_code == 2 and "already holds a run" in again.output


def test_a_csv_stage_column_becomes_stages(tmp_path):
    csv = tmp_path / "staged.csv"
    csv.write_text("step,stage,loss\n" + "".join(f"{s},{'a' if s < 50 else 'b'},{1 / (s + 1)}\n" for s in range(100)))
    assert runner.invoke(app, ["import", str(csv), "--out", str(tmp_path / "run")]).exit_code == 0
    s = RunStore.reader(tmp_path / "run")
    assert [e.step for e in s.events("stage_start")] == [0, 49]


def test_a_tensorboard_dir(tmp_path):
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(tmp_path / "tb"))
    for step in range(30):
        w.add_scalar("loss", 2.0 - step / 30, step)
    w.close()
    assert runner.invoke(app, ["import", str(tmp_path / "tb"), "--out", str(tmp_path / "run")]).exit_code == 0
    steps, values = RunStore.reader(tmp_path / "run").series("loss")
    assert steps == list(range(30)) and values[0] == 2.0


def trackio_db(path, runs):
    """A project database with trackio's schema (metrics: one JSON object per row; configs)."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE metrics (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, "
                 "project_name TEXT NOT NULL, run_name TEXT NOT NULL, step INTEGER NOT NULL, metrics TEXT NOT NULL)")
    conn.execute("CREATE TABLE configs (id INTEGER PRIMARY KEY AUTOINCREMENT, run_name TEXT NOT NULL, "
                 "config TEXT NOT NULL, created_at TEXT NOT NULL)")
    for run in runs:
        for step in range(20):
            conn.execute("INSERT INTO metrics (timestamp, project_name, run_name, step, metrics) VALUES (?, ?, ?, ?, ?)",
                         ("2025-01-01T00:00:00", "proj", run, step,
                          json.dumps({"train_loss": 1.0 / (step + 1), "note": "text is skipped"})))
        conn.execute("INSERT INTO configs (run_name, config, created_at) VALUES (?, ?, ?)",
                     (run, json.dumps({"lr": 0.01}), "2025-01-01"))
    conn.commit()
    conn.close()


def test_a_trackio_project_database(tmp_path):
    db = tmp_path / "proj.db"
    trackio_db(db, ["run-a", "run-b"])
    ambiguous = runner.invoke(app, ["import", str(db), "--out", str(tmp_path / "run")])
    assert ambiguous.exit_code == 2 and "holds 2 runs (run-a, run-b); choose one with --run NAME" in ambiguous.output
    assert not (tmp_path / "run" / "run.db").exists()
    assert runner.invoke(app, ["import", str(db), "--run", "run-b", "--out", str(tmp_path / "run")]).exit_code == 0
    s = RunStore.reader(tmp_path / "run")
    assert s.metric_keys() == ["train_loss"] and s.series("train_loss")[0] == list(range(20))
    assert s.get_meta("config") == {"lr": 0.01} and s.get_meta("name") == "run-b"
    missing = runner.invoke(app, ["import", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "no such file or directory" in missing.output
