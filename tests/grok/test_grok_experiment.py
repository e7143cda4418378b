"""The whole lab at toy size: runs are handhold run stores; the CLI's table and JSON; stats."""

import json

import pytest
import torch
import yaml
from typer.testing import CliRunner

from handhold.cli import app
from handhold.grok import train as grok_train
from handhold.grok.config import load_grok_config
from handhold.grok.experiment import median_ci
from handhold.runstore.db import RunStore

runner = CliRunner()

TOY = {
    "name": "toy", "seeds": 2,
    "task": {"ops": ["add"], "p": 11, "train_frac": 0.5},
    "model": {"d_model": 16, "heads": 2, "d_mlp": 32},
    "optim": {"lr": 3.0e-3},
    "train": {"budget": {"steps": 40}, "stop_at_val": None},
    "eval": {"every": 5, "per_decade": 3},
    "measure": {"every": 20, "per_decade": 2},
    "variants": [
        {"name": "baseline"},
        {"name": "subset", "curriculum": {"kind": "operand_subset", "switch": {"steps": [10]}}},
        {"name": "ready", "curriculum": {"kind": "easy_to_hard", "stages": 2,
                                         "switch": {"until": {"threshold": "grok/stage/acc", "value": 0.9, "evals": 2,
                                                    "max_steps": 25}}}},
        {"name": "ema", "grokfast": {"kind": "ema"}},
    ],
}


@pytest.fixture(scope="module")
def toy_experiment(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grok")
    cfg = tmp / "toy.yaml"
    cfg.write_text(yaml.safe_dump(TOY))
    result = runner.invoke(app, ["grok", str(cfg), "--json", "--out", str(tmp / "exp"), "--jobs", "1"])
    return tmp, cfg, result


def test_json_document_schema(toy_experiment):
    tmp, _, result = toy_experiment
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [v["name"] for v in doc["variants"]] == ["baseline", "subset", "ready", "ema"]
    for v in doc["variants"]:
        assert v["seeds"] == [0, 1]
        assert len(v["steps_to_val99"]) == 2 and all(s is None or isinstance(s, int) for s in v["steps_to_val99"])
        assert v["median_steps_to_val99"] is None or isinstance(v["median_steps_to_val99"], float)
        assert len(v["ci95"]) == 2 and all(c is None or isinstance(c, float) for c in v["ci95"])
        assert 0 <= v["generalized"] <= 1 and len(v["samples"]) == 2
    base, subset = doc["variants"][0], doc["variants"][1]
    assert base["samples"] == [40 * 60, 40 * 60]  # 60 training pairs, full batch, 40 steps
    assert subset["samples"][0] < base["samples"][0]  # the first stage is smaller
    assert subset["vs_baseline"] == "baseline" and 0 <= subset["faster_seeds"] <= 2
    assert base["vs_baseline"] is None and base["faster_seeds"] is None
    page = (tmp / "exp" / "report.html").read_text()
    assert len(page) > 100_000 and page.count("<script") >= 1  # self-contained: plotly inlined
    assert '"text":"\\u2192 all (budget)"' in page  # the subset curriculum's switch and why, on its curves
    assert page.count("<tr>") == 1 + 4 and "progress measures per seed" in page
    assert json.loads((tmp / "exp" / "experiment.json").read_text())["variants"][0]["name"] == "baseline"


def test_every_run_is_a_run_store_with_stages_events_and_measures(toy_experiment):
    tmp, _, _ = toy_experiment
    with RunStore.reader(tmp / "exp" / "subset-s0") as store:
        meta = store.meta()
        assert meta["status"] == "finished" and meta["stages"] == ["subset", "all"]
        assert meta["name"] == "toy/subset/s0"
        keys = store.metric_keys()
        for key in ("grok/train/acc", "grok/val/acc", "grok/train/loss", "grok/val/loss", "grok/stage/acc",
                    "grok/val/acc/subset", "grok/val/acc/rest", "eval/loss/subset",
                    "grok/measure/restricted_loss", "grok/measure/excluded_loss", "grok/measure/weight_norm",
                    "grok/measure/gini_embed"):
            assert key in keys, key
        starts = store.events("stage_start")
        assert [(e.step, e.data["stage"], e.data["index"]) for e in starts] == [(0, "subset", 0), (10, "all", 1)]
        (end,) = store.events("stage_end")
        assert end.step == 10 and end.data["reason"] == "budget" and end.data["steps"] == 10
        assert end.data["evidence"] == {"switch_step": 10} and end.data["samples"] > 0
        assert store.series("grok/val/acc")[0][:5] == [0, 1, 2, 5, 10]  # log-spaced early evals (3 a decade)
        assert store.events("fourier")
    runs = runner.invoke(app, ["runs", str(tmp / "exp")])
    assert runs.exit_code == 0 and runs.output.count("finished") == 8
    report = runner.invoke(app, ["report", str(tmp / "exp" / "subset-s0")])
    assert report.exit_code == 0 and (tmp / "exp" / "subset-s0" / "report.html").is_file()


def test_readiness_switch_uses_training_data_only(toy_experiment, monkeypatch, tmp_path):
    tmp, cfg, _ = toy_experiment
    with RunStore.reader(tmp / "exp" / "ready-s1") as store:
        (end,) = store.events("stage_end")
        checks = dict(zip(*store.series("grok/stage/acc")))
    assert end.data["reason"] in ("threshold", "max_steps")
    if end.data["reason"] == "threshold":  # two checks in a row at or above 0.9, the switch at the second
        assert checks[end.step] >= 0.9 and checks[end.step - 5] >= 0.9
    # scrambling the validation labels must not move the switch
    real = grok_train.make_task

    def scrambled(*args, **kw):
        task = real(*args, **kw)
        val = ~task.is_train
        task.labels[val] = (task.labels[val] + 1) % task.p
        return task

    monkeypatch.setattr(grok_train, "make_task", scrambled)
    spec = load_grok_config(cfg).runs()[2]
    result = grok_train.train_run(spec, 1, tmp_path / "scrambled")
    assert result.switches[0]["step"] == end.step


def test_finished_runs_are_reused(toy_experiment):
    tmp, cfg, _ = toy_experiment
    before = (tmp / "exp" / "baseline-s0" / "run.db").stat().st_mtime_ns
    again = runner.invoke(app, ["grok", str(cfg), "--out", str(tmp / "exp"), "--variants", "baseline",
                                "--no-report"])
    assert again.exit_code == 0 and again.output.count("reused") == 2
    assert "baseline" in again.stdout and "→99% steps" in again.stdout
    assert (tmp / "exp" / "baseline-s0" / "run.db").stat().st_mtime_ns == before


@pytest.mark.parametrize("args, message", [
    (["--preset", "nope"], "unknown preset 'nope'"),
    (["--preset", "quick", "--variants", "baseline,nope"], "unknown variant(s) nope"),
    (["--preset", "quick", "--set", "task.p=12"], "(--set task.p): task.p: p must be prime (got 12)"),
])
def test_cli_errors_are_one_line_with_exit_code_2(args, message, tmp_path):
    result = runner.invoke(app, ["grok", *args, "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_median_and_bootstrap_interval():
    assert median_ci([3, 1, 2], n_boot=0) == (2.0, [None, None])
    med, (lo, hi) = median_ci([100, 110, 120, 130, 140])
    assert med == 120 and 100 <= lo <= 120 <= hi <= 140
    med, (lo, hi) = median_ci([100, None, None, None, 140])
    assert med is None and hi is None and lo in (100.0, 140.0, None)
    assert median_ci([5, 5, 5, 5, 5]) == (5.0, [5.0, 5.0])


@pytest.mark.slow
def test_quick_preset_groks():
    """The quick preset's baseline: train accuracy saturates long before validation, which then
    reaches 99% (seed 1 takes ~1,400 steps, ~10 s on one thread)."""
    from handhold.grok.presets import preset

    torch.set_num_threads(1)
    spec = load_grok_config(data=preset("quick")).runs()[0]
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        r = grok_train.train_run(spec, 1, tmp)
    assert r.steps_to["val99"] is not None and r.memorization_step is not None
    assert r.memorization_step * 5 < r.steps_to["val99"]  # memorised first, generalised much later
    assert r.final_val_acc >= 0.99 and r.final_train_acc == 1.0


def test_paired_comparison_against_the_baseline_of_the_same_task():
    from handhold.grok.experiment import _speedups

    def v(name, steps, med, ops=("add",), plain=True):
        return {"name": name, "task": {"ops": list(ops)}, "baseline": plain,
                "steps_to_val99": steps, "median_steps_to_val99": med, "median_samples_to_val99": med}

    rows = [v("base", [100, None, 300], 300.0), v("cur", [50, 200, None], 200.0, plain=False),
            v("other", [1, 1, 1], 1.0, ops=("sub",), plain=False)]
    _speedups(rows)
    assert rows[1]["vs_baseline"] == "base" and rows[1]["speedup_steps"] == 1.5
    assert rows[1]["faster_seeds"] == 2  # 50 < 100, 200 < never; never vs 300 is slower
    assert rows[2]["vs_baseline"] is None and rows[2]["faster_seeds"] is None  # no plain run on sub
