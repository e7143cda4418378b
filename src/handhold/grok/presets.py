"""Ready experiments, selected with ``handhold grok --preset NAME``.

``configs/grok.yaml`` and ``configs/grok_quick.yaml`` hold the same settings as YAML to copy and
edit; a test keeps them equal to these.

- ``literature`` (the default): Nanda et al.'s setting: p = 113, a + b, 30% train, 1 layer,
  d_model 128, 4 heads, d_mlp 512, full batch, AdamW lr 1e-3, wd 1, betas (0.9, 0.98).
- ``power``: Power et al.'s setting: their 2-layer decoder (``decoder.py``), x / y mod 97 written
  ``a op b = c``, 50% train, AdamW lr 1e-3 wd 1, minibatch 512.
- ``grokfast``: Grokfast's own task, model and loop (x * y mod 97, y != 0, Adam with L2 decay) with
  its README's flags: baseline, EMA (alpha 0.98, lamb 2, wd 0.005) and MA (window 100, lamb 5, wd 0.01).
- ``quick``: small enough to grok in seconds on one CPU thread: p = 31, 50% train, d_model 64,
  4 heads, d_mlp 256, lr 2e-3 (same recipe otherwise). The comparison of every variant over
  five seeds takes minutes.
"""

from __future__ import annotations

import copy
from typing import Any

from .config import _deep_merge
from .curricula import Switch


def variants(switch_steps: int, mix_budget: dict[str, int]) -> list[dict[str, Any]]:
    """Baseline, each curriculum with a fixed switch and with the readiness rule, Grokfast EMA/MA
    (the baselines declared: ``baseline: true``).

    ``random_subset`` is the control for ``operand_subset``: a first stage of about the same size
    (a quarter of the pairs) without the operand structure.

    ``one_op_first`` needs two operations, so it and its own baseline run on ``add`` + ``sub``
    (learning ``add`` first could transfer: both use the same Fourier features), with
    ``mix_budget`` (twice the training set: twice the samples for the same steps).
    """
    def ready() -> dict[str, Any]:
        return {"until": {"threshold": "grok/stage/acc", "value": 0.99, "evals": 3, "max_steps": 4 * switch_steps}}

    def mix() -> dict[str, Any]:
        return {"task": {"ops": ["add", "sub"]}, "train": {"budget": dict(mix_budget)}}

    return [
        {"name": "baseline", "baseline": True, "description": "the whole training set every step"},
        {"name": "subset-first", "description": "operands in a random half of the residues first",
         "curriculum": {"kind": "operand_subset", "fraction": 0.5, "switch": {"steps": [switch_steps]}}},
        {"name": "subset-first-ready", "description": "operand subset first, advance when mastered",
         "curriculum": {"kind": "operand_subset", "fraction": 0.5, "switch": ready()}},
        {"name": "random-first", "description": "control: a random quarter of the training pairs first",
         "curriculum": {"kind": "random_subset", "fraction": 0.25, "switch": {"steps": [switch_steps]}}},
        {"name": "random-first-ready", "description": "control: a random quarter first, advance when mastered",
         "curriculum": {"kind": "random_subset", "fraction": 0.25, "switch": ready()}},
        {"name": "easy-to-hard", "description": "a + b small first (thirds of the integer sum)",
         "curriculum": {"kind": "easy_to_hard", "difficulty": "sum", "stages": 3,
                        "switch": {"steps": [switch_steps // 2, switch_steps]}}},
        {"name": "easy-to-hard-ready", "description": "a + b small first, advance when mastered",
         "curriculum": {"kind": "easy_to_hard", "difficulty": "sum", "stages": 3, "switch": ready()}},
        {"name": "grokfast-ema", "description": "Grokfast EMA filter (alpha 0.98, lamb 2)",
         "grokfast": {"kind": "ema", "alpha": 0.98, "lamb": 2.0}},
        {"name": "grokfast-ma", "description": "Grokfast MA filter (window 100, lamb 5)",
         "grokfast": {"kind": "ma", "window": 100, "lamb": 5.0}},
        {"name": "baseline-addsub", "baseline": True, "description": "add and sub mixed from the start", **mix()},
        {"name": "add-first", "description": "add alone first, then add + sub", **mix(),
         "curriculum": {"kind": "one_op_first", "op": "add", "switch": {"steps": [switch_steps]}}},
        {"name": "add-first-ready", "description": "add alone first, advance when mastered", **mix(),
         "curriculum": {"kind": "one_op_first", "op": "add", "switch": ready()}},
    ]


LITERATURE: dict[str, Any] = {
    "name": "grok-nanda",
    "seeds": 2,
    "task": {"ops": ["add"], "p": 113, "train_frac": 0.3},
    "model": {"layers": 1, "d_model": 128, "heads": 4, "d_mlp": 512, "act": "relu", "layernorm": False},
    "optim": {"lr": 1.0e-3, "betas": [0.9, 0.98], "weight_decay": 1.0, "warmup_steps": 10},
    # 3,831 training pairs: 115M samples = 30,000 full-batch steps
    "train": {"batch": "full", "budget": {"samples": 115_000_000}, "stop_at_val": 0.99, "stop_patience": 1000},
    "eval": {"every": 50, "per_decade": 10},
    "measure": {"every": 500, "per_decade": 10},
    "variants": variants(1000, {"samples": 230_000_000}),
}

# Power et al. (2022) as Grokfast's script runs it (its Decoder is their 2-layer model; decoder.py)
_POWER_TASK = {"p": 97, "train_frac": 0.5, "format": "a op b ="}
_POWER_MODEL = {"arch": "decoder", "layers": 2, "d_model": 128, "heads": 4, "d_mlp": 512, "act": "gelu",
                "layernorm": True}

POWER: dict[str, Any] = _deep_merge(LITERATURE, {
    "name": "grok-power",
    "task": {**_POWER_TASK, "ops": ["div"]},  # their Figure 1: x / y mod 97, 50% of the pairs
    "model": _POWER_MODEL,
    "train": {"batch": 512, "keep_last": True},
    "measure": {"every": 500, "per_decade": 0},
})
POWER["train"]["budget"] = {"steps": 30000}  # minibatches: steps are samples / 512
POWER["variants"] = [{"name": "baseline", "baseline": True, "description": "AdamW wd 1, minibatches of 512 (Power et al.)"}]

# Grokfast (Lee et al., 2024), its own task, model and loop (ironjr/grokfast main.py): x * y mod 97
# with y != 0, 5-token equations, 50% train, minibatches of 512 in passes over the shuffled data (the
# last batch smaller), Adam (decay as L2) lr 1e-3 betas (0.9, 0.98), warm-up u/10 over 10 updates,
# validation accuracy after every pass (10 updates); split and shuffles drawn as the script draws them
# (task.rng: script), so a seed starts from the script's weights, split and batches. Its README: 95% validation at 910 (EMA) and
# 790 (MA) iterations; baseline 39,890.
GROKFAST: dict[str, Any] = {
    "name": "grok-grokfast",
    "seeds": 3,
    "task": {**_POWER_TASK, "ops": ["mul"], "nonzero_b": True, "rng": "script"},
    "model": _POWER_MODEL,
    "optim": {"name": "adam", "lr": 1.0e-3, "betas": [0.9, 0.98], "weight_decay": 0.0, "warmup_steps": 10,
              "warmup_from_zero": True},
    "train": {"batch": 512, "keep_last": True, "budget": {"steps": 50000}, "stop_at_val": 0.99,
              "stop_patience": 0},
    "eval": {"every": 10, "per_decade": 0},
    "measure": {"every": 500, "per_decade": 0},
    "variants": [
        {"name": "baseline", "baseline": True, "description": "its README's baseline: Adam without weight decay, no filter"},
        {"name": "grokfast-ema", "description": "--filter ema --alpha 0.98 --lamb 2.0 --weight_decay 0.005",
         "optim": {"weight_decay": 0.005}, "grokfast": {"kind": "ema", "alpha": 0.98, "lamb": 2.0}},
        {"name": "grokfast-ma", "description": "--filter ma --window_size 100 --lamb 5.0 --weight_decay 0.01",
         "optim": {"weight_decay": 0.01}, "grokfast": {"kind": "ma", "window": 100, "lamb": 5.0}},
    ],
}

QUICK: dict[str, Any] = _deep_merge(LITERATURE, {
    "name": "grok-quick",
    "seeds": 5,
    "task": {"p": 31, "train_frac": 0.5},
    "model": {"d_model": 64, "d_mlp": 256},
    "optim": {"lr": 2.0e-3},
    # 480 training pairs: 10,000 full-batch steps of the baseline; add+sub variants get twice the samples
    "train": {"budget": {"samples": 4_800_000}, "stop_patience": 100},
    "eval": {"every": 10},
    "measure": {"every": 200},
})
QUICK["variants"] = variants(300, {"samples": 9_600_000})

PRESETS = {"literature": LITERATURE, "quick": QUICK, "power": POWER, "grokfast": GROKFAST}


def preset(name: str) -> dict[str, Any]:
    """A deep copy of the named preset's raw settings (validate with ``load_grok_config``)."""
    if name not in PRESETS:
        raise KeyError(name)
    return copy.deepcopy(PRESETS[name])


# ------------------------------------------------------------------------------ grids (handhold grok --grid)
def ready_switch(max_steps: int) -> dict[str, Any]:
    """Advance when the stage's training accuracy is >= 0.99 for 3 checks (at most ``max_steps``),
    in the form this version's config takes (``until:`` once the lab shares the main config's rules)."""
    if "until" in Switch.model_fields:
        return {"until": {"threshold": "grok/stage/acc", "value": 0.99, "evals": 3, "max_steps": max_steps}}
    return {"ready": {"acc": 0.99, "evals": 3, "max_steps": max_steps}}


ARMS: list[dict[str, Any]] = [
    {"name": "baseline", "baseline": True, "description": "the whole training set every step"},
    {"name": "subset-first-ready", "description": "operands in a random half of the residues first, advance "
     "when mastered (the best curriculum at the quick preset)",
     "curriculum": {"kind": "operand_subset", "fraction": 0.5, "switch": ready_switch(4000)}},
    {"name": "grokfast-ema", "description": "Grokfast EMA gradient filter (alpha 0.98, lamb 2)",
     "grokfast": {"kind": "ema", "alpha": 0.98, "lamb": 2.0}},
]


def _grid_arms(max_steps: int) -> list[dict[str, Any]]:
    arms = copy.deepcopy(ARMS)
    arms[1]["curriculum"]["switch"] = ready_switch(max_steps)
    return arms


GRID: dict[str, Any] = {
    "name": "grid",
    "base": "literature",
    "seeds": 3,
    "headline": [{"task": "add", "p": 97, "train_frac": 0.3, "batch": "full"}],
    "headline_seeds": 10,
    "epochs": 30000,  # the literature preset's budget: 30,000 full-batch steps
    "axes": {"task": ["add", "mul", "x2y2"], "p": [97, 113], "train_frac": [0.3, 0.5],
             "batch": ["full", 512],
             # AdamW with decoupled decay 1 (Nanda) and Adam with decay as L2, 0.005 (Grokfast's script)
             "optim": [{}, {"name": "adam", "weight_decay": 0.005}]},
    "arms": _grid_arms(4000),
}

GRID_SMALL: dict[str, Any] = {
    "name": "grid-small",
    "base": _deep_merge(QUICK, {"eval": {"every": 20}, "measure": {"enabled": False},
                                "train": {"stop_patience": 20}}),
    "seeds": 3,
    "headline": [{"task": "add", "batch": "full"}],
    "headline_seeds": 10,
    "epochs": 8000,
    "axes": {"task": ["add", "mul"], "p": [31], "train_frac": [0.5], "batch": ["full", 128], "optim": [{}]},
    "arms": _grid_arms(1200),
}
GRID_SMALL["base"] = {k: v for k, v in GRID_SMALL["base"].items() if k not in ("variants", "name", "seeds")}

GRIDS = {"grid": GRID, "grid-small": GRID_SMALL}
