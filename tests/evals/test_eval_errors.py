"""``handhold eval``: every expected failure is one line naming the option, file or field, with
exit code 2 (before: tracebacks for --limit -1, an unknown lm-eval task, a truncated
model.safetensors and malformed BIG-bench task files; --limit 0 was ignored by the built-in
suite)."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from handhold.cli import app
from handhold.config import load_config
from handhold.train.runner import start

EVALS = {"tasks": [{"name": "g", "source": "general", "examples": 4, "metrics": ["exact_match"]}],
         "every": 1000, "at_stage_end": False}
runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from conftest import write_config

    root = tmp_path_factory.mktemp("eval")
    cfg = write_config(root / "tiny.yaml", evals=EVALS,
                       stages=[{"name": "general", "mix": {"general": 1.0}, "until": {"steps": 5}}])
    assert start(load_config(cfg), root / "run", progress=False).status == "finished"
    return root / "run"


def _one_line_exit_2(result, *says):
    lines = [line for line in result.output.splitlines() if line.strip() and not line.startswith(("`pretrained`",
                                                                                                  "Passed an"))]
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert len(lines) == 1 and lines[0].startswith("error: ") and all(s in lines[0] for s in says), result.output


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_a_limit_below_one_is_refused(trained, limit):
    _one_line_exit_2(runner.invoke(app, ["eval", str(trained), f"--limit={limit}"]), "--limit", limit)


def test_the_limit_applies_to_the_built_in_suite(trained, monkeypatch):
    from handhold.evals import suite

    seen = []
    real = suite.score_task
    def counting(model, tokenizer, task, examples, indices, batch_size):
        seen.append(len(examples))
        return real(model, tokenizer, task, examples, indices, batch_size)

    monkeypatch.setattr(suite, "score_task", counting)
    assert runner.invoke(app, ["eval", str(trained), "--limit", "2"]).exit_code == 0
    assert seen == [2]


def test_an_unknown_lm_eval_task_is_one_line(trained):
    pytest.importorskip("lm_eval")
    _one_line_exit_2(runner.invoke(app, ["eval", str(trained), "--lm-eval-task", "no_such_task_xyz", "--limit", "1"]),
                     "--lm-eval-task", "no_such_task_xyz")


def test_a_truncated_model_file_is_one_line(trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    for model in run.glob("checkpoints/*/model.safetensors"):
        model.write_bytes(model.read_bytes()[:5000])
    _one_line_exit_2(runner.invoke(app, ["eval", str(run)]), "cannot load this checkpoint")


def test_a_malformed_bigbench_task_in_a_suite_is_one_line(trained, tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "task.json").write_text(json.dumps({"examples": {"input": "q", "target": "a"}}))
    suite = tmp_path / "suite.yaml"
    suite.write_text("families:\n  mine: [bad/task.json]\n")
    _one_line_exit_2(runner.invoke(app, ["eval", str(trained), "--benchmarks", str(suite)]), "task.json", "examples")
