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


# ------------------------------------------------------------------------------ every row, or a word
def _csv(tmp_path, body: str, name: str = "in.csv"):
    path = tmp_path / name
    path.write_text(body)
    return path


def _import(*args):
    return runner.invoke(app, ["import", *map(str, args)])


def _nothing_left(tmp_path, out):
    assert not out.exists() and not [p for p in tmp_path.iterdir() if ".importing-" in p.name]


def test_float_steps_are_refused_naming_the_option_then_every_row_is_kept(tmp_path):
    """Before: 'imported 1 values' of 300 (int() folded 0.5, 1.0, 1.5 ... together)."""
    csv = _csv(tmp_path, "step,loss\n" + "".join(f"{i * 0.5},{1 / (i + 1)}\n" for i in range(300)))
    out = tmp_path / "run"
    refused = _import(csv, "--out", out)
    assert refused.exit_code == 2 and "150 fractional" in refused.output
    assert "--step-from index" in refused.output
    _nothing_left(tmp_path, out)
    ok = _import(csv, "--out", out, "--step-from", "index")
    assert ok.exit_code == 0 and "imported 300 values of 1 metrics" in ok.output, ok.output
    s = RunStore.reader(out)
    assert s.series("loss")[0] == list(range(300)) and s.series("import/source_step")[1][:3] == [0.0, 0.5, 1.0]


def test_duplicate_steps_are_refused_or_merged_with_a_count(tmp_path):
    """Before: 100 of 300 rows kept without a word."""
    csv = _csv(tmp_path, "step,loss\n" + "".join(f"{i // 3},{i}\n" for i in range(300)))
    out = tmp_path / "run"
    refused = _import(csv, "--out", out)
    assert refused.exit_code == 2 and "200 points at a step" in refused.output and "--on-duplicate" in refused.output
    _nothing_left(tmp_path, out)
    for how, first in (("last", 2.0), ("first", 0.0), ("mean", 1.0)):
        ok = _import(csv, "--out", tmp_path / how, "--on-duplicate", how)
        assert ok.exit_code == 0 and f"200 points at a step their metric already had were merged" in ok.output
        assert RunStore.reader(tmp_path / how).series("loss")[1][0] == first


@pytest.mark.parametrize("step, says", [("nan", "not a finite number"), ("inf", "not a finite number"),
                                        ("-5", "1 negative"), (str(2**63), "1 too large"),
                                        ("1e30", "not a finite number within")])
def test_steps_a_store_cannot_hold_are_one_line_and_leave_nothing(tmp_path, step, says):
    """Before: tracebacks, some leaving half-made run directories."""
    csv = _csv(tmp_path, f"step,loss\n0,1\n{step},2\n3,4\n")
    out = tmp_path / "deep" / "run"
    result = _import(csv, "--out", out)
    assert result.exit_code == 2 and says in result.output and "Traceback" not in result.output
    assert result.output.count("\n") == 1
    assert not (tmp_path / "deep").exists()


def test_a_semicolon_separated_csv(tmp_path):
    csv = _csv(tmp_path, "step;val/acc\n0;0.1\n1;0.2\n2;0.3\n")
    assert _import(csv, "--out", tmp_path / "run").exit_code == 0
    assert RunStore.reader(tmp_path / "run").series("val/acc") == ([0, 1, 2], [0.1, 0.2, 0.3])


def test_names_that_clean_to_one_key_stay_two_curves(tmp_path):
    csv = _csv(tmp_path, "step,val acc,val_acc," + "x" * 300 + "\n0,1,2,3\n1,4,5,6\n")
    assert _import(csv, "--out", tmp_path / "run").exit_code == 0
    s = RunStore.reader(tmp_path / "run")
    keys = s.metric_keys()
    assert len(keys) == 3 and all(len(k) <= 256 for k in keys) and s.count("metrics") == 6


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    from handhold.integrations import importer

    def boom(*a, **k):
        raise RuntimeError("disk gone")

    csv = _csv(tmp_path, "step,loss\n0,1\n1,2\n")
    monkeypatch.setattr(importer.Run, "log", boom)
    with pytest.raises(RuntimeError):
        importer.import_run(csv, tmp_path / "run")
    _nothing_left(tmp_path, tmp_path / "run")


def test_tensorboard_negative_steps_and_long_tags(tmp_path):
    """Before: tracebacks for both."""
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(tmp_path / "tb"))
    for step in range(-5, 5):
        w.add_scalar("loss", float(step), step)
        w.add_scalar("t" * 300, 1.0, step)
    w.close()
    refused = _import(tmp_path / "tb", "--out", tmp_path / "run")
    assert refused.exit_code == 2 and "10 negative" in refused.output and "--step-from index" in refused.output
    ok = _import(tmp_path / "tb", "--out", tmp_path / "run", "--step-from", "index")
    assert ok.exit_code == 0 and "imported 20 values of 2 metrics" in ok.output, ok.output
    s = RunStore.reader(tmp_path / "run")
    assert s.series("loss") == (list(range(10)), [float(x) for x in range(-5, 5)])


def _odd_trackio(path, schema, rows, configs=None):
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE metrics ({schema})")
    for row in rows:
        conn.execute(f"INSERT INTO metrics (run_name, step, metrics) VALUES (?, ?, ?)", row)
    if configs is not None:
        conn.execute("CREATE TABLE configs (run_name TEXT, config TEXT)")
        conn.executemany("INSERT INTO configs VALUES (?, ?)", configs)
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize("rows, configs, code, says, kept", [
    ([("r", s, json.dumps({"loss": s})) for s in range(5)], None, 0, "imported 5 values", 5),  # no id column
    ([("r", str(s), json.dumps({"loss": s})) for s in range(5)], None, 0, "imported 5 values", 5),  # text steps
    ([("r", s / 10, json.dumps({"loss": s})) for s in range(5)], None, 2, "--step-from index", 0),  # float steps
    ([("r", None, json.dumps({"loss": 1}))], None, 2, "1 missing", 0),  # NULL step
    ([("r", "abc", json.dumps({"loss": 1}))], None, 2, "1 missing", 0),  # text that is no number
    ([(None, 0, json.dumps({"loss": 1}))], None, 0, "imported 1 values", 1),  # NULL run name
    ([("r", 0, json.dumps([1, 2]))], None, 2, "not an object", 0),
    ([("r", 0, "{not json")], None, 2, "not JSON", 0),
    ([("r", 0, json.dumps({"loss": 1, "tag": "x"}))], [("r", "[1, 2]")], 0, "config: not a JSON object", 1),
    ([("r", 0, json.dumps({"loss": 1}))], [("r", "{bad")], 0, "config: not a JSON object", 1),
])
def test_trackio_databases_of_unexpected_shapes(tmp_path, rows, configs, code, says, kept):
    """Before: 8 tracebacks, and float steps kept 1 row of 5."""
    db = _odd_trackio(tmp_path / "p.db", "run_name TEXT, step, metrics TEXT", rows, configs)
    out = tmp_path / "run"
    result = _import(db, "--out", out)
    assert result.exit_code == code and says in result.output and "Traceback" not in result.output, result.output
    if code:
        _nothing_left(tmp_path, out)
    else:
        assert RunStore.reader(out).count("metrics") == kept


def test_trackio_float_steps_keep_every_row_by_index(tmp_path):
    db = _odd_trackio(tmp_path / "p.db", "run_name TEXT, step, metrics TEXT",
                      [("r", s / 10, json.dumps({"loss": s})) for s in range(5)])
    result = _import(db, "--out", tmp_path / "run", "--step-from", "index")
    assert result.exit_code == 0, result.output
    assert RunStore.reader(tmp_path / "run").series("loss") == ([0, 1, 2, 3, 4], [0.0, 1.0, 2.0, 3.0, 4.0])
