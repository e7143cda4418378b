import torch

from handhold.config import ModelConfig
from handhold.models import BatchEncoder, build_model, char_tokenizer, load_tokenizer


def test_char_tokenizer_round_trips_task_text():
    tok = char_tokenizer()
    text = "Q: What is (12 + 7) * 3?\nA: s = 12 + 7 = 19\nAnswer: 57"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text)
    assert tok.decode(ids) == text


def test_fast_encoder_matches_the_hf_tokenizer():
    tok = char_tokenizer()
    enc = BatchEncoder(tok, seq_len=40)
    texts = ["short", "a longer line with digits 123 and symbols *+/=", "x"]
    fast = enc.encode(texts)
    enc._table = None
    assert fast == enc.encode(texts)
    x, y = BatchEncoder(tok, seq_len=40)(texts)
    assert x.shape == y.shape == (3, 40)  # the long row fills seq_len (truncated)
    assert x[0, 0] == tok.bos_token_id
    assert (y[0] != -100).sum() == len("short") + 1  # characters + eos
    assert y[0, len("short")] == tok.eos_token_id
    assert torch.equal(x[0, 1:6], y[0, :5])


def test_non_ascii_falls_back_to_unk():
    tok = char_tokenizer()
    enc = BatchEncoder(tok, seq_len=20)
    assert enc.encode(["h\u00e9"])[0] == [tok.convert_tokens_to_ids("h"), tok.unk_token_id]


def test_local_model_directory_loads_without_network(tmp_path):
    tok = char_tokenizer()
    model = build_model(ModelConfig(config={"n_layer": 1, "n_embd": 16, "n_head": 2}), tok, 32, seed=3)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    cfg = ModelConfig(path=str(tmp_path))
    loaded = build_model(cfg, load_tokenizer(cfg), 32, seed=0)
    x = torch.tensor([[1, 5, 9, 11]])
    assert torch.equal(model(x).logits, loaded(x).logits)
    assert len(load_tokenizer(cfg)) == len(tok)


def test_same_seed_same_initial_weights():
    tok = char_tokenizer()
    cfg = ModelConfig(config={"n_layer": 1, "n_embd": 16, "n_head": 2})
    a, b, c = (build_model(cfg, tok, 32, seed=s) for s in (1, 1, 2))
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
