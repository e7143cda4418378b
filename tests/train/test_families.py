"""The metric-family registry: a family added in a test (its callback, its settings model and one
registry entry) is configured from the run's YAML, runs in a real tiny training run and its
metric reaches the run store; families run in registry order; bad settings are located errors."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field

from handhold.config import ConfigError, load_config
from handhold.runstore.db import RunStore
from handhold.train import families
from handhold.train.callbacks.benchmarks import BenchmarkEvals
from handhold.train.callbacks.evaluate import EvalSuite, LmEvalMilestones
from handhold.train.callbacks.heldout import HeldOutLoss
from handhold.train.callbacks.measures import Measures
from handhold.train.callbacks.probes import Probes
from handhold.train.events import Callback
from handhold.train.families import MetricFamily, family_callbacks
from handhold.train.runner import start


class ParitySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    every: int = Field(default=4, gt=0)


class StepParity(Callback):
    """A throwaway family: logs ``custom/parity`` (the step's parity) every ``every`` steps."""

    built: list[ParitySettings] = []

    def __init__(self, settings: ParitySettings) -> None:
        self.settings = settings
        StepParity.built.append(settings)

    def on_batch_end(self, state) -> None:
        if state.step % self.settings.every == 0:
            state.log({"custom/parity": float(state.step % 2)})


@pytest.fixture
def parity(monkeypatch):
    StepParity.built = []
    monkeypatch.setitem(families.FAMILIES, "parity", MetricFamily("parity", StepParity, settings=ParitySettings))


def test_a_registered_family_runs_in_the_loop_and_its_metric_reaches_the_store(parity, tiny_config, tmp_path):
    cfg = load_config(tiny_config(metric_families={"parity": {"every": 3}},
                                  train={"batch_size": 8, "seq_len": 96, "max_steps": 7}))
    start(cfg, tmp_path / "run", progress=False)
    assert [s.every for s in StepParity.built] == [3]  # built once, with the YAML's settings
    with RunStore.reader(tmp_path / "run") as store:
        assert store.series("custom/parity") == ([3, 6], [1.0, 0.0])
        assert "eval/loss/general" in store.metric_keys()  # the built-in families still ran


def test_families_run_in_registry_order_then_the_callers_own(parity, tiny_config):
    cfg = load_config(tiny_config())
    mine = Callback()
    built = family_callbacks(cfg, [mine])
    assert [type(c) for c in built] == [HeldOutLoss, EvalSuite, LmEvalMilestones, BenchmarkEvals, Probes,
                                        Measures, StepParity, Callback]
    assert built[-1] is mine and StepParity.built == [ParitySettings()]  # no settings: the defaults


def test_bad_family_settings_fail_before_the_run_with_their_location(parity, tiny_config, tmp_path):
    cfg = load_config(tiny_config(metric_families={"parity": {"every": 0}}))
    with pytest.raises(ConfigError, match=r"metric_families\.parity\.every: .*greater than 0"):
        start(cfg, tmp_path / "a", progress=False)
    cfg = load_config(tiny_config(metric_families={"parit": {}}))
    with pytest.raises(ConfigError, match=r"metric_families\.parit: no metric family.*did you mean 'parity'"):
        start(cfg, tmp_path / "b", progress=False)
    cfg = load_config(tiny_config(metric_families={"probes": {"every": 3}}))
    with pytest.raises(ConfigError, match="reads the 'probes' section"):
        start(cfg, tmp_path / "c", progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # refused before set-up
