"""Batched seeds: S seeds of a variant trained at once equal the S per-seed runs (to float rounding),
and each seed still writes its own run store."""

import pytest
import torch

from handhold.grok.batched import batched_unsupported, train_batched
from handhold.grok.config import load_grok_config
from handhold.grok.experiment import run_experiment
from handhold.grok.train import train_run
from handhold.runstore.db import RunStore

BASE = {
    "name": "b", "seeds": 3,
    "task": {"ops": ["add"], "p": 7, "train_frac": 0.6},
    "model": {"d_model": 16, "heads": 2, "d_mlp": 32},
    "optim": {"lr": 1.0e-2},
    # a low bar so that seeds stop at different steps (each its own stop, as alone)
    "train": {"budget": {"steps": 40}, "stop_at_val": 0.2, "stop_patience": 3},
    "eval": {"every": 4, "per_decade": 3},
    "measure": {"every": 10, "per_decade": 2},
    "variants": [{"name": "baseline", "baseline": True}, {"name": "ema", "grokfast": {"kind": "ema"}},
                 {"name": "ma", "grokfast": {"kind": "ma", "window": 4}, "optim": {"name": "adam", "weight_decay": 0.01}},
                 {"name": "mb", "train": {"batch": 8, "keep_last": True}, "optim": {"name": "sgd", "lr": 0.3, "momentum": 0.9}},
                 {"name": "subset", "curriculum": {"kind": "operand_subset", "switch": {"steps": [5]}}}],
}


def _signals(run_dir):
    with RunStore.reader(run_dir) as s:
        return {k: s.series(k) for k in s.metric_keys()}, [(e.step, e.kind) for e in s.events()], s.meta()


@pytest.mark.parametrize("variant", ["baseline", "ema", "ma", "mb"])
def test_batched_seeds_equal_their_per_seed_runs(variant, tmp_path):
    torch.set_num_threads(1)
    spec = next(r for r in load_grok_config(data=BASE).runs() if r.variant == variant)
    seeds = [0, 1, 2]
    alone = [train_run(spec, s, tmp_path / f"a{s}") for s in seeds]
    together = train_batched(spec, seeds, [tmp_path / f"b{s}" for s in seeds])
    assert len({r.steps for r in alone}) > 1  # the seeds stop apart: the stack drops finished seeds
    for s, a, b in zip(seeds, alone, together):
        assert (b.seed, b.steps, b.samples, b.steps_to, b.memorization_step, b.stop_reason) == \
            (a.seed, a.steps, a.samples, a.steps_to, a.memorization_step, a.stop_reason)
        ma, ea, meta_a = _signals(tmp_path / f"a{s}")
        mb, eb, meta_b = _signals(tmp_path / f"b{s}")
        assert ea == eb and set(ma) == set(mb)
        for key in ma:
            assert ma[key][0] == mb[key][0], key  # same steps
            # batched products sum in another order: equal to float rounding, not bit for bit; the share of
            # neurons past a threshold is a count, where a neuron at the threshold may flip (1/32 here)
            atol = 1 / 16 if key.endswith("neurons_in_key_freqs") else 1e-6
            torch.testing.assert_close(torch.tensor(mb[key][1], dtype=torch.float64),
                                       torch.tensor(ma[key][1], dtype=torch.float64), rtol=1e-5, atol=atol)
        assert meta_b["grok_spec"] == meta_a["grok_spec"] and meta_b["grok_batched"] == {"seeds": 3}
        assert meta_b["status"] == "finished" and meta_b["code_version"] == meta_a["code_version"]


def test_experiment_batches_what_it_can_and_runs_the_rest_one_by_one(tmp_path):
    cfg = load_grok_config(data=BASE)
    lines = []
    summary = run_experiment(cfg, tmp_path / "exp", batched=True, only=["baseline", "subset"], log=lines.append)
    assert any(line.startswith("subset: seeds run one by one (a curriculum") for line in lines)
    assert [len(v["steps"]) for v in summary["variants"]] == [3, 3]
    with RunStore.reader(tmp_path / "exp" / "baseline-s2") as s:
        assert s.get_meta("grok_batched") == {"seeds": 3}
    with RunStore.reader(tmp_path / "exp" / "subset-s2") as s:
        assert s.get_meta("grok_batched") is None and s.get_meta("status") == "finished"


def test_unsupported_variants_say_why():
    runs = {r.variant: r for r in load_grok_config(data=BASE).runs()}
    assert batched_unsupported(runs["baseline"]) == ""
    assert "curriculum" in batched_unsupported(runs["subset"])
    muon = load_grok_config(data=BASE, overrides=["optim.name=muon"]).runs()[0]
    assert "Muon" in batched_unsupported(muon)
    with pytest.raises(ValueError, match="cannot train seeds together"):
        train_batched(muon, [0, 1], ["x", "y"])


@pytest.mark.slow
def test_batched_seeds_grok_when_their_own_runs_do(tmp_path):
    """Through grokking (the quick preset's baseline, 2 seeds, ~1,500 steps each): the batched seeds
    reach 95%/99% validation at the evaluations their own runs do."""
    from handhold.grok.presets import preset

    torch.set_num_threads(1)
    data = preset("quick")
    data["variants"] = [data["variants"][0]]
    spec = load_grok_config(data=data).runs()[0]
    seeds = [0, 1]
    alone = [train_run(spec, s, tmp_path / f"a{s}") for s in seeds]
    together = train_batched(spec, seeds, [tmp_path / f"b{s}" for s in seeds])
    assert all(a.steps_to["val99"] is not None for a in alone)
    assert [b.steps_to for b in together] == [a.steps_to for a in alone]
    assert [b.steps for b in together] == [a.steps for a in alone]
