"""Sweeps on existing engines: a local process pool (--jobs) and submitit give the same runs as
training them one by one in this process."""

import submitit
import yaml
from typer.testing import CliRunner

from handhold.cli import app
from handhold.grok.config import load_grok_config
from handhold.grok.experiment import run_experiment
from handhold.runstore.db import RunStore

runner = CliRunner()

SMALL = {
    "name": "small", "seeds": 2,
    "task": {"ops": ["add"], "p": 7, "train_frac": 0.5},
    "model": {"d_model": 8, "heads": 2, "d_mlp": 16},
    "train": {"budget": {"steps": 8}, "stop_at_val": None},
    "eval": {"every": 4, "per_decade": 0},
    "measure": {"enabled": False},
    "variants": [{"name": "baseline"}, {"name": "ema", "grokfast": {"kind": "ema"}}],
}


def _curves(exp_dir, names=("baseline", "ema"), seeds=(0, 1)):
    out = {}
    for n in names:
        for s in seeds:
            with RunStore.reader(exp_dir / f"{n}-s{s}") as store:
                out[n, s] = (store.series("grok/val/loss"), store.series("grok/batch/loss"), store.get_meta("status"))
    return out


def test_process_pool_and_submitit_train_the_same_runs_as_one_process(tmp_path):
    cfg = load_grok_config(data=SMALL)
    run_experiment(cfg, tmp_path / "seq", jobs=1)
    lines = []
    pooled = run_experiment(cfg, tmp_path / "pool", jobs=2, log=lines.append)
    assert sum("[" in line and "/4]" in line for line in lines) == 4  # every run reported as it completed
    debug = submitit.DebugExecutor(folder=tmp_path / "submitit")
    run_experiment(cfg, tmp_path / "sub", executor=debug)
    ref = _curves(tmp_path / "seq")
    assert ref[("baseline", 0)][2] == "finished"
    assert _curves(tmp_path / "pool") == ref  # deterministic: one thread, same seeds
    assert _curves(tmp_path / "sub") == ref
    assert [v["name"] for v in pooled["variants"]] == ["baseline", "ema"]
    again = []
    run_experiment(cfg, tmp_path / "pool", jobs=2, log=again.append)
    assert sum("reused" in line for line in again) == 4  # finished runs are reused as before


def test_a_failing_run_is_reported_and_the_others_finish(tmp_path):
    bad = {**SMALL, "task": {"ops": ["add"], "p": 7, "train_frac": 0.05},  # 2 training pairs
           "variants": [{"name": "baseline"},
                        {"name": "tiny-stage", "curriculum": {"kind": "operand_subset", "fraction": 0.1,
                                                              "switch": {"steps": [2]}}}]}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    result = runner.invoke(app, ["grok", str(path), "--out", str(tmp_path / "x"), "--jobs", "1", "--no-report"])
    assert result.exit_code == 2 and "stage 0 has no training examples" in result.output
    assert "tiny-stage s0: failed" in result.output and "Traceback" not in result.output
    with RunStore.reader(tmp_path / "x" / "baseline-s1") as store:  # the other runs still finished
        assert store.get_meta("status") == "finished"


def test_slurm_without_sbatch_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["grok", "--preset", "quick", "--slurm", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "submitit cannot start" in result.output and "Traceback" not in result.output
