"""``handhold grok --grid``: where does a curriculum (or Grokfast) help? Claims with their conditions.

A grid crosses conditions — task (one operation), p, train fraction, full batch vs minibatch,
optimizer — and runs, in every *cell*, the same *arms*: the baseline, the best curriculum of the
quick preset (operand subset first, advance when mastered) and Grokfast-EMA, over seeds, at
matched compute (every arm of a cell gets the same sample budget: ``epochs`` x the cell's
training pairs). Each cell is an ordinary experiment directory (``<grid>/<cell>``, reused when
rerun), so ``handhold runs`` and the per-cell report work on it.

Per cell and arm: the median steps to 99% validation accuracy with its bootstrap 95% interval
(seeds that never got there count as infinite); per arm against the baseline, paired by seed
(same split, same initialisation): wins / losses / ties, a two-sided **sign test** (exact
binomial; censored seeds take part, two "never"s tie) and, where at least ``MIN_WILCOXON`` seeds
reached 99% in both arms, a **Wilcoxon signed-rank test** on log(baseline / arm) (scipy). The
verdict is "faster" or "slower" only at p < ``ALPHA`` by the sign test; otherwise "no effect",
with the smallest p the seeds could have given, so a cell too small to decide says so.

The grid file (YAML) or a preset (``grid``: the full study; ``grid-small``: the reduced one that
fits a laptop)::

    name: grid
    base: literature           # a preset name, or experiment settings (task/model/optim/train/eval/measure)
    seeds: 3                   # seeds per cell ...
    headline: [{task: add, p: 97, train_frac: 0.3, batch: full}]
    headline_seeds: 10         # ... and for the headline cells (matched on the axes they name)
    epochs: 10000              # budget per run: epochs x training pairs samples (null: the base's)
    axes: {task: [add, mul, x2y2], p: [97, 113], train_frac: [0.3, 0.5], batch: [full, 512],
           optim: [{}]}        # optim: overrides of the optim section, e.g. {weight_decay: 0.1}
    arms: [...]                # default: baseline, subset-first-ready, grokfast-ema (the arm with
                               # baseline: true is the reference every other arm is compared with)
"""

from __future__ import annotations

import copy
import html
import itertools
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError

from ..yamlconfig import ConfigError, located, read_yaml
from ..yamlconfig import StrictModel as _Strict
from .config import GrokConfig, load_grok_config
from .presets import ARMS, GRIDS, PRESETS, preset

ALPHA = 0.05
MIN_WILCOXON = 6


class GridAxes(_Strict):
    task: list[str] = Field(default_factory=lambda: ["add"], min_length=1)
    p: list[int] = Field(default_factory=lambda: [97], min_length=1)
    train_frac: list[float] = Field(default_factory=lambda: [0.3], min_length=1)
    batch: list[Literal["full"] | int] = Field(default_factory=lambda: ["full"], min_length=1)
    optim: list[dict[str, Any]] = Field(default_factory=lambda: [{}], min_length=1)


class GridSpec(_Strict):
    name: str = Field(default="grid", pattern=r"^[A-Za-z0-9_.+-]+$")
    base: str | dict[str, Any] = "literature"
    seeds: int = Field(default=3, ge=1)
    headline: list[dict[str, Any]] = Field(default_factory=list)
    headline_seeds: int = Field(default=10, ge=1)
    epochs: int | None = Field(default=10000, gt=0)
    axes: GridAxes = Field(default_factory=GridAxes)
    arms: list[dict[str, Any]] = Field(default_factory=lambda: copy.deepcopy(ARMS), min_length=2)


def optim_label(override: dict[str, Any]) -> str:
    """``{}`` -> ``adamw``; ``{name: sgd, lr: 0.1}`` -> ``sgd-lr0.1``."""
    name = str(override.get("name", "adamw"))
    rest = "-".join(f"{k.replace('_', '')}{v}" for k, v in sorted(override.items()) if k != "name")
    return name + (f"-{rest}" if rest else "")


def cell_id(cell: dict[str, Any]) -> str:
    return (f"{cell['task']}-p{cell['p']}-f{cell['train_frac']:g}-"
            f"{'full' if cell['batch'] == 'full' else 'b' + str(cell['batch'])}-{optim_label(cell['optim'])}")


def cells(grid: GridSpec) -> list[dict[str, Any]]:
    """Every combination of the axes, headline cells first, each with its seed count."""
    a = grid.axes
    out = []
    for task, p, frac, batch, optim in itertools.product(a.task, a.p, a.train_frac, a.batch, a.optim):
        cell = {"task": task, "p": p, "train_frac": frac, "batch": batch, "optim": optim}
        head = any(all(cell.get(k) == v for k, v in h.items()) for h in grid.headline)
        cell.update(id=cell_id(cell), headline=head, seeds=grid.headline_seeds if head else grid.seeds)
        out.append(cell)
    return sorted(out, key=lambda c: not c["headline"])


def _base(grid: GridSpec) -> dict[str, Any]:
    if isinstance(grid.base, str):
        if grid.base not in PRESETS:
            raise ConfigError([f"grid {grid.name}: base: unknown preset {grid.base!r} (known: {', '.join(PRESETS)})"])
        data = preset(grid.base)
    else:
        data = copy.deepcopy(grid.base)
    return {k: v for k, v in data.items() if k not in ("variants", "seeds", "name")}


def cell_config(grid: GridSpec, cell: dict[str, Any]) -> GrokConfig:
    """The experiment of one cell: the base with the cell's conditions, the grid's arms, and a
    budget of ``epochs`` x training pairs samples for every arm (matched compute)."""
    from .tasks import make_task

    data = _base(grid)
    data["name"] = f"{grid.name}/{cell['id']}"
    data["task"] = {**data.get("task", {}), "ops": [cell["task"]], "p": cell["p"], "train_frac": cell["train_frac"]}
    data.setdefault("train", {})
    data["train"] = {**data["train"], "batch": cell["batch"]}
    data["optim"] = {**data.get("optim", {}), **cell["optim"]}
    if grid.epochs is not None:
        n_train = int(make_task(cell["task"], cell["p"], cell["train_frac"], 0).is_train.sum())
        data["train"]["budget"] = {"samples": grid.epochs * n_train}
    data["variants"] = copy.deepcopy(grid.arms)
    cfg = load_grok_config(data=data, source=f"grid {grid.name}, cell {cell['id']}")
    if not cfg.baselines():
        raise ConfigError([f"grid {grid.name}, cell {cell['id']}: arms: no baseline to compare the arms with "
                           "(declare one arm baseline: true)"])
    return cfg


# ------------------------------------------------------------------------------ statistics
def paired_test(base: list[int | None], arm: list[int | None], alpha: float = ALPHA) -> dict[str, Any]:
    """The arm against the baseline, seed by seed (``None``: never reached, counts as infinite).

    >>> r = paired_test([100] * 8, [50] * 8)
    >>> r["wins"], r["losses"], round(r["sign_p"], 4), r["verdict"]
    (8, 0, 0.0078, 'faster')
    >>> paired_test([100, None, 80], [90, None, 85])["verdict"]
    'no effect'
    """
    from scipy.stats import binomtest, wilcoxon

    inf = float("inf")
    b = [inf if v is None else float(v) for v in base]
    a = [inf if v is None else float(v) for v in arm]
    wins = sum(x < y for x, y in zip(a, b))
    losses = sum(x > y for x, y in zip(a, b))
    ties = len(a) - wins - losses
    n = wins + losses
    sign_p = float(binomtest(wins, n, 0.5).pvalue) if n else 1.0
    finite = [(y, x) for x, y in zip(a, b) if math.isfinite(x) and math.isfinite(y)]
    wil_p = None
    if len(finite) >= MIN_WILCOXON:
        d = np.log([y / x for y, x in finite])
        if np.any(d != 0):
            wil_p = float(wilcoxon(d).pvalue)
    if sign_p < alpha:
        verdict = "faster" if wins > losses else "slower"
    else:
        verdict = "no effect"
    return {"wins": wins, "losses": losses, "ties": ties, "sign_p": sign_p, "wilcoxon_p": wil_p,
            "wilcoxon_pairs": len(finite), "min_possible_p": float(2 * 0.5 ** n) if n else 1.0,
            "verdict": verdict, "alpha": alpha}


def cell_result(cell: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """Arms (median + CI) and each arm against the declared baseline, from an experiment summary."""
    variants = summary["variants"]
    base = next(v for v in variants if v["baseline"])
    arms = [{"name": v["name"], "median_steps_to_val99": v["median_steps_to_val99"], "ci95": v["ci95"],
             "steps_to_val99": v["steps_to_val99"], "generalized": v["generalized"],
             "median_samples_to_val99": v["median_samples_to_val99"],
             "grokked": v.get("grokked")} for v in variants]
    comparisons = []
    for v in (v for v in variants if v is not base):
        test = paired_test(base["steps_to_val99"], v["steps_to_val99"])
        a, b = base["median_steps_to_val99"], v["median_steps_to_val99"]
        speedup = None if a is None or b is None else round(a / b, 3)
        comparisons.append({"arm": v["name"], "vs": base["name"], "speedup": speedup, **test})
    return {**{k: cell[k] for k in ("id", "task", "p", "train_frac", "batch", "optim", "headline")},
            "seeds": summary["seeds"], "arms": arms, "comparisons": comparisons}


# ------------------------------------------------------------------------------ running
def load_grid(source: str | Path) -> GridSpec:
    """A grid preset name or a grid YAML file; ``ConfigError`` lines name the file, line and key."""

    if str(source) in GRIDS:
        data, lines, where = copy.deepcopy(GRIDS[str(source)]), {}, f"grid preset {source}"
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError([f"--grid {source}: neither a grid preset ({', '.join(GRIDS)}) nor a file"])
        data, lines = read_yaml(path, "grid file")
        where = str(path)
    try:
        return GridSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([located(err, data, where, lines, set(), GridSpec) for err in exc.errors()]) from None


def run_grid(grid: GridSpec, out: str | Path, *, seeds: int | None = None, reuse: bool = True,
             report: bool = False, only_cells: int | None = None,
             log: Callable[[str], None] = lambda line: None, **run_kw: Any) -> dict[str, Any]:
    """Run (or reuse) every cell, headline cells first; write ``grid.json`` and ``grid.html``.

    ``seeds`` replaces the grid's seeds for the non-headline cells; ``only_cells`` runs the first
    N cells (the rest are listed as not run); ``run_kw`` go to ``run_experiment`` (``jobs``,
    ``batched``, ``executor``: the lab's engines)."""
    from .experiment import run_experiment

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    todo = cells(grid)
    configs = [(c, cell_config(grid, c)) for c in todo]  # every cell validated before any training
    results, not_run = [], []
    for i, (cell, cfg) in enumerate(configs):
        if not cell["headline"] and seeds is not None:
            cell["seeds"] = seeds
        if only_cells is not None and i >= only_cells:
            not_run.append({k: cell[k] for k in ("id", "seeds")})
            continue
        log(f"cell {i + 1}/{len(todo)} {cell['id']} ({cell['seeds']} seeds{', headline' if cell['headline'] else ''})")
        summary = run_experiment(cfg, out / cell["id"], seeds=cell["seeds"], reuse=reuse,
                                 log=lambda line: log("  " + line), **run_kw)
        if report:
            from .report import write_grok_report

            write_grok_report(out / cell["id"], summary)
        results.append(cell_result(cell, summary))
        _write(out, grid, results, not_run + [{"id": c["id"], "seeds": c["seeds"]} for c, _ in configs[i + 1:]])
    return _write(out, grid, results, not_run)


def _write(out: Path, grid: GridSpec, results: list[dict[str, Any]], not_run: list[dict[str, Any]]
           ) -> dict[str, Any]:
    """``grid.json`` and ``grid.html`` as they stand (after every cell: a cut-short grid keeps its cells)."""
    doc = {"name": grid.name, "dir": str(out), "alpha": ALPHA, "epochs": grid.epochs,
           "arms": [a["name"] for a in grid.arms], "cells": results, "not_run": not_run,
           "grid": grid.model_dump(mode="json")}
    tmp = out / "grid.json.tmp"
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, out / "grid.json")
    write_grid_report(out, doc)
    return doc


def run_grid_command(grid: GridSpec, out: Path, *, seeds: int | None, fresh: bool, report: bool,
                     cells: int | None, json_out: bool, say: Any, err: Any, fail: Callable[[str], None],
                     **run_kw: Any) -> None:
    """``handhold grok --grid``: run, print the grid table (or the JSON document). ``run_kw``
    (``jobs``, ``executor``, ``batched``, ...) go to every cell's ``run_experiment``."""
    import sys

    from .tasks import TaskError

    try:
        doc = run_grid(grid, out, seeds=seeds, reuse=not fresh, report=report, only_cells=cells,
                       log=lambda line: err.print(line, highlight=False), **run_kw)
    except (ConfigError, TaskError, ValueError) as exc:  # ValueError: a curriculum stage with no examples
        fail(str(exc))
        return
    if json_out:
        sys.stdout.write(json.dumps({k: v for k, v in doc.items() if k != "grid"}, indent=1) + "\n")
        return
    say.print(grid_table(doc))
    say.print(f"grid:   {out}\nreport: {out / 'grid.html'}")


# ------------------------------------------------------------------------------ output
def _n(v: Any, never: str = "never") -> str:
    return never if v is None else f"{v:,.0f}"


def _p(v: float | None) -> str:
    return "–" if v is None else f"{v:.3g}"


def verdict_text(c: dict[str, Any]) -> str:
    """"faster (8/10 seeds, sign p 0.02)" / "no effect (4 faster, 3 slower, 3 tied; p 1)"."""
    counts = f"{c['wins']} faster, {c['losses']} slower, {c['ties']} tied"
    if c["verdict"] == "no effect":
        small = c["min_possible_p"] >= c["alpha"]
        return (f"no effect ({counts}; sign p {_p(c['sign_p'])}"
                + ("; too few seeds to show one" if small else "") + ")")
    return f"{c['verdict']} ({counts}; sign p {_p(c['sign_p'])})"


def grid_rows(doc: dict[str, Any]) -> list[list[str]]:
    rows = []
    for cell in doc["cells"]:
        base = cell["arms"][0]
        arms = {a["name"]: a for a in cell["arms"]}
        for c in cell["comparisons"]:
            arm = arms[c["arm"]]
            rows.append([cell["id"] + (" ★" if cell["headline"] else ""), str(cell["seeds"]),
                         f"{_n(base['median_steps_to_val99'])} [{_n(base['ci95'][0])}, {_n(base['ci95'][1])}]",
                         c["arm"],
                         f"{_n(arm['median_steps_to_val99'])} [{_n(arm['ci95'][0])}, {_n(arm['ci95'][1])}]",
                         "–" if c["speedup"] is None else f"{c['speedup']:.2f}×",
                         _p(c["wilcoxon_p"]), verdict_text(c)])
    return rows


GRID_COLUMNS = ["cell", "seeds", "baseline →99% [95% CI]", "arm", "arm →99% [95% CI]", "speed-up", "Wilcoxon p",
                "verdict (paired by seed)"]


def grid_table(doc: dict[str, Any]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{doc['name']}: where does it help? (★ headline cells)", title_justify="left",
                  show_edge=False, header_style="bold", show_lines=False)
    for col in GRID_COLUMNS:
        table.add_column(col, justify="left" if col in (GRID_COLUMNS[0], "arm", GRID_COLUMNS[-1]) else "right",
                         overflow="fold")
    for row in grid_rows(doc):
        table.add_row(*(escape(c) for c in row))  # "[lo, hi]" is not markup
    notes = [_CAPTION]
    if doc["not_run"]:
        notes.append("not run: " + ", ".join(c["id"] for c in doc["not_run"]))
    table.caption = "\n".join(notes)
    return table


_CAPTION = ("cell: task-p-train fraction-batch-optimizer; steps to 99% validation accuracy, medians over seeds with bootstrap 95% intervals (never = not "
            "within the budget, counted as infinite); every arm of a cell has the same sample budget; verdict: "
            f"two-sided sign test over seeds paired with the baseline, 'faster'/'slower' only at p < {ALPHA}")


def write_grid_report(out: Path, doc: dict[str, Any]) -> Path:
    """``grid.html``: the grid table first, then the cells (with links to their reports)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in GRID_COLUMNS)
    body_rows = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>"
                        for row in grid_rows(doc))
    cells_html = []
    for cell in doc["cells"]:
        link = f"{cell['id']}/report.html"
        has = (out / link).is_file()
        cells_html.append(f"<li>{html.escape(cell['id'])}: {cell['seeds']} seeds"
                          + (f" · <a href='{html.escape(link)}'>report</a>" if has else "") + "</li>")
    not_run = "".join(f"<li>{html.escape(c['id'])} ({c['seeds']} seeds planned)</li>" for c in doc["not_run"])
    page = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(doc['name'])}</title>"
            f"<style>{_CSS}</style></head><body><h1>grokking lab grid: {html.escape(doc['name'])}</h1>"
            f"<table class=cmp><thead><tr>{head}</tr></thead><tbody>{body_rows}</tbody></table>"
            f"<p class=note>{html.escape(_CAPTION)}</p><h2>Cells</h2><ul>{''.join(cells_html)}</ul>"
            + (f"<h2>Not run</h2><ul>{not_run}</ul>" if not_run else "")
            + f"<footer>handhold grok --grid · {html.escape(str(out))} · {time.strftime('%Y-%m-%d %H:%M:%S')}"
            "</footer></body></html>")
    path = out / "grid.html"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    return path


_CSS = ("body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1250px;color:#222}"
        "table.cmp{border-collapse:collapse;font-size:.85rem;font-variant-numeric:tabular-nums}"
        "table.cmp th,table.cmp td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left}"
        ".note,footer{color:#666;font-size:.8rem}")
