"""``handhold grok --grid``: cells, matched budgets, paired tests, the table and its errors."""

import json

import pytest
import yaml
from scipy.stats import binomtest
from typer.testing import CliRunner

from handhold.cli import app
from handhold.grok.grid import cell_config, cells, load_grid, paired_test, verdict_text

runner = CliRunner()

TOY_GRID = {
    "name": "toy-grid", "seeds": 2, "epochs": 30,
    "base": {"model": {"d_model": 16, "heads": 2, "d_mlp": 32}, "optim": {"lr": 3.0e-3},
             "train": {"stop_at_val": None}, "eval": {"every": 5, "per_decade": 2}, "measure": {"enabled": False}},
    "headline": [{"train_frac": 0.5}], "headline_seeds": 3,
    "axes": {"task": ["add"], "p": [11], "train_frac": [0.4, 0.5], "batch": ["full"], "optim": [{}]},
    "arms": [{"name": "baseline"}, {"name": "ema", "grokfast": {"kind": "ema"}}],
}


def test_cells_headline_first_with_their_seeds_and_matched_budgets():
    grid = load_grid_data(TOY_GRID)
    got = cells(grid)
    assert [(c["id"], c["seeds"], c["headline"]) for c in got] == [
        ("add-p11-f0.5-full-adamw", 3, True), ("add-p11-f0.4-full-adamw", 2, False)]
    cfg = cell_config(grid, got[1])
    budgets = {r.variant: r.train.budget.samples for r in cfg.runs()}
    assert budgets == {"baseline": 30 * 48, "ema": 30 * 48}  # 40% of 121 pairs = 48, 30 epochs each arm
    full = load_grid("grid")
    assert len(cells(full)) == 3 * 2 * 2 * 2 * 2 and cells(full)[0]["seeds"] == 10
    assert sum(c["id"].endswith("-adam-weightdecay0.005") for c in cells(full)) == 24  # the optimizer axis
    adam = next(c for c in cells(full) if c["optim"])
    assert cell_config(full, adam).runs()[2].optim.name == "adam"  # every arm of the cell


def load_grid_data(data):
    from handhold.grok.grid import GridSpec

    return GridSpec.model_validate(data)


def test_paired_test_matches_the_binomial_and_says_no_effect_plainly():
    r = paired_test([100, 200, 300, 400, 500, 600, 700, None], [50, 90, 100, 150, 200, 250, 300, 350])
    assert (r["wins"], r["losses"], r["ties"]) == (8, 0, 0) and r["verdict"] == "faster"
    assert r["sign_p"] == pytest.approx(binomtest(8, 8, 0.5).pvalue) and r["wilcoxon_pairs"] == 7
    assert r["wilcoxon_p"] is not None and r["wilcoxon_p"] < 0.05
    slower = paired_test([50] * 7, [60] * 7)
    assert slower["verdict"] == "slower" and verdict_text(slower).startswith("slower (0 faster, 7 slower")
    mixed = paired_test([100, 100, 100, 100, None], [90, 110, 95, 120, None])
    assert mixed["verdict"] == "no effect" and (mixed["wins"], mixed["losses"], mixed["ties"]) == (2, 2, 1)
    assert verdict_text(mixed) == "no effect (2 faster, 2 slower, 1 tied; sign p 1; too few seeds to show one)"
    assert paired_test([None, None], [None, None])["verdict"] == "no effect"


def test_grid_command_runs_every_cell_and_the_report_leads_with_the_table(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(TOY_GRID))
    res = runner.invoke(app, ["grok", "--grid", str(path), "--json", "--out", str(tmp_path / "g"), "--no-report", "--jobs", "1"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [c["id"] for c in doc["cells"]] == ["add-p11-f0.5-full-adamw", "add-p11-f0.4-full-adamw"]
    head = doc["cells"][0]
    assert head["seeds"] == 3 and [a["name"] for a in head["arms"]] == ["baseline", "ema"]
    (cmp,) = head["comparisons"]
    assert cmp["arm"] == "ema" and cmp["wins"] + cmp["losses"] + cmp["ties"] == 3
    assert (tmp_path / "g" / "add-p11-f0.4-full-adamw" / "baseline-s1" / "run.db").is_file()
    page = (tmp_path / "g" / "grid.html").read_text()
    assert page.index("<table") < page.index("<h2>Cells")  # the table leads
    res = runner.invoke(app, ["grok", "--grid", str(path), "--out", str(tmp_path / "g"), "--no-report", "--cells", "1", "--jobs", "1"])
    assert res.exit_code == 0 and "finished earlier, reused" in res.output  # reruns reuse
    assert "no effect" in res.output or "faster" in res.output or "slower" in res.output
    assert "]" in res.output.split("add-p11-f0.5-full-adamw")[1]  # the intervals print (not eaten as markup)
    assert "not run: add-p11-f0.4-full-adamw" in res.output.replace("\n", " ")


def test_grid_errors_are_one_line_with_the_place(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: g\naxes:\n  task: [add]\n  pp: [31]\n")
    res = runner.invoke(app, ["grok", "--grid", str(bad)])
    assert res.exit_code == 2 and f"{bad}:4: axes.pp: unknown key 'pp'" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["grok", "--grid", "nope"])
    assert res.exit_code == 2 and "neither a grid preset (grid, grid-small) nor a file" in res.output
    res = runner.invoke(app, ["grok", "--grid", "grid", "--preset", "quick"])
    assert res.exit_code == 2 and "--grid runs its own cells" in res.output
