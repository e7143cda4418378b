"""One definition of memorized / generalized: ``handhold grok`` and ``handhold analyze`` agree on a run."""

import json

import pytest
from typer.testing import CliRunner

from handhold.cli import app
from handhold.grok.config import load_grok_config
from handhold.grok.experiment import grokking_of_store, summarize
from handhold.grok.train import train_run
from handhold.phases import analyze_store
from handhold.runstore.db import RunStore

runner = CliRunner()


def config(**task):
    return load_grok_config(data={
        "name": "def", "seeds": 1, "task": {"ops": ["add"], "p": 11, "train_frac": 0.7, **task},
        "model": {"d_model": 32, "heads": 2, "d_mlp": 64}, "optim": {"lr": 1.0e-2},
        "train": {"budget": {"steps": 80}, "stop_at_val": None},
        "eval": {"every": 5, "per_decade": 3}, "measure": {"every": 40, "per_decade": 0}})


def agree(run_dir, spec):
    """The lab's figures (online, meta ``grok``; the summary's ``grokked``) against analyze's pair."""
    with RunStore.reader(run_dir) as store:
        lab = store.get_meta("grok")
        doc = analyze_store(store)
        shared = grokking_of_store(store)
    (pair,) = [g for g in doc["grokking"] if (g["train"], g["val"]) == ("grok/train/acc", "grok/val/acc")]
    assert pair["memorized_at"] == lab["memorization_step"] == shared["memorized_at"]
    assert pair["generalized_at"] == lab["steps_to"]["val99"] == shared["generalized_at"]
    assert pair["grokked"] == shared["grokked"] and pair["rule"] == "accuracy >= 0.99"
    (variant,) = summarize(run_dir.parent, [spec], 1)["variants"]
    assert variant["grokked"] == [pair["grokked"]]
    assert variant["memorization_step"] == [pair["memorized_at"]]
    cli = json.loads(runner.invoke(app, ["analyze", str(run_dir), "--json"]).stdout)
    assert [g for g in cli["grokking"] if g["train"] == "grok/train/acc" and g["val"] == "grok/val/acc"] == [pair]
    return pair


def test_grok_and_analyze_agree_on_a_memorizing_run(tmp_path):
    spec = config().runs()[0]
    train_run(spec, 0, tmp_path / "baseline-s0")
    pair = agree(tmp_path / "baseline-s0", spec)
    assert pair["memorized_at"] is not None  # the toy memorizes within 80 steps ...
    assert pair["generalized_at"] is None and pair["grokked"] is False  # ... and does not generalize


@pytest.mark.slow
def test_grok_and_analyze_agree_on_a_grokking_run(tmp_path):
    """p = 31, a - b, 60% train: memorizes at ~90 steps and generalizes at ~1,100 (about 15 s)."""
    cfg = load_grok_config(data={
        "name": "def", "seeds": 1, "task": {"ops": ["sub"], "p": 31, "train_frac": 0.6},
        "model": {"d_model": 64, "heads": 4, "d_mlp": 256}, "optim": {"lr": 2.0e-3},
        "train": {"budget": {"steps": 3000}, "stop_at_val": 0.99, "stop_patience": 20},
        "eval": {"every": 10, "per_decade": 10}, "measure": {"every": 500, "per_decade": 0}})
    spec = cfg.runs()[0]
    train_run(spec, 0, tmp_path / "baseline-s0")
    pair = agree(tmp_path / "baseline-s0", spec)
    assert pair["generalized_at"] is not None and pair["grokked"] is True
    assert pair["delay"] > 5 * pair["memorized_at"]
