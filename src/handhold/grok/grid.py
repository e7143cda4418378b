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

Longer than most modules: the grid file's schema, its expansion into cells, the per-arm
statistics and the grid's report read one table of rows; splitting the statistics out
(``grid_stats``) is the next step when it grows again.
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


def speedup_ci(base: list[int | None], arm: list[int | None], n_boot: int = 2000, level: float = 0.95,
               seed: int = 0) -> tuple[float | None, list[float | None]]:
    """Baseline median / arm median (above 1: the arm is faster) and its paired percentile-bootstrap
    interval (seeds resampled together, so each keeps its split and initialisation in both arms).

    ``None`` (never reached) counts as infinite: an arm that never gets there against a baseline
    that does is a speed-up of 0; the reverse is infinite (``None`` in the interval); a resample
    where both medians are infinite has no ratio and is left out.

    >>> speedup_ci([100, 200, 400], [50, 100, 200], n_boot=200)
    (2.0, [2.0, 2.0])
    """
    b = np.array([np.inf if v is None else float(v) for v in base])
    a = np.array([np.inf if v is None else float(v) for v in arm])
    if not len(b):
        return None, [None, None]

    def ratio(mb: np.ndarray, ma: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            r = mb / ma
        return np.where(np.isinf(mb) & np.isinf(ma), np.nan, np.where(np.isinf(ma) & np.isfinite(mb), 0.0, r))

    point = float(ratio(np.median(b), np.median(a)))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(b), size=(n_boot, len(b)))
    boots = ratio(np.median(b[idx], axis=1), np.median(a[idx], axis=1))
    boots = boots[~np.isnan(boots)]
    if math.isnan(point):
        return None, [None, None]
    if not len(boots):
        return _fin(point), [None, None]
    lo = np.quantile(boots, (1 - level) / 2, method="lower")
    hi = np.quantile(boots, 1 - (1 - level) / 2, method="higher")
    return _fin(point), [_fin(lo), _fin(hi)]


def _fin(v: float) -> float | None:
    return round(float(v), 3) if np.isfinite(v) else None


def _arm_row(v: dict[str, Any]) -> dict[str, Any]:
    keys = ("median_steps_to_val99", "ci95", "steps_to_val99", "median_steps_to_val95", "ci95_val95",
            "steps_to_val95", "median_samples_to_val99", "ci95_samples", "median_samples_to_val95",
            "ci95_samples_val95", "generalized", "grokked", "median_delay", "delay", "code")
    return {"name": v["name"], **{k: v.get(k) for k in keys}}


def cell_result(cell: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """Arms (medians + intervals at 95% and 99%, steps and samples, the code that made them) and
    each arm against the declared baseline, paired by seed, from an experiment summary."""
    variants = summary["variants"]
    base = next(v for v in variants if v["baseline"])
    arms = [_arm_row(v) for v in variants]
    comparisons = []
    for v in (v for v in variants if v is not base):
        test = paired_test(base["steps_to_val99"], v["steps_to_val99"])
        test95 = paired_test(base.get("steps_to_val95") or [], v.get("steps_to_val95") or [])
        speedup, ci = speedup_ci(base["steps_to_val99"], v["steps_to_val99"])
        speedup95, ci95 = speedup_ci(base.get("steps_to_val95") or [], v.get("steps_to_val95") or [])
        comparisons.append({"arm": v["name"], "vs": base["name"], "speedup": speedup, "speedup_ci95": ci,
                            "speedup_val95": speedup95, "speedup_val95_ci95": ci95, **test,
                            "val95": {k: test95[k] for k in ("wins", "losses", "ties", "sign_p", "wilcoxon_p",
                                                            "verdict")}})
    return {**{k: cell[k] for k in ("id", "task", "p", "train_frac", "batch", "optim", "headline")},
            "seeds": summary["seeds"], "code": summary.get("code"),
            "baseline_delay": base.get("median_delay"), "baseline_delay_ci95": median_ci_of(base.get("delay")),
            "arms": arms, "comparisons": comparisons}


def median_ci_of(values: list[int | None] | None) -> list[float | None]:
    """The bootstrap 95% interval of the median (``None``: infinite), as the experiment computes it."""
    from .experiment import median_ci

    return median_ci(list(values or []))[1]


# ------------------------------------------------------------------------------ the prediction
MIN_CELLS = 4
PREDICTION_ARM = "subset-first-ready"


def delay_prediction(doc: dict[str, Any], arm: str = PREDICTION_ARM, alpha: float = ALPHA) -> dict[str, Any]:
    """If grokking is an undiscovered curriculum, the curriculum's speed-up should grow with the
    baseline's delay (memorised -> generalised). Across cells: Spearman's rank correlation between
    the baseline's median delay and ``arm``'s speed-up (steps to 99%), with a bootstrap 95% interval
    over cells, and one sentence.

    A cell whose baseline never generalised (median "never") while the arm's median did is the
    longest delay and the largest speed-up there is: it takes part *censored*, ranked above every
    finite delay and speed-up (a rank correlation needs no value for it), and stays ``None`` in
    the document. Cells with no defined speed-up otherwise (both never) are listed, not used.
    """
    from scipy.stats import spearmanr

    points, left_out = [], []
    for cell in doc["cells"]:
        comp = next((c for c in cell["comparisons"] if c["arm"] == arm), None)
        delay = cell.get("baseline_delay")
        if comp is None:
            continue
        medians = {a["name"]: a.get("median_steps_to_val99") for a in cell.get("arms", [])}
        censored = (delay is None and medians.get(comp["vs"], 0) is None and medians.get(arm) is not None)
        point = {"cell": cell["id"], "seeds": cell["seeds"], "delay": delay,
                 "delay_ci95": cell.get("baseline_delay_ci95"), "speedup": comp["speedup"],
                 "speedup_ci95": comp.get("speedup_ci95"), "verdict": comp["verdict"], "censored": censored}
        usable = censored or (delay is not None and comp["speedup"] is not None)
        (points if usable else left_out).append(point)
    out: dict[str, Any] = {"arm": arm, "points": points, "left_out": left_out, "n": len(points),
                           "rho": None, "p": None, "rho_ci95": [None, None]}
    if len(points) < MIN_CELLS:
        out["supported"] = None
        out["sentence"] = (f"Not testable yet: {len(points)} cell(s) with a baseline delay and a "
                           f"{arm} speed-up; the rank correlation needs at least {MIN_CELLS}.")
        return out
    d = np.array([math.inf if p["censored"] else p["delay"] for p in points], dtype=float)
    s = np.array([math.inf if p["censored"] else p["speedup"] for p in points], dtype=float)
    res = spearmanr(d, s)
    rho, p = float(res.statistic), float(res.pvalue)
    rng = np.random.default_rng(0)
    boots = []
    for _ in range(2000):
        i = rng.integers(0, len(d), len(d))
        if len(set(d[i])) > 1 and len(set(s[i])) > 1:
            boots.append(float(spearmanr(d[i], s[i]).statistic))
    ci = [round(float(np.quantile(boots, 0.025)), 3), round(float(np.quantile(boots, 0.975)), 3)] if boots else [None, None]
    supported = bool(rho > 0 and p < alpha)
    out.update(rho=round(rho, 3), p=p, rho_ci95=ci, supported=supported)
    n_cens = sum(p["censored"] for p in points)
    trend = (f"Spearman rho = {rho:.2f} [{_p(ci[0])}, {_p(ci[1])}], p = {p:.3g}, over {len(points)} cells"
             + (f", {n_cens} of them with a baseline that never generalised, ranked as the longest delay"
                if n_cens else ""))
    out["sentence"] = (f"Supported: the {arm} speed-up grows with the baseline's delay ({trend})." if supported
                       else f"Not supported: the {arm} speed-up does not grow detectably with the baseline's "
                            f"delay ({trend}; p >= {alpha} or rho <= 0).")
    return out


def write_prediction_plot(out: Path, prediction: dict[str, Any]) -> Path:
    """``speedup_vs_delay.html`` (plotly): one point per cell, both intervals as error bars."""
    import plotly.graph_objects as go

    pts = prediction["points"]

    def err(vals: list[float], cis: list[list[float | None]], top: bool) -> list[float]:
        return [0.0 if ci is None or ci[1 if top else 0] is None else abs((ci[1 if top else 0]) - v)
                for v, ci in zip(vals, cis)]

    finite = [p for p in pts if not p.get("censored")]
    # a censored cell (the baseline never generalised) has no value to plot: it is drawn past the
    # largest finite delay and speed-up, open, and named so
    edge_x = 1.25 * max((p["delay"] for p in finite), default=1.0)
    edge_y = 1.25 * max((p["speedup"] for p in finite), default=1.0)
    x = [edge_x if p.get("censored") else p["delay"] for p in pts]
    y = [edge_y if p.get("censored") else p["speedup"] for p in pts]
    fig = go.Figure(go.Scatter(
        x=x, y=y, mode="markers+text", textposition="top center",
        text=[p["cell"] + (" (baseline never: off the scale)" if p.get("censored") else "") for p in pts],
        marker={"symbol": ["triangle-up-open" if p.get("censored") else "circle" for p in pts], "size": 10},
        error_y={"type": "data", "symmetric": False, "array": err(y, [None if p.get("censored") else p["speedup_ci95"] for p in pts], True),
                 "arrayminus": err(y, [None if p.get("censored") else p["speedup_ci95"] for p in pts], False)},
        error_x={"type": "data", "symmetric": False, "array": err(x, [None if p.get("censored") else p["delay_ci95"] for p in pts], True),
                 "arrayminus": err(x, [None if p.get("censored") else p["delay_ci95"] for p in pts], False)},
        hovertemplate="%{text}<br>delay %{x:,.0f} steps<br>speed-up %{y:.2f}x<extra></extra>"))
    fig.add_hline(y=1.0, line_dash="dot", line_color="#888")
    fig.update_layout(title=f"{prediction['arm']}: speed-up vs the baseline's delay<br><sub>"
                            f"{html.escape(prediction['sentence'])}</sub>",
                      xaxis_title="baseline median delay, memorised → 99% validation (steps)",
                      yaxis_title="speed-up to 99% (baseline / arm medians)", template="plotly_white", height=520)
    path = out / "speedup_vs_delay.html"
    tmp = path.with_name(path.name + ".tmp")
    fig.write_html(tmp, include_plotlyjs=True, full_html=True)
    os.replace(tmp, path)
    return path


# ------------------------------------------------------------------------------ running
def load_grid(source: str | Path) -> GridSpec:
    """A grid preset name or a grid YAML file; ``ConfigError`` lines name the file, line and key."""

    if str(source) in GRIDS:
        data, lines, where = copy.deepcopy(GRIDS[str(source)]), {}, f"grid preset {source}"
    else:
        path = _grid_file(source)
        if path is None:
            raise ConfigError([f"--grid {source}: neither a grid preset ({', '.join(GRIDS)}) nor a file, nor a "
                               f"bundled grid ({', '.join(sorted(bundled_grids()))})"])
        data, lines = read_yaml(path, "grid file")
        where = str(path)
    try:
        return GridSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([located(err, data, where, lines, set(), GridSpec) for err in exc.errors()]) from None


def bundled_grids() -> dict[str, Path]:
    """Grid files shipped with handhold (``configs/grids/*.yaml``), by stem: ``grok_map``, ``grok_map_cpu``."""
    from ..bundled import CONFIG_DIR

    folder = CONFIG_DIR / "grids"
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def _grid_file(source: str | Path) -> Path | None:
    path = Path(source)
    if path.is_file():
        return path
    return bundled_grids().get(str(source))


def finished_seeds(cfg: GrokConfig, exp_dir: Path, seeds: int) -> int:
    """How many seeds (0, 1, ... in order) have a finished run in every arm of the cell, whatever
    code made them (the table's code column says which)."""
    from ..provenance import code_version
    from .experiment import run_dir_for
    from .lineage import reuse_verdict

    code = code_version()
    specs = cfg.runs()
    for seed in range(seeds):
        for spec in specs:
            d = run_dir_for(exp_dir, spec.variant, seed)
            if not reuse_verdict(d, spec.model_dump(mode="json"), seed, code, allow_other_code=True).reuse:
                return seed
    return seeds


def collect_cell(cfg: GrokConfig, exp_dir: Path, seeds: int) -> dict[str, Any] | None:
    """The cell's summary over the seeds finished in every arm, training nothing (``None``: none)."""
    from .experiment import summarize

    done = finished_seeds(cfg, exp_dir, seeds)
    if not done:
        return None
    return summarize(exp_dir, cfg.runs(), done, baselines=cfg.baselines())


def run_grid(grid: GridSpec, out: str | Path, *, seeds: int | None = None, reuse: bool = True,
             report: bool = False, only_cells: int | None = None, collect: bool = False,
             log: Callable[[str], None] = lambda line: None, **run_kw: Any) -> dict[str, Any]:
    """Run (or reuse) every cell, headline cells first; write ``grid.json`` and ``grid.html``.

    ``seeds`` replaces the grid's seeds for the non-headline cells; ``only_cells`` runs the first
    N cells (the rest are listed as not run); ``collect`` trains nothing and tabulates the runs a
    cut-short sweep finished (a cell over the seeds finished in every arm, its planned seeds kept as
    ``seeds_planned``); ``run_kw`` go to ``run_experiment`` (``jobs``, ``batched``, ``executor``:
    the lab's engines)."""
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
        if collect:
            found = collect_cell(cfg, out / cell["id"], cell["seeds"])
            if found is None:
                log("  no seed finished in every arm: not run")
                not_run.append({k: cell[k] for k in ("id", "seeds")})
                continue
            if found["seeds"] < cell["seeds"]:
                log(f"  {found['seeds']} of {cell['seeds']} seeds finished in every arm: tabulated as they are")
            results.append({**cell_result(cell, found), "seeds_planned": cell["seeds"]})
            continue
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
    doc["prediction"] = delay_prediction(doc)
    tmp = out / "grid.json.tmp"
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, out / "grid.json")
    write_grid_report(out, doc)
    return doc


def run_grid_command(grid: GridSpec, out: Path, *, seeds: int | None, fresh: bool, report: bool,
                     cells: int | None, json_out: bool, say: Any, err: Any, fail: Callable[[str], None],
                     collect: bool = False, **run_kw: Any) -> None:
    """``handhold grok --grid``: run, print the grid table (or the JSON document). ``run_kw``
    (``jobs``, ``executor``, ``batched``, ...) go to every cell's ``run_experiment``."""
    import sys

    from .tasks import TaskError

    try:
        doc = run_grid(grid, out, seeds=seeds, reuse=not fresh, report=report, only_cells=cells, collect=collect,
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


def _med(arm: dict[str, Any], key: str, ci: str) -> str:
    lo, hi = arm.get(ci) or [None, None]
    return f"{_n(arm.get(key))} [{_n(lo)}, {_n(hi)}]"


def _x(v: float | None, ci: list[float | None] | None = None, never: str = "–") -> str:
    if v is None:
        return never
    text = f"{v:.2f}×"
    if ci is not None:
        text += f" [{'∞' if ci[0] is None and v else _p(ci[0])}, {'∞' if ci[1] is None else _p(ci[1])}]"
    return text


def grid_rows(doc: dict[str, Any]) -> list[list[str]]:
    """One row per (cell, arm other than the baseline); every row names the code that made it."""
    rows = []
    for cell in doc["cells"]:
        arms = {a["name"]: a for a in cell["arms"]}
        for c in cell["comparisons"]:
            base, arm = arms[c["vs"]], arms[c["arm"]]
            code = arm.get("code") or cell.get("code") or "unknown"
            if base.get("code") and base.get("code") != arm.get("code"):
                code = f"{code} (baseline: {base['code']})"
            planned = cell.get("seeds_planned", cell["seeds"])
            seeds = str(cell["seeds"]) + (f" of {planned}" if planned != cell["seeds"] else "")
            rows.append([cell["id"] + (" ★" if cell["headline"] else ""), seeds,
                         _med(base, "median_steps_to_val95", "ci95_val95"),
                         _med(base, "median_steps_to_val99", "ci95"), _n(base.get("median_delay"), "–"),
                         c["arm"], _med(arm, "median_steps_to_val95", "ci95_val95"),
                         _med(arm, "median_steps_to_val99", "ci95"),
                         _med(arm, "median_samples_to_val99", "ci95_samples"),
                         _x(c.get("speedup_val95"), c.get("speedup_val95_ci95")),
                         _x(c["speedup"], c.get("speedup_ci95")),
                         _p(c["wilcoxon_p"]), verdict_text(c), code])
    return rows


GRID_COLUMNS = ["cell", "seeds", "baseline →95% [95% CI]", "baseline →99% [95% CI]", "baseline delay", "arm",
                "arm →95% [95% CI]", "arm →99% [95% CI]", "arm →99% samples [95% CI]", "speed-up →95% [95% CI]",
                "speed-up →99% [95% CI]", "Wilcoxon p", "verdict (paired by seed)", "code"]


def grid_table(doc: dict[str, Any]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{doc['name']}: where does it help? (★ headline cells)", title_justify="left",
                  show_edge=False, header_style="bold", show_lines=False)
    for col in GRID_COLUMNS:
        table.add_column(col, justify="left" if col in (GRID_COLUMNS[0], "arm", "verdict (paired by seed)", "code")
                         else "right", overflow="fold")
    for row in grid_rows(doc):
        table.add_row(*(escape(c) for c in row))  # "[lo, hi]" is not markup
    notes = [_CAPTION]
    if doc.get("prediction"):
        notes.append("speed-up vs delay: " + doc["prediction"]["sentence"])
    if doc["not_run"]:
        notes.append("not run: " + ", ".join(c["id"] for c in doc["not_run"]))
    table.caption = "\n".join(notes)
    return table


_CAPTION = ("cell: task-p-train fraction-batch-optimizer (★ headline); steps (and samples) to 95% / 99% validation "
            "accuracy, medians over seeds with bootstrap 95% intervals (never = not within the budget, counted as "
            "infinite); delay: the baseline's median steps from memorised to 99% validation; every arm of a cell has "
            "the same sample budget; speed-up: baseline median / arm median with a paired bootstrap interval; "
            "Wilcoxon: signed-rank on log step ratios where enough seeds reached 99% in both arms; verdict: "
            f"two-sided sign test over seeds paired with the baseline, 'faster'/'slower' only at p < {ALPHA}, "
            "otherwise 'no effect'; code: the handhold version@commit that made the arm's runs")


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
    prediction = ""
    if doc.get("prediction"):
        plot = write_prediction_plot(out, doc["prediction"])
        prediction = (f"<h2>The prediction: speed-up grows with the delay</h2><p>{html.escape(doc['prediction']['sentence'])}"
                      f" · <a href='{plot.name}'>plot</a></p>")
    page = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(doc['name'])}</title>"
            f"<style>{_CSS}</style></head><body><h1>grokking lab grid: {html.escape(doc['name'])}</h1>"
            f"<table class=cmp><thead><tr>{head}</tr></thead><tbody>{body_rows}</tbody></table>"
            f"<p class=note>{html.escape(_CAPTION)}</p>{prediction}<h2>Cells</h2><ul>{''.join(cells_html)}</ul>"
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
