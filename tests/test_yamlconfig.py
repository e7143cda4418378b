"""The YAML loader every settings file goes through: one strict base, located errors, doctests."""

from __future__ import annotations

import doctest
import inspect

import pytest
from pydantic import BaseModel, Field, ValidationError

import handhold.benchmark_suite
import handhold.config
import handhold.direction
import handhold.grok.config
import handhold.grok.grid
import handhold.procedural_sources
from handhold import yamlconfig
from handhold.yamlconfig import ConfigError, StrictModel, apply_override, located, read_yaml


@pytest.mark.parametrize("module", [yamlconfig, handhold.procedural_sources, handhold.direction])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("module", [handhold.config, handhold.grok.config, handhold.grok.grid,
                                    handhold.benchmark_suite])
def test_every_settings_model_is_strict(module):
    models = [obj for _, obj in inspect.getmembers(module, inspect.isclass)
              if issubclass(obj, BaseModel) and obj.__module__ == module.__name__]
    assert models
    assert [m.__name__ for m in models if not issubclass(m, StrictModel)] == []


class Optim(StrictModel):
    lr: float = Field(default=1e-3, gt=0)
    betas: tuple[float, float] = (0.9, 0.95)


class Settings(StrictModel):
    optim: Optim = Field(default_factory=Optim)


def _problems(text: str, tmp_path, overrides=()) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    data, lines = read_yaml(path)
    overridden = {apply_override(data, item) for item in overrides}
    with pytest.raises(ValidationError) as info:
        Settings.model_validate(data)
    return [located(err, data, str(path), lines, overridden, Settings) for err in info.value.errors()]


def test_an_unknown_key_is_located_with_a_suggestion(tmp_path):
    (msg,) = _problems("optim:\n  lr: 0.1\n  betsa: [0.9, 0.9]\n", tmp_path)
    assert msg == f"{tmp_path / 's.yaml'}:3: optim.betsa: unknown key 'betsa'; did you mean 'betas'? (allowed: lr, betas)"


def test_an_override_is_named_instead_of_a_line(tmp_path):
    (msg,) = _problems("optim:\n  lr: 0.1\n", tmp_path, ["optim.lr=.inf"])
    assert msg == f"{tmp_path / 's.yaml'} (--set optim.lr): optim.lr: Input should be a finite number (got inf)"


def test_reading_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="no such grid file"):
        read_yaml(tmp_path / "missing.yaml", "grid file")
    (tmp_path / "list.yaml").write_text("- a\n")
    with pytest.raises(ConfigError, match=r"list\.yaml:1: expected a mapping"):
        read_yaml(tmp_path / "list.yaml")


def test_the_run_config_keeps_the_loader_names():
    assert handhold.config.ConfigError is ConfigError
    assert handhold.config.apply_override is apply_override and handhold.config.read_yaml is read_yaml
