"""The dashboard's JSON API on hand-built stores: runs, panels, metrics, samples, chat, safety."""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient as _TestClient  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import handhold  # noqa: E402
from handhold.cli import app as cli_app  # noqa: E402
from handhold.runstore.db import RunStore  # noqa: E402
from handhold.views.chat import ChatLimits  # noqa: E402
from handhold.views.dashboard import create_app  # noqa: E402

EVIL = "<img src=x onerror=alert(1)>"


class TestClient(_TestClient):
    """The server answers loopback Host names only (views/guard.py), not ``testserver``."""

    __test__ = False

    def __init__(self, app, base_url: str = "http://127.0.0.1:8765", **kw):
        super().__init__(app, base_url=base_url, **kw)


STAGES = ["general", "physics", "mixed"]


def write_run(run, *, steps: int = 30, finished: bool = True) -> None:
    """Three stages of ``steps // 3`` steps; train loss every step, eval every 5; two probes.
    Not ``finished``: the last stage stays open."""
    per = steps // 3
    run.stage(STAGES[0], step=0)
    for step in range(1, steps + 1):
        m = {"train/loss": 3.0 - step / steps, "train/loss/a": 3.0, "train/lr": 1e-3,
             "train/grad_norm": 1.0 + (step == 17) * 9.0}
        if step % 5 == 0:
            m.update({"eval/loss/a": 2.0, "eval/loss/b": 2.5, "eval/physics/answer_acc": step / steps})
        run.log(m, step=step)
        if step % 10 == 0:
            run.sample("probe", "How is your training going?", f"fine at {step}", step=step)
            run.sample("probe", "2 + 2 =", f"{step % 7} 100%_done", step=step)
        if step % per == 0 and (finished or step < steps):
            run.stage_end("budget", step=step)
            if step < steps:
                run.stage(STAGES[step // per], step=step)


def build_run(run_dir: Path, *, steps: int = 30, name: str = "demo") -> Path:
    """A finished run (:func:`write_run`) written through the Run API."""
    with handhold.init(run_dir, name=name, stages=STAGES) as run:
        write_run(run, steps=steps)
        run.finish("finished", "curriculum complete")
    return run_dir


def tiny_checkpoint(run_dir: Path, step: int) -> Path:
    """A 1-layer GPT-2 with handhold's char tokenizer, saved as a run's checkpoint (untrained)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from handhold.models import char_tokenizer

    tok = char_tokenizer()
    cfg = GPT2Config(n_layer=1, n_head=2, n_embd=16, n_positions=64, vocab_size=len(tok),
                     bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                     pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    path = run_dir / "checkpoints" / f"step_{step:07d}"
    GPT2LMHeadModel(cfg).save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path


@pytest.fixture
def root(tmp_path):
    """``demo``, finished, and ``other``, still being written (its last stage open)."""
    build_run(tmp_path / "runs" / "demo")
    live = handhold.init(tmp_path / "runs" / "other", name="other", stages=STAGES)
    write_run(live, finished=False)
    live.flush()
    yield tmp_path / "runs"
    live.finish()


@pytest.fixture
def client(root):
    return TestClient(create_app(root, phases_process=False))


# ------------------------------------------------------------------------------ reading
def test_runs_list(client, root):
    (root / "broken").mkdir()
    (root / "broken" / "run.db").write_bytes(b"not a database at all" * 10)
    runs = {r["id"]: r for r in client.get("/api/runs").json()["runs"]}
    assert set(runs) == {"broken", "demo", "other"}
    assert runs["demo"]["status"] == "finished" and runs["demo"]["last_step"] == 30
    assert runs["demo"]["stages"] == ["general", "physics", "mixed"] and runs["demo"]["stage"] == "mixed"
    assert runs["other"]["name"] == "other"
    assert "not a handhold run store" in runs["broken"]["error"]


def test_run_info_and_panels_with_stage_bands(client):
    info = client.get("/api/runs/demo").json()
    assert info["keys"][0] == "eval/loss/a" and info["checkpoints"] == [] and info["counts"]["samples"] == 6
    data = client.get("/api/runs/demo/panels").json()
    panels = data["panels"]
    # the tasks first (eval/physics), then the loss per source, then the bag of train scalars; the
    # learning rate (a schedule, handhold.roles) in the folded panel at the bottom
    assert [p["id"] for p in panels] == ["family:eval/physics", "loss", "family:train", "bookkeeping"]
    loss = panels[1]
    assert [t["key"] for t in loss["traces"]] == ["train/loss", "train/loss/a", "eval/loss/a", "eval/loss/b"]
    assert [t["role"] for t in loss["traces"]] == ["total", "train", "eval", "eval"]
    for p in panels:  # every subplot of every panel has the three stage bands
        bands = [s for s in p["layout"]["shapes"] if s["name"].startswith("stage:")]
        assert len(bands) == 3 * p["rows"]
        assert {(b["x0"], b["x1"]) for b in bands} == {(0, 10), (10, 20), (20, 30)}
    train, folded = panels[2], panels[3]
    assert [t["key"] for t in train["traces"]] == ["train/grad_norm"] and not train["collapsed"]
    assert [t["key"] for t in folded["traces"]] == ["train/lr"] and folded["collapsed"]
    assert folded["layout"]["yaxis"]["tickformat"] == ".3~s"  # SI ticks: 1m, not 0.0010000000


def _fake_phases(monkeypatch, doc=None, error=None):
    mod = types.ModuleType("handhold.phases")

    def analyze_store(store):
        if error:
            raise error
        return doc

    mod.analyze_store = analyze_store
    monkeypatch.setitem(sys.modules, "handhold.phases", mod)


def test_phase_marks_when_the_phases_module_answers(root, monkeypatch):
    doc = {"metrics": {
        "eval/loss/a": {"changepoints": [10], "segments": [
            {"start": 0, "end": 10, "trend": "declining", "slope": -0.1},
            {"start": 10, "end": 30, "trend": "plateau", "slope": 0.0}],
            "shocks": [{"step": 15, "peak": 2.5, "baseline": 2.0, "recovered_at": None}]},
        "bogus": "not a dict"},
        "divergences": [{"a": "eval/loss/a", "b": "eval/physics/answer_acc", "start": 12, "end": 25, "gap": 0.4},
                        {"a": "x", "b": "y", "start": "bad"}],
        "grokking": [{"train": "train/loss/a", "val": "eval/loss/a", "memorized_at": 5,
                      "generalized_at": 25, "delay": 20},
                     {"train": "train/acc", "val": "val/acc", "memorized_at": 3, "generalized_at": 28,
                      "delay": 25, "grokked": True, "verdict": "grokking: generalized 25 steps after memorizing"}]}
    _fake_phases(monkeypatch, doc)
    client = TestClient(create_app(root, phases_process=False))
    data = client.get("/api/runs/demo/panels").json()
    assert data["phases"] == {"available": True}
    loss = data["panels"][1]["layout"]
    names = [s["name"] for s in loss["shapes"]]
    assert names.count("phase:changepoint") == 1 and names.count("phase:divergence") == 1
    # the loss pair moves together (an ordinary fine-tune): tabled, but no "memorized" mark drawn
    assert not {"phase:memorized_at", "phase:generalized_at"} & set(names)
    notes = {a.get("name"): a for a in loss["annotations"] if a.get("name")}
    # one shock: one mark at its step, in the row of marks along the top, its numbers on hover
    assert notes["phase:shock"]["x"] == 15 and notes["phase:shock"]["text"] == "▾"  # not at a switch: a light mark
    assert "peak 2.5 vs 2" in notes["phase:shock"]["hovertext"]
    trends = [a["text"] for a in loss["annotations"] if a.get("name") == "phase:trend"]
    assert trends == ["↘ declining", "→ plateau"]
    acc = data["panels"][0]["layout"]  # the divergence touches eval/physics/answer_acc too
    assert [s["name"] for s in acc["shapes"]].count("phase:divergence") == 1
    train = data["panels"][2]["layout"]  # neither key of the divergence: no band there
    assert "phase:divergence" not in [s["name"] for s in train["shapes"]]
    runs = {r["id"]: r for r in client.get("/api/runs").json()["runs"]}
    assert runs["demo"]["phases"] == \
        "eval/loss/a: declining → plateau; 1 shock; 1 divergence(s); grokked at step 28; generalized at step 25"


def test_phases_from_the_real_analysis_in_a_worker_process(root):
    pytest.importorskip("handhold.phases")
    with TestClient(create_app(root)) as client:  # the context runs the app's shutdown too
        deadline = time.monotonic() + 60
        while (data := client.get("/api/runs/demo/panels").json())["phases"].get("pending"):
            assert time.monotonic() < deadline, "the phases worker never answered"
            time.sleep(0.2)
    assert data["phases"] == {"available": True}
    names = {s["name"] for p in data["panels"] for s in p["layout"]["shapes"]}
    notes = {a.get("name") for p in data["panels"] for a in p["layout"]["annotations"]}
    assert "phase:trend" in notes or any(n.startswith("phase:") for n in names)


def test_a_slow_phase_analysis_does_not_hold_up_the_page(root, monkeypatch):
    mod = types.ModuleType("handhold.phases")

    def analyze_store(store):
        time.sleep(1.5)
        return {"metrics": {"eval/loss/a": {"changepoints": [10], "segments": [
            {"start": 0, "end": 10, "trend": "declining"}, {"start": 10, "end": 30, "trend": "plateau"}]}}}

    mod.analyze_store = analyze_store
    monkeypatch.setitem(sys.modules, "handhold.phases", mod)
    client = TestClient(create_app(root, phases_process=False))
    t = time.perf_counter()
    first = client.get("/api/runs/demo/panels").json()
    assert time.perf_counter() - t < 1.2
    assert first["phases"]["pending"] and "analysing" in first["phases"]["note"]
    assert not any(s["name"].startswith("phase:") for s in first["panels"][0]["layout"]["shapes"])
    time.sleep(1.5)
    later = client.get("/api/runs/demo/panels").json()
    assert later["phases"] == {"available": True}
    assert "phase:changepoint" in [s["name"] for s in later["panels"][1]["layout"]["shapes"]]


def test_a_failing_phase_analysis_degrades_to_a_note(root, monkeypatch):
    _fake_phases(monkeypatch, error=ZeroDivisionError("boom"))
    client = TestClient(create_app(root, phases_process=False))
    res = client.get("/api/runs/demo/panels")
    assert res.status_code == 200
    assert "ZeroDivisionError: boom" in res.json()["phases"]["note"]
    assert all(not s["name"].startswith("phase:") for p in res.json()["panels"] for s in p["layout"]["shapes"])


def test_metrics_events_samples(client):
    m = client.get("/api/runs/demo/metrics", params={"keys": "eval/loss/a,train/lr"}).json()
    assert set(m["series"]) == {"eval/loss/a", "train/lr"} and m["last_step"] == 30
    assert m["series"]["eval/loss/a"]["steps"] == [5, 10, 15, 20, 25, 30]
    assert not m["series"]["train/lr"]["downsampled"] and m["series"]["train/lr"]["rows"] == 30
    allm = client.get("/api/runs/demo/metrics", params={"prefix": "train/"}).json()
    assert sorted(allm["series"]) == ["train/grad_norm", "train/loss", "train/loss/a", "train/lr"]
    live = client.get("/api/runs/demo/metrics", params={"since": 28, "keys": "train/loss"}).json()
    assert live["series"]["train/loss"]["steps"] == [28, 29, 30]
    ev = client.get("/api/runs/demo/events", params={"kind": "stage_end", "since": 20}).json()["events"]
    assert [(e["step"], e["data"]["stage"]) for e in ev] == [(20, "physics"), (30, "mixed")]
    s = client.get("/api/runs/demo/samples", params={"kind": "probe", "q": "fine"}).json()
    assert s["total"] == 3 and [x["step"] for x in s["samples"]] == [30, 20, 10]
    # LIKE wildcards in the search are literal: "%_" matches only the text that has them
    s = client.get("/api/runs/demo/samples", params={"q": "%_d"}).json()
    assert s["total"] == 3 and all("%_d" in x["text"] for x in s["samples"])
    s = client.get("/api/runs/demo/samples", params={"prompt": "2 + 2 =", "limit": 1}).json()
    assert s["total"] == 3 and len(s["samples"]) == 1 and s["kinds"] == ["probe"]


# ------------------------------------------------------------------------ downsampling
def test_metrics_call_downsamples_long_series_and_keeps_spikes(tmp_path):
    n = 120_000
    rng = np.random.default_rng(0)
    values = np.sin(np.arange(n) / 5000.0) + rng.normal(0, 0.01, n)
    values[77_777] = 40.0  # a spike
    values[1000] = float("nan")  # stored as NULL, never sent
    with handhold.init(tmp_path / "runs" / "long", flush_every=50_000) as run:
        for step, v in enumerate(values.tolist(), start=1):
            run.log({"train/grad_norm": v}, step=step)
    client = TestClient(create_app(tmp_path / "runs", phases_process=False))
    r = client.get("/api/runs/long/metrics", params={"keys": "train/grad_norm", "max_points": 1000}).json()
    got = r["series"]["train/grad_norm"]
    x, y = np.array(got["steps"]), np.array(got["values"])
    assert got["downsampled"] and got["rows"] == n and len(x) <= 1000  # rows logged, NaN included
    assert np.all(np.diff(x) >= 0) and x[0] >= 1 and x[-1] <= n
    finite = np.isfinite(values)
    assert y.max() == 40.0 and y.min() == values[finite].min()
    width = int(np.ceil(n / 500))
    assert abs(x[y.argmax()] - 77_778) <= width  # where the spike is, to within one bucket
    # each bucket's extremes are the true ones: compare with numpy over the same buckets
    steps = np.arange(1, n + 1)[finite]
    vals = values[finite]
    buckets = (steps - 1) // width
    for b in (0, 155, 499):
        sel = buckets == b
        lo, hi = steps[sel][0], steps[sel][-1]
        got_b = y[(x >= lo) & (x <= hi)]
        assert got_b.min() == vals[sel].min() and got_b.max() == vals[sel].max()
    # a zoom asks for a range and gets it at full resolution
    z = client.get("/api/runs/long/metrics", params={"keys": "train/grad_norm", "start": 77_700,
                                                      "end": 77_900, "max_points": 1000}).json()
    zs = z["series"]["train/grad_norm"]
    assert not zs["downsampled"] and zs["steps"] == list(range(77_700, 77_901))
    assert zs["values"][78] == 40.0


def test_gaps_in_a_long_series_stay_gaps(tmp_path):
    from handhold.views.downsample import read_series

    steps = [*range(1, 30_001), *range(90_001, 120_001)]
    with handhold.init(tmp_path, flush_every=50_000) as run:
        for step in steps:
            run.log({"k": 7.0 + step * 1e-9, "tiny": 1e-300 * step}, step=step)
    with RunStore.reader(tmp_path) as store:
        got = read_series(store, "k", max_points=400)
        tiny = read_series(store, "tiny", max_points=400)
    x = np.array(got.steps)
    assert got.downsampled and got.rows == 60_000 and len(x) <= 400
    assert not np.any((x > 30_000) & (x <= 90_000))  # nothing invented in the gap
    assert min(got.values) == 7.0 + 1e-9 and max(got.values) == 7.0 + 120_000 * 1e-9  # exact doubles
    assert min(tiny.values) == 1e-300 and max(tiny.values) == 1e-300 * 120_000


def test_exact_downsampling_of_mid_sized_series(tmp_path):
    from handhold.views.downsample import read_series

    with handhold.init(tmp_path, flush_every=10_000) as run:
        for step in range(1, 10_001):
            run.log({"k": 1.0 if step != 4321 else -5.0}, step=step)
    with RunStore.reader(tmp_path) as store:
        got = read_series(store, "k", max_points=100)
    assert got.downsampled and len(got.steps) <= 100
    assert got.values[got.steps.index(4321)] == -5.0  # exact step below EXACT_LIMIT rows


# ------------------------------------------------------------------------------ safety
@pytest.mark.parametrize("path, status", [
    ("/api/runs/..", 404),  # normalised by the client to /api/
    ("/api/runs/%2e%2e", 400),
    ("/api/runs/%2e%2e/metrics", 400),
    ("/api/runs/..%2Fsecret/metrics", 404),
    ("/api/runs/%2E%2E%2Fsecret", 404),
    ("/api/runs/secret", 404),
    ("/api/runs/.secret", 400),
    ("/api/runs/demo%5C..%5Csecret", 400),
    ("/api/runs/demo..", 400),
    ("/static/..%2F..%2Fstore.py", 404),
    ("/static/../dashboard.py", 404),
])
def test_path_traversal_is_refused(client, root, path, status):
    build_run(root.parent / "secret", name="classified")  # a run next to RUNS_DIR, not under it
    res = client.get(path)
    assert res.status_code == status, res.text
    assert "classified" not in res.text and "general" not in res.text  # nothing of it leaked


def test_serving_a_single_run_directory(root):
    client = TestClient(create_app(root / "demo", phases_process=False))
    assert [r["id"] for r in client.get("/api/runs").json()["runs"]] == ["demo"]
    assert client.get("/api/runs/demo/events").status_code == 200
    assert client.get("/api/runs/other/events").status_code == 404


@pytest.mark.parametrize("path", [
    "/api/runs/demo/metrics?max_points=abc",
    "/api/runs/demo/metrics?max_points=1",
    "/api/runs/demo/metrics?max_points=10000000",
    "/api/runs/demo/metrics?since=-1",
    "/api/runs/demo/metrics?start=20&end=10",
    "/api/runs/demo/metrics?keys=no/such/key",
    "/api/runs/demo/metrics?keys=" + ",".join(f"k{i}" for i in range(300)),
    "/api/runs/demo/events?since=x",
    "/api/runs/demo/samples?limit=0",
    "/api/runs/demo/samples?q=" + "x" * 500,
    "/api/runs/nope/metrics",
])
def test_bad_parameters_get_4xx_with_a_message(client, path):
    res = client.get(path)
    assert 400 <= res.status_code < 500, res.text
    detail = res.json()["detail"]
    assert detail and (isinstance(detail, str) or detail[0]["msg"])


def test_bad_chat_requests(client):
    for body, status in [({}, 422), ({"message": ""}, 422), ({"message": "hi", "step": -1}, 422),
                         ({"message": "hi", "max_new_tokens": 0}, 422),
                         ({"message": "hi"}, 404)]:  # the run has no checkpoint
        res = client.post("/api/runs/demo/chat", json=body)
        assert res.status_code == status, (body, res.text)
    assert "no checkpoint" in client.post("/api/runs/demo/chat", json={"message": "hi"}).json()["detail"]


def test_pages_are_served_from_the_package(client):
    import plotly

    page = client.get("/").text
    assert '<script src="/plotly.min.js">' in page and "http" not in page.replace('charset="utf-8"', "")
    js = client.get("/plotly.min.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert js.content == (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()
    assert client.get("/static/app.js").status_code == 200


# --------------------------------------------------------------- reading while writing
def test_reads_while_a_run_writes(tmp_path):
    """A writer flushing every 20 rows while the API polls: every read succeeds, the writer's
    flushes stay fast, and the rows the poller assembles are exactly the rows written."""
    run = tmp_path / "runs" / "live"
    writer = handhold.init(run, flush_every=20, flush_seconds=0.05)
    writer.log({"train/loss": 5.0}, step=0)
    writer.flush()
    client = TestClient(create_app(tmp_path / "runs", phases_process=False))
    stop = threading.Event()
    flush_times: list[float] = []
    total = 3000

    def write():
        for step in range(1, total + 1):
            t = time.perf_counter()
            writer.log({"train/loss": 5.0 - step / total}, step=step)
            flush_times.append(time.perf_counter() - t)
            if step % 20 == 0:
                time.sleep(0.01)  # ~1.5 s of "training" in all
        writer.finish()
        stop.set()

    thread = threading.Thread(target=write)
    thread.start()
    steps: dict[int, float] = {}
    last = 0
    polls = 0
    try:
        while True:
            done = stop.is_set()
            res = client.get("/api/runs/live/metrics", params={"keys": "train/loss", "since": last})
            assert res.status_code == 200, res.text
            body = res.json()
            s = body["series"]["train/loss"]
            steps.update(zip(s["steps"], s["values"]))
            assert body["last_step"] >= last
            last = body["last_step"]
            polls += 1
            if done:
                break
    finally:
        thread.join()
    assert polls > 2
    assert sorted(steps) == list(range(0, total + 1))
    assert steps[total] == pytest.approx(4.0)
    assert max(flush_times) < 1.0  # the writer was never held up by the readers


# ------------------------------------------------------------------------------- chat
@pytest.fixture
def chat_root(root):
    tiny_checkpoint(root / "demo", 10)
    tiny_checkpoint(root / "demo", 20)
    return root


def test_chat_replies_and_saves_the_exchange(chat_root):
    client = TestClient(create_app(chat_root, chat_limits=ChatLimits(max_new_tokens=12, timeout_s=10),
                                   phases_process=False))
    assert client.get("/api/runs/demo").json()["checkpoints"] == [10, 20]
    res = client.post("/api/runs/demo/chat", json={"message": "What is 2 + 3?", "step": 10,
                                                   "history": [["hi", "hello"]], "max_new_tokens": 500})
    assert res.status_code == 200, res.text
    r = res.json()
    assert r["step"] == 10 and r["new_tokens"] <= 12 and r["stopped"] in ("eos", "max_new_tokens")
    latest = client.post("/api/runs/demo/chat", json={"message": "again", "temperature": 0}).json()
    assert latest["step"] == 20
    with RunStore.reader(chat_root / "demo") as store:
        saved = list(store.samples("chat"))
        assert store.last_step() == 30  # a chat at an earlier step does not move the run's end
    assert [(c.step, c.prompt, c.text) for c in saved] == [(10, "What is 2 + 3?", r["text"]),
                                                          (20, "again", latest["text"])]
    assert client.post("/api/runs/demo/chat", json={"message": "hi", "step": 15}).status_code == 404
    too_long = client.post("/api/runs/demo/chat", json={"message": "x" * 2001})
    assert too_long.status_code == 422 and "limit is 2000" in too_long.json()["detail"]


def test_chat_is_bounded_in_time_and_context(chat_root):
    from handhold.views.chat import Chat

    chat = Chat(ChatLimits(max_new_tokens=400, timeout_s=1e-4, temperature=0.0))
    r = chat.reply(chat_root / "demo", 20, "tell me everything " * 10, save=False)
    assert r.new_tokens < 400 and r.stopped in ("timeout", "eos")
    # a prompt longer than the model's 64 positions keeps its end and still answers
    r = Chat(ChatLimits(max_new_tokens=8)).reply(chat_root / "demo", 20, "y" * 300, save=False)
    assert r.new_tokens <= 8


def test_chat_saves_while_a_trainer_writes(chat_root):
    trainer = handhold.init(chat_root / "demo", resume=True, flush_every=1)  # a live run, holding its lock
    client = TestClient(create_app(chat_root, chat_limits=ChatLimits(max_new_tokens=4), phases_process=False))
    try:
        trainer.log({"train/loss": 1.0}, step=31)
        assert client.post("/api/runs/demo/chat", json={"message": "hi"}).status_code == 200
        trainer.log({"train/loss": 1.0}, step=32)
    finally:
        trainer.finish()
    with RunStore.reader(chat_root / "demo") as store:
        assert len(list(store.samples("chat"))) == 1 and store.last_step() == 32


def test_views_never_write_outside_chat(root):
    """Reading every endpoint leaves the store file byte-for-byte as it was."""
    db = root / "demo" / "run.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    before = db.read_bytes()
    client = TestClient(create_app(root, phases_process=False))
    for path in ("/api/runs", "/api/runs/demo", "/api/runs/demo/panels", "/api/runs/demo/metrics",
                 "/api/runs/demo/events", "/api/runs/demo/samples"):
        assert client.get(path).status_code == 200
    assert db.read_bytes() == before


# -------------------------------------------------------------------------------- CLI
def test_cli_chat_and_serve_errors(chat_root, tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli_app, ["chat", str(chat_root / "demo"), "--step", "10", "--max-new-tokens", "5"],
                        input="hello there\n\n")
    assert res.exit_code == 0, res.output
    assert "step 10>" in res.output and "stopped:" in res.output
    with RunStore.reader(chat_root / "demo") as store:
        assert [(c.step, c.prompt) for c in store.samples("chat")] == [(10, "hello there")]
    res = runner.invoke(cli_app, ["chat", str(chat_root / "demo"), "--step", "11"])
    assert res.exit_code == 2 and "no checkpoint at step 11" in res.output and "10, 20" in res.output
    res = runner.invoke(cli_app, ["chat", str(tmp_path / "nowhere")])
    assert res.exit_code == 2 and "not a handhold run" in res.output
    res = runner.invoke(cli_app, ["serve", str(tmp_path / "nowhere")])
    assert res.exit_code == 2 and "no such directory" in res.output
    res = runner.invoke(cli_app, ["serve", "--port", "0"])
    assert res.exit_code == 2
    import socket

    with socket.socket() as busy:  # a port someone else listens on
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = runner.invoke(cli_app, ["serve", str(chat_root), "--port", str(port)])
    assert res.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in res.output
