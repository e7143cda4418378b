"""Chain of thought on a chat model: the question goes through the chat template, the answer is
read by letter, option text or yes/no, a repeated option list is no answer, and an unanswered
question is kept apart from a wrong one in the scores."""

from __future__ import annotations

import json

import pytest

from handhold.config import ConfigError, load_config
from handhold.evals.benchmarks.cot import cot_prompt, extract_answer, question_message, read_generation
from handhold.evals.benchmarks.data import BenchmarkTask, Doc
from handhold.evals.benchmarks.suite import DocRecord, LoadedTask, summarize
from handhold.models import char_tokenizer

CHOICES = ("carbon dioxide", "sodium chloride", "oxygen", "sugar")
DOC = Doc("1", tuple(("q", " " + c) for c in CHOICES), 0, "Question: Which is a compound?\nAnswer:", CHOICES)


@pytest.mark.parametrize("text, choice, how", [
    ("Oxygen is an element.\nAnswer: A", 0, "answer_line"),
    ('The answer is "D"', 3, "answer_line"),
    ("The correct answer is: C. oxygen", 2, "answer_line"),
    ("The answer is (B) sodium chloride.", 1, "answer_line"),
    ("Answer: carbon dioxide", 0, "answer_line"),
    ("I pick (B) because salt is a compound.", 1, "letter"),
    ("Carbon dioxide is made of two elements, so it is a compound.", 0, "text"),
    ("A. carbon dioxide\nB. sodium chloride\nC. oxygen\nD. sugar", None, None),  # the list again
    ("carbon dioxide, sodium chloride and sugar are all compounds", None, None),  # most options named
    ("I do not know.", None, None),
])
def test_answers_are_read_by_letter_text_or_not_at_all(text, choice, how):
    got, rule, _ = extract_answer(text, CHOICES)
    assert (got, rule) == (choice, how)


def test_yes_no_questions():
    yn = ("yes", "no")
    assert extract_answer("No, ethanol takes less energy to make than it gives.", yn)[:2] == (1, "yes_no")
    assert extract_answer("Answer: yes", yn)[:2] == (0, "answer_line")
    assert extract_answer("It depends on the farm.", yn)[:2] == (None, None)


def test_unanswered_is_not_a_wrong_answer():
    miss = read_generation(DOC, "A. carbon dioxide\nB. sodium chloride\nC. oxygen")
    assert miss["answered"] is False and miss["choice"] is None and miss["correct"] is False
    wrong = read_generation(DOC, "Answer: (C)")
    assert wrong["answered"] is True and wrong["correct"] is False


def test_a_chat_tokenizer_gets_the_question_through_its_template():
    tok = char_tokenizer()
    assert cot_prompt(DOC, tok).startswith("Q: Which is a compound?")  # no template: plain text
    tok.chat_template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                         "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    prompt = cot_prompt(DOC, tok)
    assert prompt == f"<|user|>{question_message(DOC)}\n<|assistant|>"
    assert "(B) sodium chloride" in prompt and 'Answer: <letter>' in prompt


def test_completion_tasks_ask_for_the_best_ending():
    doc = Doc("2", (("c", " x"), ("c", " y")), 0, "A man is sitting on a roof. He", ("falls.", "waves."))
    assert question_message(doc).startswith("Which option best completes this text? A man is sitting on a roof. He")


def test_family_score_uses_answered_questions_with_the_answered_share_beside_it():
    task = BenchmarkTask("t4", "mc", [], "acc_raw", "x")
    recs = [DocRecord("t4", 0, 4, {"acc_raw": 1.0, "cot_answered": 1.0, "cot_acc": 1.0, "cot_acc_all": 1.0}),
            DocRecord("t4", 1, 4, {"acc_raw": 0.0, "cot_answered": 1.0, "cot_acc": 0.0, "cot_acc_all": 0.0}),
            DocRecord("t4", 2, 4, {"acc_raw": 1.0, "cot_answered": 0.0, "cot_acc_all": 0.0}),
            DocRecord("t4", 3, 4, {"acc_raw": 0.0, "cot_answered": 0.0, "cot_acc_all": 0.0})]
    m = summarize(recs, [LoadedTask("reasoning", task, [], True)])
    assert m["eval/t4/cot_answered"] == 0.5
    assert m["eval/t4/cot_acc"] == 0.5 and m["eval/t4/cot_acc_all"] == 0.25
    # centred: acc_raw 0.5 -> 1/3, cot_acc (answered only) 0.5 -> 1/3; unanswered would have pulled it to 0
    assert m["eval/family/reasoning"] == pytest.approx(1 / 3)


def test_benchmark_families_can_be_renamed_beside_the_procedural_suite(tiny_config):
    both = {"benchmarks": {"tasks": "reasoning-standard"},
            "tasks": [{"name": "g", "source": "general", "metrics": ["answer_acc"]}]}
    with pytest.raises(ConfigError, match=r"evals.benchmarks.rename: \{reasoning: bench_reasoning"):
        load_config(tiny_config(evals=both))
    both["benchmarks"]["rename"] = {"reasoning": "bench_reasoning", "standard": "bench_standard"}
    cfg = load_config(tiny_config(evals=both))
    assert cfg.evals.benchmarks.rename["standard"] == "bench_standard"
    both["benchmarks"]["rename"] = {"reasoning": "bench_reasoning"}  # standard still clashes
    with pytest.raises(ConfigError, match=r"benchmark families \['standard'\]"):
        load_config(tiny_config(evals=both))
    both["benchmarks"]["rename"] = {"nope": "x"}
    with pytest.raises(ConfigError, match="unknown benchmark families"):
        load_config(tiny_config(evals=both))


def test_a_run_scores_its_benchmarks_at_step_zero(tiny_config, tmp_path):
    """The untrained model's scores are the baseline every later round is read against."""
    from handhold.runstore.db import RunStore
    from handhold.train.runner import start

    task = tmp_path / "toy.json"
    task.write_text(json.dumps({"name": "toy", "examples": [
        {"input": f"{i}+1?", "target_scores": {str(i + 1): 1, str(i + 2): 0}} for i in range(6)]}))
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"families: {{mine: [{task}]}}\ncot: [mine]\nmax_new_tokens: 4\n")
    cfg = load_config(tiny_config(evals={"benchmarks": {"tasks": str(suite), "limit": 4, "cot_limit": 2,
                                                        "every": 1000, "at_stage_end": False}},
                                  stages=[{"name": "general", "mix": {"general": 1.0}, "until": {"steps": 2}}]))
    run = tmp_path / "run"
    start(cfg, run, progress=False)
    with RunStore.reader(run) as store:
        assert store.series("eval/bigbench_toy/acc_raw")[0] == [0]
        assert store.series("eval/bigbench_toy/cot_answered")[0] == [0]
        assert store.series("eval/family/mine")[0] == [0]


def test_eval_scores_a_plain_model_directory_as_a_baseline_run(tmp_path):
    """The base model's scores exist before training: printed, and with --out kept as a run at step 0."""
    from typer.testing import CliRunner

    from handhold.cli import app
    from handhold.config import ModelConfig
    from handhold.models import build_model
    from handhold.runstore.db import RunStore

    tok = char_tokenizer()
    model_dir = tmp_path / "base"
    build_model(ModelConfig(config={"n_layer": 1, "n_head": 2, "n_embd": 16}), tok, 64, 0).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    task = tmp_path / "toy.json"
    task.write_text(json.dumps({"name": "toy", "examples": [
        {"input": f"{i}+1?", "target_scores": {str(i + 1): 1, str(i + 2): 0}} for i in range(5)]}))
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"families: {{mine: [{task}]}}\ncot: [mine]\nmax_new_tokens: 4\n")
    runner = CliRunner()
    printed = runner.invoke(app, ["eval", str(model_dir), "--benchmarks", str(suite), "--cot-limit", "2"])
    assert printed.exit_code == 0, printed.output
    assert "bigbench_toy" in printed.output and "--out RUN_DIR" in printed.output
    assert not (model_dir / "run.db").exists()
    out = tmp_path / "baseline"
    kept = runner.invoke(app, ["eval", str(model_dir), "--benchmarks", str(suite), "--cot-limit", "2",
                               "--out", str(out)])
    assert kept.exit_code == 0, kept.output
    with RunStore.reader(out) as store:
        assert store.series("eval/bigbench_toy/acc_raw")[0] == [0]
        assert store.series("eval/family/mine")[0] == [0]
        assert len(store.events("answer")) == 2 and store.get_meta("status") == "finished"
        (docs,) = store.events("benchmark_docs")  # the documents' scores: the baseline's noise
        assert docs.step == 0 and len(docs.data["tasks"]["bigbench_toy"]["ids"]) == 5
    again = runner.invoke(app, ["eval", str(model_dir), "--benchmarks", str(suite), "--out", str(out)])
    assert again.exit_code != 0 and "already holds a run" in again.output
    bare = runner.invoke(app, ["eval", str(model_dir)])
    assert bare.exit_code != 0 and "--benchmarks" in bare.output


def test_relative_model_paths_resolve_next_to_the_config_then_in_the_working_directory(tmp_path):
    from handhold.bundled import CONFIG_DIR
    from handhold.models import resolve_model_path

    cfg_dir, cwd = tmp_path / "cfg", tmp_path / "work"
    (cwd / "models" / "m").mkdir(parents=True)
    assert resolve_model_path("models/m", cfg_dir, cwd) == str(cwd / "models" / "m")  # only in the cwd
    (cfg_dir / "models" / "m").mkdir(parents=True)
    assert resolve_model_path("models/m", cfg_dir, cwd) == str(cfg_dir / "models" / "m")  # the config's first
    assert resolve_model_path("/abs/m", cfg_dir, cwd) == "/abs/m"
    # neither exists: a user config names its own folder, a built-in config the working directory
    assert resolve_model_path("models/x", cfg_dir, cwd) == str(cfg_dir / "models" / "x")
    assert resolve_model_path("models/x", CONFIG_DIR, cwd) == str(cwd / "models" / "x")


def test_the_review_keeps_unanswered_questions_apart(tmp_path):
    import handhold
    from handhold.runstore.db import RunStore
    from handhold.views.review import share_rows, wrong_answers

    base = {"task": "arc_easy", "question": "Which is a compound?", "choices": list(CHOICES), "gold": 0}
    with handhold.init(tmp_path / "r") as run:
        run.event("answer", step=5, **base, doc_id="1", **read_generation(DOC, "Answer: (C) oxygen"))
        run.event("answer", step=5, **base, doc_id="2", **read_generation(DOC, "I am not sure."))
        run.event("answer", step=5, **base, doc_id="3", **read_generation(DOC, "Answer: A"))  # right
    with RunStore.reader(tmp_path / "r") as store:
        wrong, notes = wrong_answers(store, tmp_path / "r")
        apart, _ = wrong_answers(store, tmp_path / "r", unanswered=True)
    assert [i.doc_id for i in wrong] == ["1"] and [i.doc_id for i in apart] == ["2"]
    assert "1 question(s) got no answer that could be read" in notes[-1]
    assert share_rows(wrong)[0].wrong == 1  # the unanswered one is not a wrong answer to judge


def test_documents_sharing_few_shot_examples_share_one_pass_with_the_same_scores(tmp_path):
    import torch

    from handhold.config import ModelConfig
    from handhold.evals.benchmarks.data import load_bigbench
    from handhold.evals.benchmarks.suite import doc_groups, score_shard
    from handhold.models import build_model

    tok = char_tokenizer()
    torch.manual_seed(0)
    model = build_model(ModelConfig(config={"n_layer": 1, "n_head": 2, "n_embd": 16}), tok, 512, 0)
    shots = "Examples. " + " ".join(f"Q: {i}*2? A: {2 * i}." for i in range(25))  # a long shared prefix
    gen = tmp_path / "gen.json"
    gen.write_text(json.dumps({"name": "gen", "task_prefix": shots,
                               "examples": [{"input": f"{i}*3?", "target": str(3 * i)} for i in range(7)]}))
    mc = tmp_path / "mc.json"
    mc.write_text(json.dumps({"name": "mc", "task_prefix": shots, "examples": [
        {"input": f"{i}+1?", "target_scores": {str(i + 1): 1, str(i + 2): 0, str(i): 0}} for i in range(5)]}))
    tasks = [LoadedTask("f", load_bigbench(p), load_bigbench(p).docs, False) for p in (gen, mc)]
    assert doc_groups(tasks[1].docs, 8) == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11], [12, 13, 14]]
    assert doc_groups(tasks[1].docs, 0) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11], [12, 13, 14]]
    assert doc_groups([Doc("0", (("x" * 10, " a"),), 0), Doc("1", (("y" * 10, " a"),), 0)], 8) == [[0], [1]]
    shared = score_shard(model, tok, tasks, batch_size=8, share_across_docs=True)
    alone = score_shard(model, tok, tasks, batch_size=8, share_across_docs=False)
    for a, b in zip(shared, alone):
        assert a.scores.keys() == b.scores.keys()
        for k in a.scores:
            assert a.scores[k] == pytest.approx(b.scores[k], rel=1e-4, abs=1e-5), (a.task, a.index, k)
