"""The procedural-source registry: one entry makes a generator a config type and a curriculum source."""

from __future__ import annotations

import random

import pytest

from handhold import procedural_sources
from handhold.config import ConfigError, load_config, validate_config
from handhold.curriculum import Curriculum
from handhold.data.sources import build_sources
from handhold.data.tasks import physics
from handhold.data.tasks.base import Example
from handhold.data.tasks.steps import make_step


def roll(rng: random.Random) -> Example:
    """A throwaway task: the sum of two dice, with its worked step."""
    a, b = rng.randint(1, 6), rng.randint(1, 6)
    n = rng.randint(1, 10**6)  # many distinct questions, so both splits have examples
    return Example(domain="dice", task="roll", question=f"Roll {n}: what is {a} + {b}?",
                   steps=(make_step("sum", f"{a} + {b}"),), answer=str(a + b))


@pytest.fixture
def dice(monkeypatch):
    monkeypatch.setattr(procedural_sources, "SOURCES", dict(procedural_sources.SOURCES))
    procedural_sources.register("dice", roll)


def test_the_shipped_sources_are_registry_entries():
    assert procedural_sources.names() == ("general", "physics")
    assert procedural_sources.generator("physics") is physics.generate


def test_a_registered_source_is_validated_and_drawn_by_a_curriculum(dice):
    cfg = validate_config({
        "seed": 1,
        "sources": {"loaded": {"type": "dice", "seed": 7}},
        "stages": [{"name": "a", "mix": {"dice": 1.0, "loaded": 1.0}, "until": {"steps": 3}}],
        "train": {"batch_size": 16},
        "evals": {"tasks": [{"name": "dice", "source": "dice"}]},  # eval tasks score procedural sources
    })
    assert cfg.sources["dice"].type == "dice"  # registered: usable without a declaration
    assert cfg.sources["loaded"].type == "dice"
    batch = Curriculum(cfg, build_sources(cfg)).next_batch()
    assert {item.source for item in batch} == {"dice", "loaded"}
    for item in batch:
        assert item.meta.domain == "dice" and item.text.endswith(f"Answer: {item.meta.answer}")


def test_an_unknown_source_type_is_located_with_the_registered_names(dice, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("sources:\n  loaded: {type: dise}\n"
                    "stages:\n  - {name: a, mix: {loaded: 1}, until: {steps: 3}}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [f"{path}:2: sources.loaded.type: unknown source type 'dise'; "
                                   "did you mean 'dice'? (types: general, physics, dice, jsonl, text, "
                                   "hf_dataset, parquet, arrow, json)"]


@pytest.mark.parametrize("taken", ["jsonl", "text", "hf_dataset", "parquet", "arrow", "json"])
def test_a_source_name_must_not_shadow_a_file_or_dataset_type(taken):
    with pytest.raises(ValueError, match="cannot name a procedural source"):
        procedural_sources.register(taken, roll)
