"""Batched generation equals one-at-a-time generation; choice log-likelihoods are exact sums."""

import torch

from handhold.config import ModelConfig
from handhold.evals.generation import choice_logprobs, generate
from handhold.models import build_model, char_tokenizer

PROMPTS = ["Q: What is 3 + 4?\nA:", "Hi", "Q: A 12 kg box is pushed with 30 N. What is its acceleration?\nA:"]


def tiny(ctx: int = 128):
    tok = char_tokenizer()
    model = build_model(ModelConfig(config={"n_layer": 1, "n_embd": 32, "n_head": 2}), tok, ctx, seed=1)
    return model.eval(), tok


def test_batched_generation_matches_single_prompts():
    model, tok = tiny()
    batched = generate(model, tok, PROMPTS, max_new_tokens=20, batch_size=8)
    single = [generate(model, tok, [p], max_new_tokens=20)[0] for p in PROMPTS]
    assert batched == single
    assert all(len(t) <= 20 for t in batched)
    assert any(batched)  # a random model still writes something


def test_generation_respects_the_context_length():
    model, tok = tiny(ctx=32)
    long_prompt = "x" * 100  # longer than the context: its end is kept
    (out,) = generate(model, tok, [long_prompt], max_new_tokens=50)
    assert len(out) <= 1  # no room left beyond the 31 prompt tokens kept


def test_stop_at_newline_makes_newline_a_stop_token():
    model, tok = tiny()
    seen = []
    real = model.generate

    def spy(*args, **kwargs):
        seen.append(kwargs["eos_token_id"])
        return real(*args, **kwargs)

    model.generate = spy
    generate(model, tok, PROMPTS[:1], max_new_tokens=5, stop_at_newline=True)
    generate(model, tok, PROMPTS[:1], max_new_tokens=5)
    newline = tok.convert_tokens_to_ids("\n")
    assert seen == [[tok.eos_token_id, newline], [tok.eos_token_id]]


def test_choice_logprobs_are_sums_of_token_logprobs():
    model, tok = tiny()
    (scores,) = choice_logprobs(model, tok, ["Q: Is 7 odd?\nA: Answer:"], [[" yes", " no"]])
    for choice, score in zip([" yes", " no"], scores):
        ids = tok("Q: Is 7 odd?\nA: Answer:" + choice)["input_ids"]  # bos added by the tokenizer
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0], -1)
        n = len(choice)
        expected = sum(float(logp[i - 1, ids[i]]) for i in range(len(ids) - n, len(ids)))
        assert abs(score - expected) < 1e-4
