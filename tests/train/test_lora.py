"""LoRA, gradient checkpointing and chat-formatted sources on a tiny local model directory
(what `model.path` loads): adapters alone train and are checkpointed, a resume is exact, and
gradient checkpointing changes memory, not the numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip("peft", reason="peft is in the [real] extra")

TEMPLATE = ("{% for m in messages %}{{ '<bos>' + m['role'] + ': ' + m['content'] + '<eos>' }}{% endfor %}"
            "{% if add_generation_prompt %}{{ '<bos>assistant: ' }}{% endif %}")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A 1-layer GPT-2 + handhold's char tokenizer (with a chat template) saved as a plain HF dir."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from handhold.models import char_tokenizer

    tok = char_tokenizer()
    tok.chat_template = TEMPLATE
    cfg = GPT2Config(n_layer=1, n_head=2, n_embd=32, n_positions=128, vocab_size=len(tok),
                     bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny"
    GPT2LMHeadModel(cfg).save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path


def _cfg(tmp: Path, model_dir: Path, **model: object) -> Path:
    data = {"name": "lora", "model": {"path": str(model_dir), **model},
            "sources": {"physics": {"type": "physics", "format": "chat"}},
            "stages": [{"name": "general", "mix": {"general": 1.0}, "until": {"steps": 3}},
                       {"name": "physics", "mix": {"physics": 1.0}, "until": {"steps": 3}}],
            "train": {"batch_size": 4, "seq_len": 96}, "optim": {"lr": 1e-2, "warmup_steps": 1},
            "eval": {"every": 3, "examples": 4, "batch_size": 4}, "evals": {"every": 1000},
            "measures": {"every": 1}, "checkpoint": {"every": 2, "keep": 5}}
    path = tmp / f"cfg-{len(list(tmp.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


LORA = {"lora": {"r": 2, "alpha": 4, "dropout": 0.1, "target_modules": ["c_attn"]}}


def _losses(run: Path) -> list[float]:
    from handhold.runstore.db import RunStore

    with RunStore.reader(run) as store:
        return store.series("train/loss")[1]


def test_lora_trains_adapters_only_and_resumes_exactly(model_dir, tmp_path):
    from safetensors.torch import load_file

    from handhold.config import load_config
    from handhold.train.runner import resume, start

    cfg = _cfg(tmp_path, model_dir, **LORA)
    start(load_config(cfg), tmp_path / "straight", progress=False)
    start(load_config(cfg, ["train.max_steps=3"]), tmp_path / "resumed", progress=False)
    resume(tmp_path / "resumed", progress=False, overrides=["train.max_steps=null"])
    a, b = _losses(tmp_path / "straight"), _losses(tmp_path / "resumed")
    assert len(a) == 6 and a == b
    last = "checkpoints/step_0000006"
    wa, wb = (load_file(str(tmp_path / r / last / "adapter_model.safetensors")) for r in ("straight", "resumed"))
    assert wa.keys() == wb.keys() and all(wa[k].equal(wb[k]) for k in wa)
    assert all("lora_" in k for k in wa) and any(wa[k].abs().sum() > 0 for k in wa if "lora_B" in k)
    assert not (tmp_path / "straight" / last / "model.safetensors").exists()
    # a LoRA checkpoint loads as base + adapters wherever a checkpoint is loaded
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tmp_path / "straight" / last, local_files_only=True)
    assert any("lora_B" in n for n, _ in model.named_parameters())


def test_gradient_checkpointing_changes_no_number(model_dir, tmp_path):
    from handhold.config import load_config
    from handhold.train.runner import start

    start(load_config(_cfg(tmp_path, model_dir), ["train.max_steps=3"]), tmp_path / "plain", progress=False)
    start(load_config(_cfg(tmp_path, model_dir, gradient_checkpointing=True), ["train.max_steps=3"]),
          tmp_path / "ckpt", progress=False)
    assert _losses(tmp_path / "plain") == pytest.approx(_losses(tmp_path / "ckpt"), rel=1e-5)


def test_chat_format_renders_the_template_tokens_exactly(model_dir):
    from handhold.config import RunConfig
    from handhold.data.chat_format import chat_formatted
    from handhold.data.sources import build_sources
    from handhold.models import BatchEncoder, load_tokenizer

    cfg = RunConfig.model_validate({"model": {"path": str(model_dir)},
                                    "sources": {"physics": {"type": "physics", "format": "chat"}},
                                    "stages": [{"name": "p", "mix": {"physics": 1.0, "general": 1.0},
                                                "until": {"steps": 1}}]})
    tok = load_tokenizer(cfg.model)
    sources = chat_formatted(cfg, build_sources(cfg), tok)
    item = sources["physics"].heldout(1)[0]
    ex = item.meta
    assert item.text == f"user: {ex.question}<eos><bos>assistant: {ex.solution.strip()}"
    assert sources["general"].heldout(1)[0].text.startswith("Q: ")  # format: text (the default)
    full = tok.apply_chat_template([{"role": "user", "content": ex.question},
                                    {"role": "assistant", "content": ex.solution.strip()}], tokenize=False)
    x, y = BatchEncoder(tok, 512)([item.text])
    assert tok.decode(torch.cat([x[0], y[0, -1:]])) == tok.decode(tok(full, add_special_tokens=False)["input_ids"])


def test_chat_format_and_lora_errors(model_dir, tiny_config, tmp_path):
    from handhold.config import ConfigError, load_config
    from handhold.train.loop import setup

    with pytest.raises(ConfigError, match=r"model\.lora: LoRA adapts a pretrained model: set model\.path"):
        load_config(tiny_config(model={"arch": "gpt2", "lora": {"r": 2}}))
    no_template = load_config(tiny_config(sources={"physics": {"type": "physics", "format": "chat"}}))
    with pytest.raises(ConfigError, match=r"sources\.physics\.format: 'chat' needs a tokenizer with a chat template"):
        setup(no_template, tmp_path / "a")
    wrong = load_config(_cfg(tmp_path, model_dir, lora={"target_modules": ["q_proj"]}))
    with pytest.raises(ConfigError, match=r"model\.lora\.target_modules: .*q_proj"):
        setup(wrong, tmp_path / "b")
