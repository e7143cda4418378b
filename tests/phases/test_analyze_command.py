"""``handhold analyze`` on CSV, TensorBoard logs and run directories: the JSON contract and the errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from handhold.cli import app
from handhold.phases.sources import SourceError, load_source

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["analyze", *map(str, args)])


def grok_csv(path, n=600, stage_at=None):
    """train/val accuracy where validation generalizes late, plus a loss with a stage switch."""
    t = np.arange(n)
    train = 1 / (1 + np.exp(-(t - 40) / 4))
    val = 1 / (1 + np.exp(-(t - 400) / 8))
    rows = ["step,train/acc,val/acc,eval/loss" + (",stage" if stage_at else "")]
    for i in t:
        loss = 2 - i / n + (0.8 if stage_at and i > stage_at else 0)
        stage = ("," + ("a" if i <= stage_at else "b")) if stage_at else ""
        rows.append(f"{i},{train[i]:.5f},{val[i]:.5f},{loss:.5f}{stage}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_json_is_one_document_with_the_contract_fields(tmp_path):
    res = run(grok_csv(tmp_path / "m.csv", stage_at=300), "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert {"metrics", "stage_switches", "divergences", "grokking"} <= set(doc)
    assert doc["stage_switches"] == [300]
    loss = doc["metrics"]["eval/loss"]
    assert 300 in loss["changepoints"]
    for seg in loss["segments"]:
        assert {"start", "end", "trend", "slope"} <= set(seg) and seg["trend"] in ("rising", "plateau", "declining")
    (shock,) = [s for s in loss["shocks"] if s["step"] == 300]
    assert {"step", "peak", "baseline", "recovered_at"} <= set(shock) and shock["peak"] > shock["baseline"]
    (grok,) = doc["grokking"]
    assert (grok["train"], grok["val"]) == ("train/acc", "val/acc")
    # accuracies: the first evaluation at 0.99 (40 + 4 ln 99 = 58.4; 400 + 8 ln 99 = 436.8)
    assert (grok["memorized_at"], grok["generalized_at"], grok["delay"]) == (59, 437, 378)
    assert grok["grokked"] is True and grok["rule"] == "accuracy >= 0.99"
    res = run(grok_csv(tmp_path / "m.csv", stage_at=300), "--json", "--acc-level", "0.9")
    (grok,) = json.loads(res.stdout)["grokking"]
    assert (grok["memorized_at"], grok["generalized_at"]) == (49, 418)  # 40 + 4 ln 9; 400 + 8 ln 9
    assert run(grok_csv(tmp_path / "m.csv"), "--acc-level", "1.5").exit_code == 2


def test_table_metric_globs_pairs_and_plot(tmp_path):
    csv = grok_csv(tmp_path / "m.csv")
    res = run(csv, "--metric", "*/acc", "--plot", tmp_path / "p.html")
    assert res.exit_code == 0, res.output
    assert "train/acc" in res.stdout and "grokking" in res.stdout and "eval/loss" not in res.stdout
    html = (tmp_path / "p.html").read_text()
    assert "plotly" in html.lower() and "val\\u002facc" in html  # titles are JSON-escaped
    res = run(csv, "--json", "--metric", "eval/loss", "--pair", "train/acc:val/acc")
    doc = json.loads(res.stdout)
    assert set(doc["metrics"]) == {"eval/loss", "train/acc", "val/acc"} and len(doc["grokking"]) == 1


@pytest.mark.parametrize("content, message", [
    ("", "empty file"),
    ("loss,acc\n1,2\n", "no 'step' column"),
    ("step,loss\n", "no data rows"),
    ("step,loss\n1,0.5\n2,abc\n", ":3: column 'loss': not a number: 'abc'"),
    ("step,loss\n1,0.5\n,0.4\n", ":3: column 'step': missing value"),
    ("step,loss\n1,0.5,7\n", ":2: 3 fields, the header has 2"),
    ("step\n1\n", "no metric columns"),
])
def test_bad_csv_is_one_line_exit_2(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    res = run(path)
    assert res.exit_code == 2
    assert message in res.output and str(path) in res.output.replace("\n", "")
    assert "Traceback" not in res.output


def test_other_bad_input_exit_2(tmp_path):
    (tmp_path / "empty").mkdir()
    for args, message in [((tmp_path / "nope.csv",), "no such file"),
                          ((tmp_path / "empty",), "no TensorBoard event files"),
                          ((grok_csv(tmp_path / "m.csv"), "--metric", "eval/accc"), "no metric 'eval/accc'"),
                          ((tmp_path / "m.csv", "--pair", "train/acc"), "expected TRAIN:VAL"),
                          ((tmp_path / "m.csv", "--pair", "train/acc:val/nope"), "no metric 'val/nope'")]:
        res = run(*args)
        assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output, res.output
    corrupt = tmp_path / "tb" / "events.out.tfevents.123.host"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"\x00\x01garbage" * 10)
    res = run(tmp_path / "tb")
    assert res.exit_code == 2 and str(tmp_path / "tb") in res.output.replace("\n", "")


def test_tensorboard_logs_read_with_run_prefixes(tmp_path):
    pytest.importorskip("tensorboard", reason="TensorBoard logs need the [tensorboard] extra")
    from torch.utils.tensorboard import SummaryWriter

    for run_name, center in (("train", 40), ("val", 300)):
        with SummaryWriter(str(tmp_path / "logs" / run_name)) as w:
            for step in range(0, 500, 2):
                w.add_scalar("acc", 1 / (1 + np.exp(-(step - center) / 6)), step)
    loaded = load_source(tmp_path / "logs")
    assert loaded.kind == "tensorboard" and set(loaded.series) == {"train/acc", "val/acc"}
    steps, values = loaded.series["val/acc"]
    assert len(steps) == 250 and steps[-1] == 498 and abs(values[150] - 1 / (1 + np.exp(0))) < 1e-6
    doc = json.loads(run(tmp_path / "logs", "--json").stdout)
    (grok,) = doc["grokking"]
    assert grok["memorized_at"] < 70 and 300 <= grok["generalized_at"] <= 330


def test_trainer_losses_falling_together_are_a_pair_not_grokking(tmp_path):
    """A Hugging Face Trainer run as TensorBoard logs it: train/loss every 5 steps, eval/loss every
    25, both falling together. The pair is reported, grokking is not named."""
    pytest.importorskip("tensorboard", reason="TensorBoard logs need the [tensorboard] extra")
    from torch.utils.tensorboard import SummaryWriter

    rng = np.random.default_rng(0)
    with SummaryWriter(str(tmp_path / "hf")) as w:
        for step in range(5, 505, 5):
            w.add_scalar("train/loss", 0.4 + 2.2 * np.exp(-step / 60) + 0.03 * rng.standard_normal(), step)
            if step % 25 == 0:
                w.add_scalar("eval/loss", 0.55 + 2.0 * np.exp(-step / 70) + 0.01 * rng.standard_normal(), step)
    res = run(tmp_path / "hf", "--json")
    (pair,) = json.loads(res.stdout)["grokking"]
    assert (pair["train"], pair["val"]) == ("train/loss", "eval/loss")
    assert pair["memorized_at"] is not None and pair["generalized_at"] is not None
    assert pair["grokked"] is False and "moved together" in pair["verdict"]
    table = run(tmp_path / "hf").stdout
    assert "no grokking" in table.replace("\n", " ")


def test_run_directory_and_analyze_store(tiny_config, tmp_path):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from handhold.config import load_config
    from handhold.phases import analyze_store
    from handhold.runstore.db import RunStore
    from handhold.train.runner import start

    start(load_config(tiny_config()), tmp_path / "run", progress=False)
    with RunStore.reader(tmp_path / "run") as store:
        switch = [e.step for e in store.events("stage_start")][1]
        doc = analyze_store(store)
    assert doc["stage_switches"] == [switch] == [12]
    assert "eval/loss/general" in doc["metrics"] and "train/lr" not in doc["metrics"]
    assert all(switch in m["changepoints"] for k, m in doc["metrics"].items() if k.startswith("eval/loss"))
    res = run(tmp_path / "run", "--json", "--metric", "train/loss")
    assert res.exit_code == 0 and set(json.loads(res.stdout)["metrics"]) == {"train/loss"}
    with pytest.raises(SourceError, match="not a handhold run store"):
        (tmp_path / "junk").mkdir()
        (tmp_path / "junk" / "run.db").write_text("not sqlite")
        load_source(tmp_path / "junk")
