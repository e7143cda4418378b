"""lm-evaluation-harness on a handhold checkpoint, offline, with a local 20-example task.

The harness's accuracy must equal handhold's own multiple-choice scorer on the same documents:
two independent implementations of log-likelihood ranking agreeing is the check.
"""

import json
import os

import pytest
from typer.testing import CliRunner

pytest.importorskip("lm_eval", reason="lm-eval is the [eval] extra")

from handhold.cli import app  # noqa: E402
from handhold.config import load_config  # noqa: E402
from handhold.evals.generation import choice_logprobs  # noqa: E402
from handhold.evals.lm_eval_adapter import flatten_results  # noqa: E402
from handhold.runstore.db import RunStore  # noqa: E402
from handhold.train import checkpoint as ckpt  # noqa: E402
from handhold.train.runner import start  # noqa: E402

pytestmark = pytest.mark.slow

TASK_YAML = """\
task: hh_local_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "Q: {{{{question}}}}\\nA: Answer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{label}}}}"
metric_list:
  - metric: acc
metadata:
  version: 1.0
"""


def test_flatten_results_keeps_filters_and_drops_stderr():
    res = {"results": {"t": {"acc,none": 0.5, "acc_stderr,none": 0.1, "alias": "t",
                             "exact_match,strict-match": 0.25}}}
    assert flatten_results(res) == {"eval/t/acc": 0.5, "eval/t/exact_match.strict-match": 0.25}


def test_local_task_offline_matches_handholds_own_mc_scoring(tiny_config, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    run = tmp_path / "run"
    start(load_config(tiny_config(), ["stages.0.until.steps=8", "stages.1.until.steps=8"]), run, progress=False)

    docs = [{"question": f"Is {n} even?", "choices": ["yes", "no"], "label": 0 if n % 2 == 0 else 1}
            for n in range(20)]
    data = tmp_path / "tasks" / "local_mc.jsonl"
    data.parent.mkdir()
    data.write_text("\n".join(json.dumps(d) for d in docs))
    (tmp_path / "tasks" / "hh_local_mc.yaml").write_text(TASK_YAML.format(data=data))

    env = {"COLUMNS": "200", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    out = CliRunner().invoke(app, ["eval", str(run), "--lm-eval-task", "hh_local_mc",
                                   "--include-path", str(tmp_path / "tasks")], env=env)
    assert out.exit_code == 0, out.output
    store = RunStore.reader(run)
    steps, (acc,) = store.series("eval/hh_local_mc/acc")
    assert steps == [16]
    (ev,) = store.events("eval")
    assert ev.data["lm_eval"] == ["hh_local_mc"]

    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = ckpt.checkpoint_dir(run, 16)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    scores = choice_logprobs(model, tok, [f"Q: {d['question']}\nA: Answer:" for d in docs],
                             [[" " + c for c in d["choices"]] for d in docs])
    ours = sum(max(range(2), key=s.__getitem__) == d["label"] for s, d in zip(scores, docs)) / len(docs)
    assert acc == pytest.approx(ours)


def test_lm_eval_runs_in_the_loop_at_stage_ends(tiny_config, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    data = tasks / "local_mc.jsonl"
    data.write_text("\n".join(json.dumps({"question": f"Is {n} even?", "choices": ["yes", "no"],
                                          "label": n % 2}) for n in range(20)))
    (tasks / "hh_local_mc.yaml").write_text(TASK_YAML.format(data=data))
    config = tiny_config(evals={"lm_eval": {"tasks": ["hh_local_mc"], "include_path": "tasks", "limit": 10}})
    start(load_config(config, ["stages.0.until.steps=4", "stages.1.until.steps=4"]), tmp_path / "run",
          base_dir=tmp_path, progress=False)
    steps, values = RunStore.reader(tmp_path / "run").series("eval/hh_local_mc/acc")
    assert steps == [4, 8] and all(0 <= v <= 1 for v in values)
