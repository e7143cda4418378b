"""Run comparison: the document both pages draw (colours, alignment data, config differences,
final values with their Wilson intervals), the static page ``handhold report A B -o`` writes,
and the dashboard's ``/api/compare``."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

import handhold
from compare_runs import write_pair  # tests/views/compare_runs.py
from handhold.cli import app as cli_app
from handhold.views.compare import (PALETTE, compare_doc, config_diff, run_color, run_colors,
                                    wilson_interval, write_compare)


@pytest.fixture
def pair(tmp_path):
    return write_pair(tmp_path / "runs")


def test_colours_depend_on_the_name_only():
    assert run_color("curriculum") == run_color("curriculum") and run_color("curriculum") in PALETTE
    one = run_colors(["b-run", "a-run"])
    assert one == run_colors(["a-run", "b-run"])  # not the list order
    assert run_colors(["a-run", "c-run"])["a-run"] == one["a-run"]  # not the other runs either
    # names that hash alike still get two colours
    names = [f"run{i}" for i in range(200)]
    clash = next((a, b) for a in names for b in names if a < b and run_color(a) == run_color(b))
    colours = run_colors(clash)
    assert len(set(colours.values())) == 2 and colours[clash[0]] == run_color(clash[0])


def test_config_diff_keeps_only_differing_dotted_keys():
    rows = config_diff({"a": {"optim": {"lr": 1, "wd": 0}, "seed": 0, "tags": [1]},
                        "b": {"optim": {"lr": 2, "wd": 0}, "seed": 0, "tags": [1], "extra": "x"}})
    assert rows == [{"key": "extra", "values": {"a": None, "b": "x"}},
                    {"key": "optim.lr", "values": {"a": 1, "b": 2}}]
    assert config_diff({"a": {"x": 1}, "b": {"x": 1}}) == []
    nan = config_diff({"a": {"x": float("nan"), "y": [float("inf")]}, "b": {"x": 1.0, "y": [1]}})
    assert json.dumps(nan, allow_nan=False) and nan[0]["values"]["a"] == "nan"  # a page can send it


def test_compare_doc(pair):
    cur, base = pair
    doc = compare_doc([cur, base])
    assert [r["id"] for r in doc["runs"]] == ["curriculum", "baseline"]
    assert doc["key"] == "eval/loss/physics"  # a held-out loss both runs have
    assert doc["axes"] == ["step", "tokens", "samples"]
    c, b = doc["runs"]
    assert c["color"] == run_colors(["curriculum", "baseline"])["curriculum"] != b["color"]
    assert [(s["name"], s["start"], s["end"]) for s in c["stages"]] == [("general", 0, 20), ("physics", 20, 40)]
    assert [(s["name"], s["reason"]) for s in b["stages"]] == [("mixed", "budget")]
    assert list(c["series"]) == ["eval/loss/physics"] and c["series"]["eval/loss/physics"]["steps"][:2] == [5, 10]
    assert c["axes"]["tokens"]["values"][-1] == 768 * 40 and b["axes"]["tokens"]["values"][-1] == 512 * 40

    assert {r["key"]: r["values"] for r in doc["config_diff"]} == {
        "optim.lr": {"curriculum": 3e-3, "baseline": 1e-3},
        "stages": {"curriculum": [{"name": "general"}, {"name": "physics"}], "baseline": [{"name": "mixed"}]}}

    finals = {r["key"]: r["values"] for r in doc["finals"]}
    assert set(finals) == {"eval/loss/physics", "eval/arc_easy/acc", "eval/boolq/acc"}  # scores, not counts
    arc = finals["eval/arc_easy/acc"]["curriculum"]
    assert (arc["value"], arc["step"], arc["n"]) == (0.75, 40, 32)
    assert (arc["low"], arc["high"]) == pytest.approx(wilson_interval(24, 32))
    assert 0.57 < arc["low"] < 0.6 and 0.86 < arc["high"] < 0.89  # 24/32: about 58-87%
    assert finals["eval/boolq/acc"]["baseline"]["low"] is None  # no count: n/a
    assert finals["eval/loss/physics"]["baseline"]["n"] is None

    every = compare_doc([cur, base], every_key=True)
    assert set(every["runs"][0]["series"]) == set(every["keys"]) and len(every["keys"]) == 7


def test_cot_score_counts_the_answer_events(tmp_path):
    import handhold

    run_dir = tmp_path / "r"
    with handhold.init(run_dir) as run:
        run.log({"eval/arc_easy/cot_acc": 0.5}, step=10)
        for doc in range(6):
            run.event("answer", step=10, task="arc_easy", doc_id=str(doc), correct=doc < 3)
        run.event("answer", step=10, task="boolq", doc_id="0", correct=True)
    final = {r["key"]: r["values"]["r"] for r in compare_doc([run_dir])["finals"]}["eval/arc_easy/cot_acc"]
    assert final["n"] == 6 and (final["low"], final["high"]) == pytest.approx(wilson_interval(3, 6))


def test_report_of_two_runs_writes_the_compare_page(pair, tmp_path):
    cur, base = pair
    out = tmp_path / "compare.html"
    res = CliRunner().invoke(cli_app, ["report", str(cur), str(base), "-o", str(out)])
    assert res.exit_code == 0, res.output
    page = out.read_text(encoding="utf-8")
    assert "HandholdCompare.mount" in page and "Plotly" in page  # offline: plotly and the view inlined
    data = json.loads(re.search(r"HandholdCompare\.mount\(document\.getElementById\(\"compare-root\"\), (.*)\);\n",
                                page).group(1))
    assert [r["id"] for r in data["runs"]] == ["curriculum", "baseline"]
    assert set(data["runs"][1]["series"]) == set(data["keys"])  # every metric a pick away
    assert "<script src=" not in page  # nothing fetched


def test_report_of_one_run_is_todays_report(pair, tmp_path):
    from handhold.views.report import write_report

    cur, _ = pair
    res = CliRunner().invoke(cli_app, ["report", str(cur), "-o", str(tmp_path / "one.html")])
    assert res.exit_code == 0, res.output
    expected = write_report(cur, tmp_path / "direct.html").read_text(encoding="utf-8")
    # the same page but for the time in its footer and plotly's random div ids
    stamp = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</footer>|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    got = (tmp_path / "one.html").read_text(encoding="utf-8")
    assert stamp.sub("", got) == stamp.sub("", expected) and "HandholdCompare" not in got


def test_report_refuses_a_run_that_is_not_there(pair, tmp_path):
    cur, _ = pair
    res = CliRunner().invoke(cli_app, ["report", str(cur), str(tmp_path / "nope"), "-o", str(tmp_path / "c.html")])
    assert res.exit_code != 0 and "no run store" in res.output


def test_api_compare(pair):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from handhold.views.dashboard import create_app

    cur, _ = pair
    client = TestClient(create_app(cur.parent, phases_process=False), base_url="http://127.0.0.1:8765")  # a loopback Host
    doc = client.get("/api/compare", params={"runs": "curriculum,baseline"}).json()
    assert [r["id"] for r in doc["runs"]] == ["curriculum", "baseline"] and doc["key"] == "eval/loss/physics"
    same = client.get("/api/compare", params=[("runs", "baseline"), ("runs", "curriculum")]).json()
    assert {r["id"]: r["color"] for r in same["runs"]} == {r["id"]: r["color"] for r in doc["runs"]}
    one = client.get("/api/compare", params={"runs": "curriculum,baseline", "key": "train/loss"}).json()
    assert list(one["runs"][1]["series"]) == ["train/loss"]
    assert client.get("/api/compare", params={"runs": "curriculum", "key": "eval/nope"}).status_code == 404
    assert client.get("/api/compare", params={"runs": "curriculum,ghost"}).status_code == 404
    assert client.get("/api/compare", params={"runs": "../x"}).status_code == 400
    assert client.get("/api/compare", params={"runs": ",".join(["curriculum"] * 2 + [f"r{i}" for i in range(13)])}
                      ).status_code == 400
    assert client.get("/api/compare").status_code == 422


def test_write_compare_refuses_nothing_silently(pair, tmp_path):
    cur, base = pair
    path = write_compare([cur, base], tmp_path / "sub" / "c.html")
    assert path.is_file() and not path.with_name("c.html.tmp").exists()


def test_a_final_benchmark_value_carries_the_band_its_documents_give(tmp_path):
    """Where an eval recorded its documents (``benchmark_docs``), the final value's interval is
    the band the report draws from them: Wilson over the task's 0/1 scores."""
    from handhold.doc_scores import EVENT
    from handhold.runstore.db import RunStore
    from handhold.views.compare import final_value
    from handhold.views.review_share import wilson_interval

    scores = [1.0] * 24 + [0.0] * 8
    with handhold.init(tmp_path / "r") as run:
        run.log({"eval/arc_easy/acc": 0.75}, step=10)
        run.event(EVENT, step=10, suite={"name": "toy", "version": 1, "digest": "d"}, prefix="eval/",
                  tasks={"arc_easy": {"family": "reasoning", "ids": [str(i) for i in range(32)],
                                      "scores": {"acc": scores}, "members": [["acc", 0.25, "acc"]]}})
    with RunStore.reader(tmp_path / "r") as store:
        got = final_value(store, "eval/arc_easy/acc")
    low, high = wilson_interval(24, 32)
    assert got["n"] == 32 and got["low"] == pytest.approx(low) and got["high"] == pytest.approx(high)
