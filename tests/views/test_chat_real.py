"""Chat hardening and the real-chat features on a tiny checkpoint: a context shorter than the
reply budget, bounded history, non-finite numbers, a tampered checkpoint, streaming, top-p and
two checkpoints side by side."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import handhold  # noqa: E402
from handhold.cli import app as cli_app  # noqa: E402
from handhold.runstore.db import RunStore  # noqa: E402
from handhold.views.chat import Chat, ChatLimits  # noqa: E402
from handhold.views.dashboard import create_app  # noqa: E402


def checkpoint(run_dir: Path, step: int, *, n_positions: int = 64, seed: int = 0) -> Path:
    """A 1-layer GPT-2 with handhold's char tokenizer saved as a run's checkpoint (untrained)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from handhold.models import char_tokenizer

    tok = char_tokenizer()
    cfg = GPT2Config(n_layer=1, n_head=2, n_embd=16, n_positions=n_positions, vocab_size=len(tok),
                     bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                     pad_token_id=tok.pad_token_id)
    torch.manual_seed(seed)
    path = run_dir / "checkpoints" / f"step_{step:07d}"
    GPT2LMHeadModel(cfg).save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path


@pytest.fixture
def runs(tmp_path):
    run = tmp_path / "runs" / "demo"
    with handhold.init(run) as live:
        live.log({"train/loss": 1.0}, step=1)
    checkpoint(run, 10)
    checkpoint(run, 20, seed=1)
    return tmp_path / "runs"


@pytest.fixture
def client(runs):
    return TestClient(create_app(runs, chat_limits=ChatLimits(max_new_tokens=96, timeout_s=10),
                                 phases_process=False), base_url="http://127.0.0.1:8765")  # a loopback Host


# ------------------------------------------------------------------ chat under hostile input
def test_context_shorter_than_prompt_plus_reply_budget(client, runs):
    """64 positions, a 60-character message and 96 new tokens asked: an answer, not a 500."""
    for message in ("What is the speed of a car after 4 s at 2 m/s^2 from rest??", "hi"):
        res = client.post("/api/runs/demo/chat", json={"message": message, "temperature": 0})
        assert res.status_code == 200, res.text
        assert 1 <= res.json()["new_tokens"] <= 64
    r = Chat(ChatLimits(max_new_tokens=96)).reply(runs / "demo", 10, "x" * 200, save=False, temperature=0)
    assert 1 <= r.new_tokens <= 32  # half the context kept for the reply at most


def test_history_is_bounded(client, runs):
    huge = "word " * 800_000  # 4 MB
    t0 = time.monotonic()
    res = client.post("/api/runs/demo/chat", json={"message": "hi", "history": [[huge, huge]] * 8})
    assert res.status_code == 413  # the server's body bound answers before the model sees it
    long_turn = "word " * 5_000  # 25,000 characters: under the body bound, over a turn's
    res = client.post("/api/runs/demo/chat", json={"message": "hi", "history": [[long_turn, "ok"]]})
    assert res.status_code == 422 and "history" in res.text
    assert time.monotonic() - t0 < 10
    # the Chat class itself keeps only the newest characters of a long history
    t0 = time.monotonic()
    r = Chat(ChatLimits(max_new_tokens=4)).reply(runs / "demo", 10, "hi", [(huge, huge)] * 8, save=False)
    assert r.new_tokens <= 4 and time.monotonic() - t0 < 10


@pytest.mark.parametrize("body", ['{"message": "hi", "temperature": NaN}',
                                  '{"message": "hi", "temperature": Infinity}',
                                  '{"message": "hi", "top_p": NaN}',
                                  '{"message": "hi", "step": Infinity}',
                                  '{"message": "hi", "step": 1e400}'])
def test_non_finite_numbers_are_422(client, body):
    res = client.post("/api/runs/demo/chat", content=body, headers={"content-type": "application/json"})
    assert res.status_code == 422, res.text
    assert res.json()["detail"]


def test_tampered_checkpoint_config_is_a_clear_error(client, runs):
    cfg_path = runs / "demo" / "checkpoints" / "step_0000020" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["n_embd"] = 32  # the weights say 16
    cfg_path.write_text(json.dumps(cfg))
    res = client.post("/api/runs/demo/chat", json={"message": "hi", "step": 20})
    assert res.status_code == 422 and "cannot load" in res.json()["detail"]
    assert client.post("/api/runs/demo/chat", json={"message": "hi", "step": 10}).status_code == 200
    out = CliRunner().invoke(cli_app, ["chat", str(runs / "demo"), "--step", "20"], input="hello\n\n")
    assert out.exit_code == 2 and "cannot load" in out.output and "Traceback" not in out.output


# ------------------------------------------------------------------ real chat: stream, top-p, compare
def _events(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines.get("event", "message"), json.loads(lines["data"])))
    return out


def test_streamed_reply_matches_the_plain_one(client, runs):
    body = {"message": "What is 2 + 3?", "step": 10, "temperature": 0, "max_new_tokens": 12}
    with client.stream("POST", "/api/runs/demo/chat/stream", json=body) as res:
        assert res.status_code == 200 and res.headers["content-type"].startswith("text/event-stream")
        events = _events(res.read().decode())
    tokens = [d["text"] for kind, d in events if kind == "token"]
    kind, done = events[-1]
    assert kind == "done" and done["step"] == 10 and "".join(tokens) == done["text"]
    plain = client.post("/api/runs/demo/chat", json=body).json()
    assert plain["text"] == done["text"]  # greedy: same words, streamed or not
    # errors are 4xx before the stream starts
    assert client.post("/api/runs/demo/chat/stream", json={**body, "step": 15}).status_code == 404
    with RunStore.reader(runs / "demo") as store:
        assert [c.prompt for c in store.samples("chat")] == ["What is 2 + 3?", "What is 2 + 3?"]


def test_two_checkpoints_answer_side_by_side(client):
    body = {"message": "Tell me about force.", "steps": [10, 20], "temperature": 0, "max_new_tokens": 10}
    res = client.post("/api/runs/demo/chat/compare", json=body)
    assert res.status_code == 200, res.text
    replies = res.json()["replies"]
    assert [r["step"] for r in replies] == [10, 20]
    assert replies[0]["text"] != replies[1]["text"]  # two different models
    for r in replies:
        single = client.post("/api/runs/demo/chat", json={"message": body["message"], "step": r["step"],
                                                          "temperature": 0, "max_new_tokens": 10}).json()
        assert single["text"] == r["text"]
    assert client.post("/api/runs/demo/chat/compare", json={**body, "steps": [10, 10, 20]}).status_code == 422


def test_top_p_narrows_sampling(runs):
    """top_p -> 0 keeps only the most likely token: sampling then equals greedy decoding."""
    chat = Chat(ChatLimits(max_new_tokens=10))
    greedy = chat.reply(runs / "demo", 10, "abc", temperature=0, save=False).text
    nucleus = chat.reply(runs / "demo", 10, "abc", temperature=1.0, top_p=1e-6, save=False).text
    assert nucleus == greedy
