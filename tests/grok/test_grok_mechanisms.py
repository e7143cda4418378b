"""The mechanism registry: a mechanism registered in one entry reaches the config (validated,
located errors), both run loops (its gradient hook runs after every backward pass) and the
baseline check (a variant using it is never a baseline); the baseline is declared, or derived
only when one variant of a task could be it."""

import pytest
import torch
from pydantic import BaseModel, ConfigDict, Field

from handhold.config import ConfigError
from handhold.grok.batched import batched_unsupported
from handhold.grok.config import load_grok_config
from handhold.grok.grid import GridSpec, cell_config, cell_result, cells
from handhold.grok.mechanisms import MECHANISMS, Mechanism, used
from handhold.grok.presets import GRIDS, PRESETS
from handhold.grok.train import train_run
from handhold.runstore.db import RunStore


class FreezeSpec(BaseModel):
    """A throwaway mechanism: scale every gradient by ``factor`` (0: the weights never move)."""

    model_config = ConfigDict(extra="forbid")
    factor: float = Field(default=0.0, ge=0)


class Freeze:
    calls = 0

    def __init__(self, spec: FreezeSpec, params: list[torch.nn.Parameter]) -> None:
        self.spec, self.params = spec, params

    def __call__(self) -> None:
        Freeze.calls += 1
        for p in self.params:
            p.grad.mul_(self.spec.factor)


@pytest.fixture
def freeze(monkeypatch):
    """The registry entry a newcomer would add, for this test only."""
    monkeypatch.setitem(MECHANISMS, "freeze", Mechanism("freeze", FreezeSpec, gradient_hook=Freeze,
                                                        batched="freeze (a test mechanism)"))
    Freeze.calls = 0


TINY = {
    "name": "m", "task": {"ops": ["add"], "p": 7, "train_frac": 0.6},
    "model": {"d_model": 16, "heads": 2, "d_mlp": 32}, "optim": {"weight_decay": 0.0, "warmup_steps": 0},
    "train": {"budget": {"steps": 12}, "stop_at_val": None}, "eval": {"every": 4, "per_decade": 0},
    "measure": {"enabled": False},
}


def config(*variants, **kw):
    return load_grok_config(data={**TINY, "variants": list(variants), **kw})


def problems(*variants):
    with pytest.raises(ConfigError) as info:
        config(*variants)
    return info.value.problems


def test_a_registered_mechanism_is_a_validated_section_of_a_variant(freeze):
    cfg = config({"name": "base"}, {"name": "frozen", "freeze": {"factor": 0.5}})
    base, frozen = cfg.runs()
    assert base.freeze is None and frozen.freeze == FreezeSpec(factor=0.5)
    assert [m.key for m in used(frozen)] == ["freeze"] and used(base) == []
    assert frozen.model_dump(mode="json")["freeze"] == {"factor": 0.5}  # stored in the run's spec
    (msg,) = problems({"name": "x", "freeze": {"facter": 1}})
    assert msg == ("<config>: variants[0].freeze.facter: unknown key 'facter'; did you mean 'factor'? "
                   "(allowed: factor)")
    (msg,) = problems({"name": "x", "freeze": {"factor": -1}})
    assert msg.startswith("<config>: variants[0].freeze.factor: Input should be greater than or equal to 0")
    (msg,) = problems({"name": "x", "frieze": {}})
    assert msg.startswith("<config>: variants[0].frieze: unknown key 'frieze'; did you mean 'freeze'?")


def test_unregistered_sections_are_unknown_keys():
    (msg,) = problems({"name": "x", "freeze": {"factor": 0.5}})
    assert "unknown key 'freeze'" in msg and "grokfast" in msg  # the allowed keys name the mechanisms


def test_the_run_loop_calls_the_mechanisms_hook_after_every_backward_pass(freeze, tmp_path):
    base, frozen = config({"name": "base"}, {"name": "frozen", "freeze": {}}).runs()
    train_run(frozen, 0, tmp_path / "frozen")
    assert Freeze.calls == 12  # once per optimizer step
    train_run(base, 0, tmp_path / "base")
    assert Freeze.calls == 12  # a variant without the section does not build the hook
    with RunStore.reader(tmp_path / "frozen") as s:
        frozen_loss = s.series("grok/train/loss")[1]
    with RunStore.reader(tmp_path / "base") as s:
        base_loss = s.series("grok/train/loss")[1]
    assert len(set(frozen_loss)) == 1  # zero gradients, no weight decay: the weights never moved
    assert base_loss[-1] < base_loss[0]
    assert batched_unsupported(frozen) == "freeze (a test mechanism)" and batched_unsupported(base) == ""


def test_a_variant_using_a_mechanism_is_never_the_baseline(freeze):
    assert config({"name": "base"}, {"name": "frozen", "freeze": {}}).baselines() == {"base"}
    assert config({"name": "frozen", "freeze": {}}).baselines() == set()  # no plain variant: no baseline
    (msg,) = problems({"name": "frozen", "baseline": True, "freeze": {}})
    assert msg == ("<config>: variants[0].baseline: a baseline uses no mechanism, and this variant sets "
                   "freeze: (declare baseline: false, or drop the mechanism)")


def test_the_baseline_is_declared_or_derived_only_when_unambiguous(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("variants:\n  - name: a\n  - name: b\n    optim: {weight_decay: 0.1}\n"
                    "  - name: ema\n    grokfast: {kind: ema}\n")
    with pytest.raises(ConfigError) as info:
        load_grok_config(path)
    assert info.value.problems == [f"{path}:3: variants[1].name: 'a' and 'b' are both the baseline of add mod 113 "
                                   "at train_frac 0.3: declare one with baseline: true and the others baseline: false"]
    assert load_grok_config(path, ["variants.1.baseline=true"]).baselines() == {"b"}
    assert load_grok_config(path, ["variants.1.baseline=false"]).baselines() == {"a"}
    with pytest.raises(ConfigError, match="'a' and 'b' are both the baseline"):
        config({"name": "a", "baseline": True}, {"name": "b", "baseline": True})
    # one baseline per task: a variant on another task is its own task's reference
    other = config({"name": "a"}, {"name": "sub", "task": {"ops": ["sub"]}})
    assert other.baselines() == {"a", "sub"}


def test_shipped_configs_declare_their_baselines():
    for name, data in PRESETS.items():
        declared = {v["name"] for v in data["variants"] if v.get("baseline")}
        assert declared and load_grok_config(data=data).baselines() == declared, name
    for grid in GRIDS.values():
        assert [a["name"] for a in grid["arms"] if a.get("baseline")] == ["baseline"]


def test_the_grid_pairs_every_arm_with_the_declared_baseline_wherever_it_is_listed():
    grid = GridSpec.model_validate({"name": "g", "epochs": 10, "base": {"model": {"d_model": 16, "heads": 2, "d_mlp": 32}},
                                    "axes": {"task": ["add"], "p": [7]},
                                    "arms": [{"name": "ema", "grokfast": {"kind": "ema"}}, {"name": "base"}]})
    (cell,) = cells(grid)
    assert cell_config(grid, cell).baselines() == {"base"}
    row = {"median_steps_to_val99": 10.0, "ci95": [None, None], "generalized": 1.0, "median_samples_to_val99": 1.0}
    summary = {"seeds": 2, "variants": [
        {"name": "ema", "baseline": False, "steps_to_val99": [5, 6], **row},
        {"name": "base", "baseline": True, "steps_to_val99": [10, 12], **row}]}
    (cmp,) = cell_result(cell, summary)["comparisons"]
    assert (cmp["arm"], cmp["vs"], cmp["wins"]) == ("ema", "base", 2)
    no_base = GridSpec.model_validate({**grid.model_dump(), "arms": [{"name": "ema", "grokfast": {"kind": "ema"}},
                                                                     {"name": "ma", "grokfast": {"kind": "ma"}}]})
    with pytest.raises(ConfigError, match="no baseline to compare the arms with"):
        cell_config(no_base, cell)
