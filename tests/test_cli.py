"""The command line: clear one-line errors with exit code 2, and the runs listing."""

import subprocess
import sys

from typer.testing import CliRunner

import handhold
from handhold.cli import app

runner = CliRunner()


def test_bad_config_is_one_clear_error_not_a_traceback(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("stages:\n  - name: a\n    mix: {general: 1}\n    until: {steps: 3}\noptim:\n  lrr: 1\n")
    result = runner.invoke(app, ["train", str(cfg), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert f"{cfg}:6: optim.lrr: unknown key 'lrr'; did you mean 'lr'?" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "r").exists()  # nothing was created for a config that failed


def test_missing_config_file(tmp_path):
    result = runner.invoke(app, ["train", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "no such config file" in result.output


def test_existing_run_is_not_overwritten(tiny_config, tmp_path):
    out = tmp_path / "r"
    handhold.init(out).finish()
    before = (out / "run.db").read_bytes()
    result = runner.invoke(app, ["train", str(tiny_config()), "--out", str(out), "-q"])
    assert result.exit_code == 2 and "already holds a run" in result.output
    assert (out / "run.db").read_bytes() == before


def test_resume_of_a_non_run(tmp_path):
    result = runner.invoke(app, ["resume", str(tmp_path)])
    assert result.exit_code == 2 and "is not a handhold run" in result.output


def test_runs_lists_status_stage_and_last_step(tmp_path):
    with handhold.init(tmp_path / "done", stages=["general", "physics"]) as run:
        run.stage("general", step=0)
        run.stage("physics", step=10)
        run.log({"train/loss": 1.0}, step=20)
    # says running, but its process is gone: a writer killed after a flush
    killed = (f"import os, handhold; run = handhold.init({str(tmp_path / 'dead')!r}); "
              "run.log({'train/loss': 2.0}, step=7); run.flush(); os._exit(9)")
    assert subprocess.run([sys.executable, "-c", killed], timeout=60).returncode == 9
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "run.db").write_text("garbage" * 200)
    result = runner.invoke(app, ["runs", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    lines = {line.split()[1].split("/")[-1]: line for line in result.output.splitlines()
             if str(tmp_path) in line}
    assert "finished" in lines["done"] and "physics" in lines["done"] and " 20 " in lines["done"]
    assert "crashed" in lines["dead"] and " 7 " in lines["dead"]
    assert "unreadable" in lines["junk"]


def test_out_that_is_a_file_is_a_clear_error(tiny_config, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = runner.invoke(app, ["train", str(tiny_config()), "--out", str(blocker / "run"), "-q"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert blocker.read_text() == "x"
