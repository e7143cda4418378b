"""The dashboard's review endpoints: list a step's wrong answers, label them, the share updates;
bad requests get a 4xx with a message (never a 500); reading never writes; labelling writes
only its own table."""

from __future__ import annotations

import sqlite3

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

import handhold  # noqa: E402
from handhold.runstore.db import RunStore  # noqa: E402
from handhold.views.dashboard import create_app  # noqa: E402
from review_runs import answers_run, without_labels_table  # noqa: E402  (tests/views/review_runs.py)


@pytest.fixture
def root(tmp_path):
    answers_run(tmp_path / "runs" / "bench")
    with handhold.init(tmp_path / "runs" / "plain") as run:  # no answers, no config
        run.log({"train/loss": 1.0}, step=1)
    without_labels_table(tmp_path / "runs" / "plain")  # and no labels table, as older runs
    return tmp_path / "runs"


@pytest.fixture
def client(root):
    # a loopback Host, as a browser on this machine sends (the server may refuse other names)
    return TestClient(create_app(root, phases_process=False), base_url="http://127.0.0.1:8765")


def _dump(db, skip=("labels",)):
    con = sqlite3.connect(db)
    try:
        tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'") if t not in skip]
        return {t: sorted(map(repr, con.execute(f"SELECT * FROM {t}"))) for t in tables}
    finally:
        con.close()


def test_review_lists_the_latest_step_and_any_step(client):
    r = client.get("/api/runs/bench/review").json()
    assert r["steps"] == [10, 20] and r["tasks"] == ["arc_easy", "boolq"] and r["step"] == 20
    assert [(i["task"], i["doc_id"], i["label"], i["label_source"]) for i in r["items"]] == [
        ("arc_easy", "0", "sound", "auto")]
    assert {(s["step"], s["task"]) for s in r["summary"]} == {
        (10, "arc_easy"), (10, "boolq"), (10, "all"), (20, "arc_easy")}
    assert "not of the expected shape" in r["notes"][0]
    r = client.get("/api/runs/bench/review", params={"step": 10, "task": "arc_easy"}).json()
    assert [i["doc_id"] for i in r["items"]] == ["1", "2", "3", "4"]
    first = r["items"][0]
    assert (first["question"], first["choices"], first["gold"], first["choice"]) == (
        "Which animal is question 1 about?", ["a cat", "a dog", "a bird"], 0, 1)
    assert first["reasoning"].startswith("It purrs") and first["auto_reason"]
    page = client.get("/api/runs/bench/review", params={"step": 10, "offset": 1, "limit": 2}).json()
    assert page["total"] == 5 and [(i["task"], i["doc_id"]) for i in page["items"]] == [
        ("arc_easy", "2"), ("arc_easy", "3")]
    empty = client.get("/api/runs/plain/review").json()
    assert (empty["steps"], empty["items"], empty["step"], empty["summary"]) == ([], [], None, [])


def test_labelling_updates_the_share(client, root):
    put = lambda **b: client.put("/api/runs/bench/review/label", json={"step": 10, "task": "arc_easy", **b})
    res = put(doc_id="4", label="sound")
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["item"]["label"] == "sound" and body["item"]["label_source"] == "human"
    arc = next(s for s in body["summary"] if s["task"] == "arc_easy")
    assert (arc["sound"], arc["unsound"], arc["human"]) == (3, 1, 1)
    assert (arc["low"], arc["high"]) == pytest.approx((0.3006, 0.9544), abs=6e-5)  # Wilson 3/4
    assert put(doc_id="1", label="unsound").status_code == 200
    r = client.get("/api/runs/bench/review", params={"step": 10}).json()
    arc = next(s for s in r["summary"] if s["step"] == 10 and s["task"] == "arc_easy")
    assert arc["share"] == 0.5 and arc["human"] == 2
    line = next(t for t in r["figure"]["data"] if t["name"] == "arc_easy")  # the figure follows
    assert line["x"] == [10, 20] and line["y"] == [0.5, 1.0]
    assert put(doc_id="1", label=None).json()["item"]["label_source"] == "auto"  # cleared
    with RunStore.reader(root / "bench") as store:
        assert [(r.doc_id, r.label, r.source) for r in store.labels()] == [("4", "sound", "human")]


@pytest.mark.parametrize("body, status, says", [
    ({"step": 10, "task": "arc_easy", "doc_id": "1", "label": "good"}, 422, "sound"),
    ({"step": 10, "task": "arc_easy", "doc_id": "1"}, 422, "label"),
    ({"step": -1, "task": "arc_easy", "doc_id": "1", "label": "sound"}, 422, "step"),
    ({"step": 10, "task": "", "doc_id": "1", "label": "sound"}, 422, "task"),
    ({"step": "x", "task": "arc_easy", "doc_id": "1", "label": "sound"}, 422, "step"),
    ({"step": 2**63, "task": "arc_easy", "doc_id": "1", "label": "sound"}, 422, "step"),  # beyond SQLite: was a 500
    ({"step": 10**30, "task": "arc_easy", "doc_id": "1", "label": "sound"}, 422, "step"),
    ({"step": 99, "task": "arc_easy", "doc_id": "1", "label": "sound"}, 404, "no wrong answers at step 99"),
    ({"step": 10, "task": "mmlu", "doc_id": "1", "label": "sound"}, 404, "of task 'mmlu'"),
    ({"step": 10, "task": "arc_easy", "doc_id": "77", "label": "sound"}, 404, "no wrong answer '77'"),
    ({"step": 10, "task": "arc_easy", "doc_id": "0", "label": "sound"}, 404, "no wrong answer '0'"),  # right
    ({"step": 10, "task": "arc_easy", "doc_id": "9", "label": "sound"}, 404, "no wrong answer '9'"),  # malformed
])
def test_bad_labels_get_4xx_and_write_nothing(client, root, body, status, says):
    res = client.put("/api/runs/bench/review/label", json=body)
    assert res.status_code == status, res.text
    assert says in str(res.json()["detail"])
    with RunStore.reader(root / "bench") as store:
        assert store.labels() == []


@pytest.mark.parametrize("path, status", [
    ("/api/runs/bench/review?step=99", 404),
    ("/api/runs/bench/review?step=-3", 422),
    ("/api/runs/bench/review?step=abc", 422),
    (f"/api/runs/bench/review?step={2**63}", 422),
    ("/api/runs/bench/review?task=mmlu", 404),
    ("/api/runs/bench/review?task=" + "x" * 300, 422),
    ("/api/runs/bench/review?limit=0", 422),
    ("/api/runs/bench/review?limit=100000", 422),
    ("/api/runs/bench/review?offset=-1", 422),
    ("/api/runs/nope/review", 404),
    ("/api/runs/.hidden/review", 400),
    ("/api/runs/plain/review?step=1", 404),
])
def test_bad_review_queries_get_4xx(client, path, status):
    res = client.get(path)
    assert res.status_code == status, res.text
    assert res.json()["detail"]


def test_label_on_unknown_run_is_404(client):
    res = client.put("/api/runs/nope/review/label", json={"step": 1, "task": "t", "doc_id": "1", "label": "sound"})
    assert res.status_code == 404


def test_reading_never_writes_and_labels_touch_only_their_table(client, root):
    db = root / "bench" / "run.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    before = db.read_bytes()
    for path in ("/api/runs/bench/review", "/api/runs/bench/review?step=10&task=boolq",
                 "/api/runs/plain/review", "/api/runs/bench/panels"):
        assert client.get(path).status_code == 200
    assert db.read_bytes() == before  # a store is read as it is (plain's, without a labels table, too)
    rows = _dump(db)
    assert client.put("/api/runs/bench/review/label",
                      json={"step": 10, "task": "boolq", "doc_id": "0", "label": "sound"}).status_code == 200
    assert _dump(db) == rows  # metrics, events, samples, meta: unchanged
    assert client.get("/api/runs/bench/review?step=10&task=boolq").json()["items"][0]["label"] == "sound"
