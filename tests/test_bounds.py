"""The shared ranges (handhold.bounds) and the config fields that use them: a seed numpy cannot
take or a batch no machine holds is one located line with exit code 2, before training starts."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from handhold.bounds import SEED_MAX, STEP_MAX, in_step_range, step_value
from handhold.cli import app

BASE = """\
name: t
stages:
  - name: a
    mix: {general: 1.0}
    until: {steps: 10}
"""
runner = CliRunner()


@pytest.mark.parametrize("step, ok", [(0, True), (STEP_MAX, True), (np.int64(5), True), (7.0, True),
                                      (2**63, False), (-1, False), (10**400, False), (1e300, False),
                                      (float("nan"), False), (0.5, False), (True, False), ("3", True),
                                      ("x", False), (None, False)])
def test_a_step_is_a_whole_number_sqlite_holds(step, ok):
    if ok:
        assert step_value(step, "t") == (int(step) if not isinstance(step, str) else int(float(step)))
    else:
        with pytest.raises((TypeError, ValueError), match="^t: step"):
            step_value(step, "t")


def test_steps_read_from_files_use_the_same_range():
    assert in_step_range(0.0) and in_step_range(2.0**62)
    assert not any(in_step_range(v) for v in (-1.0, 0.5, float(2**63), 3e101, float("inf"), float("nan")))


def test_the_seed_bound_is_numpys():
    np.random.seed(SEED_MAX)
    with pytest.raises(ValueError):
        np.random.seed(SEED_MAX + 1)


@pytest.mark.parametrize("override, says", [
    ("seed=-1", "seed: Input should be greater than or equal to 0"),
    ("seed=1e23", "seed:"),
    ("seed=1.0e+23", "seed:"),
    (f"seed={SEED_MAX + 1}", "less than or equal to 4294967295"),
    ("sources.g.seed=-5", "sources.g.seed"),
    ("train.batch_size=100000000", "train.batch_size: Input should be less than or equal to 1048576"),
    ("train.batch_size=500000", "a micro-batch of 500,000 rows x 128 tokens is 64,000,000 tokens"),
    ("train.seq_len=10000000000", "train.seq_len"),
])
def test_out_of_range_seeds_and_sizes_are_one_line_and_exit_2(tmp_path, override, says):
    """Before: seed=-1 and huge seeds ended in numpy/torch tracebacks; batch_size=1e8 trained
    silently while memory grew until the process was killed."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE + "sources:\n  g: {type: general}\n")
    result = runner.invoke(app, ["train", str(cfg), "--out", str(tmp_path / "run"), "--set", override])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {cfg}") and says in lines[0], result.output
    assert "Traceback" not in result.output and not (tmp_path / "run" / "run.db").exists()


@pytest.mark.parametrize("write", [
    lambda a: a.replace({"x": 1.0}, step=2**63),
    lambda a: a.log({"x": 1.0}, step=float("inf")),
    lambda a: a.event("eval", step=2**64),
    lambda a: a.sample("chat", "p", "t", step=-1),
    lambda a: a.label(2**63, "t", "1", "sound"),
    lambda a: a.label(3, "t\ud800", "1", "sound"),
])
def test_the_amend_door_refuses_what_the_run_api_refuses(tmp_path, write):
    """The same checks (handhold.runstore.validate, handhold.bounds): refused at the call, the
    block's other writes still land."""
    import handhold
    from handhold.runstore.db import RunStore

    with handhold.init(tmp_path / "r") as run:
        run.log({"x": 0.0}, step=0)
    with handhold.amend(tmp_path / "r") as a:
        a.log({"y": 1.0}, step=3)
        with pytest.raises((TypeError, ValueError)):
            write(a)
    with RunStore.reader(tmp_path / "r") as s:
        assert s.series("y") == ([3], [1.0]) and s.series("x") == ([0], [0.0]) and s.labels() == []


def test_init_refuses_a_resume_step_beyond_sqlite(tmp_path):
    import handhold

    handhold.init(tmp_path / "r").finish()
    with pytest.raises(ValueError, match="resume_from: step .* out of range"):
        handhold.init(tmp_path / "r", resume=True, resume_from=2**63)


@pytest.mark.parametrize("override", ["eval.examples=1000000000", "eval.batch_size=100000000",
                                      "probes.max_new_tokens=10000000000", "evals.batch_size=100000000"])
def test_sizes_that_would_fill_memory_are_refused(tmp_path, override):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE)
    result = runner.invoke(app, ["train", str(cfg), "--out", str(tmp_path / "run"), "--set", override])
    assert result.exit_code == 2 and "less than or equal to" in result.output, result.output
