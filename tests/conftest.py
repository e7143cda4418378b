"""Shared fixtures: a tiny curriculum that trains in seconds on one CPU thread; headless Chromium for the browser tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

TINY = {
    "name": "tiny",
    "seed": 0,
    "model": {"arch": "gpt2", "config": {"n_layer": 1, "n_head": 2, "n_embd": 32}},
    "stages": [
        {"name": "general", "mix": {"general": 1.0}, "until": {"steps": 12}},
        {"name": "physics", "mix": {"physics": 0.75, "general": 0.25}, "until": {"steps": 12}},
    ],
    "train": {"batch_size": 8, "seq_len": 96},
    "optim": {"lr": 3e-3, "warmup_steps": 2},
    "eval": {"every": 4, "examples": 16, "batch_size": 16},
    "checkpoint": {"every": 5, "keep": 2},
}


def write_config(path: Path, data: dict | None = None, **top: object) -> Path:
    cfg = {**TINY, **(data or {}), **top}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture
def tiny_config(tmp_path: Path):
    """A function: ``tiny_config(**top_level_overrides) -> Path`` of a written YAML file."""

    def make(**top: object) -> Path:
        return write_config(tmp_path / "tiny.yaml", **top)

    return make


@pytest.fixture(autouse=True, scope="session")
def _quiet_hf():
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


CHROMIUM = os.environ.get("HANDHOLD_CHROMIUM", "/usr/bin/chromium")
# as root on a machine with no network: no sandbox, no background connections that would be refused
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module; skipped, saying why, where it is not installed."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}: `make test` installs it as root with "
                    "apt-get (Debian packages chromium, chromium-driver)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the [test] extra")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()
