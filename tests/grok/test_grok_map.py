"""The map's statistics on numbers whose answer is known, and the shipped map files."""

import math

import pytest

from handhold.grok.grid import (cell_config, cell_result, cells, delay_prediction, grid_rows, load_grid,
                                speedup_ci, write_grid_report)


def test_speedup_interval_is_paired_and_counts_never_honestly():
    assert speedup_ci([100, 200, 400, 800], [50, 100, 200, 400]) == (2.0, [2.0, 2.0])  # every seed 2x: no spread
    point, (lo, hi) = speedup_ci([100, 300, 200, 400, 250], [100, 100, 100, 100, 100])
    assert point == 2.5 and lo <= 2.5 <= hi and lo >= 1.0 and hi <= 4.0
    assert speedup_ci([100, 100, 100], [None, None, None]) == (0.0, [0.0, 0.0])  # the arm never got there
    point, ci = speedup_ci([None, None, None], [100, 100, 100])
    assert point is None and ci == [None, None]  # infinitely faster: no finite ratio, printed as such
    assert speedup_ci([None, None], [None, None]) == (None, [None, None])  # never vs never: no ratio


def _summary(base, arm, *, delay, code="0.1.0@abc"):
    def variant(name, steps, baseline):
        return {"name": name, "baseline": baseline, "steps_to_val99": steps, "median_steps_to_val99": _med(steps),
                "ci95": [None, None], "steps_to_val95": steps, "median_steps_to_val95": _med(steps),
                "ci95_val95": [None, None], "median_samples_to_val99": None, "ci95_samples": [None, None],
                "generalized": 1.0, "grokked": [], "median_delay": delay if baseline else None,
                "delay": [delay] * len(steps) if baseline else [], "code": code}
    return {"seeds": len(base), "code": code,
            "variants": [variant("baseline", base, True), variant("subset-first-ready", arm, False)]}


def _med(v):
    x = sorted(math.inf if s is None else s for s in v)
    m = x[len(x) // 2] if len(x) % 2 else (x[len(x) // 2 - 1] + x[len(x) // 2]) / 2
    return None if math.isinf(m) else m


def _cell(i, base, arm, delay):
    cell = {"id": f"c{i}", "task": "add", "p": 31, "train_frac": 0.5, "batch": "full", "optim": {}, "headline": False}
    return cell_result(cell, _summary(base, arm, delay=delay))


def test_cell_rows_print_no_effect_as_plainly_as_a_win_with_the_code():
    win = _cell(0, [200] * 8, [100] * 8, 150)
    null = _cell(1, [100, 120, 90, 110, 100], [110, 100, 95, 100, None], 50)
    doc = {"cells": [win, null]}
    assert win["comparisons"][0]["verdict"] == "faster" and win["comparisons"][0]["speedup"] == 2.0
    assert null["comparisons"][0]["verdict"] == "no effect" and win["code"] == "0.1.0@abc"
    rows = grid_rows(doc)
    assert rows[0][12].startswith("faster (8 faster, 0 slower") and rows[0][-1] == "0.1.0@abc"
    assert rows[1][12].startswith("no effect (2 faster, 3 slower") and rows[1][7].startswith("100 ")
    assert rows[0][4] == "150"  # the baseline's delay
    assert rows[0][9] == "2.00× [2, 2]"  # the 95% target's speed-up carries its paired interval too
    assert win["comparisons"][0]["val95"]["verdict"] == "faster"  # the 95% target is tested too


def test_the_prediction_reads_the_rank_correlation_plainly():
    delays = [100, 300, 900, 2700, 8100]
    grows = {"cells": [_cell(i, [d + 100] * 6, [(d + 100) / (1 + i)] * 6, d) for i, d in enumerate(delays)]}
    got = delay_prediction(grows)
    assert got["n"] == 5 and got["rho"] == 1.0 and got["supported"] and got["sentence"].startswith("Supported")
    shrinks = {"cells": [_cell(i, [d + 100] * 6, [(d + 100) / (5 - i)] * 6, d) for i, d in enumerate(delays)]}
    got = delay_prediction(shrinks)
    assert got["rho"] == -1.0 and got["supported"] is False and got["sentence"].startswith("Not supported")
    both_never = _cell(10, [None] * 6, [None] * 6, None)
    few = {"cells": grows["cells"][:2] + [both_never]}
    got = delay_prediction(few)  # no speed-up at all where neither generalised: listed, not used
    assert got["supported"] is None and got["n"] == 2 and [p["cell"] for p in got["left_out"]] == ["c10"]
    assert got["sentence"].startswith("Not testable yet: 2 cell(s)")
    # a baseline that never generalised while the arm did: the longest delay and the largest
    # speed-up, ranked (censored), not dropped: dropping it would hide the cell that matters most
    censored = {"cells": grows["cells"][:3] + [_cell(9, [None] * 6, [100] * 6, None), both_never]}
    got = delay_prediction(censored)
    assert got["n"] == 4 and [p["censored"] for p in got["points"]] == [False, False, False, True]
    assert got["rho"] == 1.0 and "1 of them with a baseline that never generalised" in got["sentence"]
    assert got["points"][-1]["delay"] is None and got["points"][-1]["speedup"] is None  # JSON stays finite
    against = {"cells": shrinks["cells"][:3] + [_cell(9, [None] * 6, [100] * 6, None)]}
    assert delay_prediction(against)["rho"] < 1.0  # the censored cell counts against a falling trend


def test_the_report_writes_the_plot_and_the_sentence(tmp_path):
    delays = [100, 300, 900, 2700]
    doc = {"name": "t", "cells": [_cell(i, [d + 100] * 6, [(d + 100) / (1 + i)] * 6, d) for i, d in enumerate(delays)],
           "not_run": []}
    doc["prediction"] = delay_prediction(doc)
    write_grid_report(tmp_path, doc)
    page = (tmp_path / "grid.html").read_text()
    assert "speedup_vs_delay.html" in page and doc["prediction"]["sentence"].split(":")[0] in page
    plot = (tmp_path / "speedup_vs_delay.html").read_text()
    assert "plotly" in plot.lower() and "c3" in plot


def test_the_shipped_maps_cross_the_conditions_with_the_five_arms():
    full = load_grid("grok_map")  # found by name among the bundled grids
    todo = cells(full)
    assert len(todo) == 2 * 3 * 3 * 2
    heads = [(c["id"], c["seeds"]) for c in todo if c["headline"]]
    assert heads == [("add-p113-f0.3-full-adamw", 10), ("mul-p97-f0.5-b512-adamw", 10)]
    assert {c["seeds"] for c in todo if not c["headline"]} == {5}
    arms = [a["name"] for a in full.arms]
    assert arms == ["baseline", "subset-first-ready", "random-first-ready", "grokfast-ema", "subset-first-ready+ema"]
    cfg = cell_config(full, todo[0])
    assert cfg.baselines() == ["baseline"] or list(cfg.baselines()) == ["baseline"]
    runs = {r.variant: r for r in cfg.runs()}
    assert runs["subset-first-ready+ema"].grokfast is not None and runs["subset-first-ready+ema"].curriculum
    assert len({r.train.budget.samples for r in runs.values()}) == 1  # matched compute
    cpu = load_grid("grok_map_cpu")
    assert [a["name"] for a in cpu.arms] == arms and cells(cpu)[0]["seeds"] == 10


def test_the_cpu_headline_grid_is_the_maps_headline_cell_with_only_compute_saved():
    """grok_map_nanda runs Nanda's cell of grok_map on one CPU: the same task, model, optimiser,
    evaluation and curriculum arms; only the stop patience and the budget are shorter."""
    full, nanda = load_grid("grok_map"), load_grid("grok_map_nanda")
    (cell,) = cells(nanda)
    assert cell["headline"] and cell["seeds"] == 10
    same = next(c for c in cells(full) if c["id"] == cell["id"])
    a, b = cell_config(full, same), cell_config(nanda, cell)
    for section in ("task", "model", "optim", "eval"):
        assert getattr(a, section) == getattr(b, section), section
    arms_a = {r.variant: r for r in a.runs()}
    for r in b.runs():
        assert r.curriculum == arms_a[r.variant].curriculum
    assert (b.train.stop_patience, a.train.stop_patience) == (100, 1000)
    assert b.train.budget.samples * 2 == a.train.budget.samples


@pytest.mark.parametrize("p", [31, 97, 113])
def test_the_control_has_the_curriculum_stage_size_and_readiness_rule(p):
    from handhold.grok.curricula import CurriculumSpec, build_stages
    from handhold.grok.tasks import make_task

    full = load_grid("grok_map")
    arms = {a["name"]: a for a in full.arms}
    sub, ctl = arms["subset-first-ready"]["curriculum"], arms["random-first-ready"]["curriculum"]
    assert sub["switch"] == ctl["switch"]  # the same readiness rule
    task = make_task("add", p, 0.3, 0)
    first = [len(build_stages(CurriculumSpec.model_validate(c), task, 0)[0].rows) for c in (sub, ctl)]
    assert abs(first[0] - first[1]) / first[1] < 0.15  # about the same first stage


def test_collect_tabulates_what_a_cut_short_sweep_finished_and_trains_nothing(tmp_path):
    import shutil

    from handhold.grok.grid import GridSpec, run_grid

    toy = GridSpec.model_validate({
        "name": "toy", "seeds": 2, "epochs": 20, "headline": [{"train_frac": 0.5}], "headline_seeds": 3,
        "base": {"model": {"d_model": 16, "heads": 2, "d_mlp": 32}, "train": {"stop_at_val": None},
                 "eval": {"every": 5, "per_decade": 0}, "measure": {"enabled": False}},
        "axes": {"task": ["add"], "p": [11], "train_frac": [0.5, 0.4]},
        "arms": [{"name": "baseline", "baseline": True}, {"name": "ema", "grokfast": {"kind": "ema"}}]})
    run_grid(toy, tmp_path, only_cells=1, jobs=1)
    shutil.rmtree(tmp_path / "add-p11-f0.5-full-adamw" / "ema-s2")  # the sweep was cut during seed 2
    lines = []
    doc = run_grid(toy, tmp_path, collect=True, log=lines.append)
    (cell,) = doc["cells"]
    assert cell["seeds"] == 2 and cell["seeds_planned"] == 3 and len(cell["arms"][0]["steps_to_val99"]) == 2
    assert [c["id"] for c in doc["not_run"]] == ["add-p11-f0.4-full-adamw"]
    assert not (tmp_path / "add-p11-f0.4-full-adamw").exists() and not (tmp_path / "add-p11-f0.5-full-adamw" / "ema-s2").exists()
    assert grid_rows(doc)[0][1] == "2 of 3" and any("2 of 3 seeds finished" in ln for ln in lines)
