"""``handhold eval RUN``: a checkpoint scored by the built-in suite, written into the run through
the amend door: at the checkpoint's step, once per key however often it is scored, and while a
trainer holds the run."""

from __future__ import annotations

from typer.testing import CliRunner

import handhold
from handhold.cli import app
from handhold.config import load_config
from handhold.runstore.db import RunStore
from handhold.train.runner import start

EVALS = {"tasks": [{"name": "g", "source": "general", "examples": 2, "metrics": ["exact_match"]}],
         "every": 1000, "at_stage_end": False}


def test_eval_replaces_its_metrics_at_the_checkpoint_step(tiny_config, tmp_path):
    run = tmp_path / "run"
    state = start(load_config(tiny_config(evals=EVALS)), run, progress=False)
    assert state.status == "finished"
    runner = CliRunner()
    first = runner.invoke(app, ["eval", str(run), "--step", "20"])
    assert first.exit_code == 0, first.output
    with handhold.init(run, resume=True) as live:  # a trainer holds the run: eval still writes
        again = runner.invoke(app, ["eval", str(run), "--step", "20"])
        assert again.exit_code == 0, again.output
        live.log({"train/loss": 1.0}, step=25)
    with RunStore.reader(run) as store:
        steps, values = store.series("eval/g/exact_match")
        assert steps == [20] and len(values) == 1  # scored twice, stored once
        evals = [e for e in store.events("eval") if e.step == 20]
        assert [e.data for e in evals] == [{"checkpoint": "step_0000020", "lm_eval": []}] * 2
        assert store.last_step() == 25 and store.get_meta("status") == "finished"
