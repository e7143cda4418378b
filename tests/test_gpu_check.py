"""``benchmarks/gpu_check.py`` on a machine without a GPU: it says so and exits 0 (nothing to measure),
and the essay config's GPU overrides load."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_a_gpu_it_says_so_and_exits_zero(gpu_check, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main([]) == 0
    assert "no CUDA GPU on this machine" in capsys.readouterr().out


def test_the_gpu_overrides_of_the_essay_config_load(gpu_check, tmp_path):
    cfg = gpu_check.essay_config("models/smollm2-135m-instruct", 30, tmp_path)
    assert (cfg.train.batch_size, cfg.train.seq_len, cfg.train.max_steps) == (32, 256, 30)
    assert cfg.evals.benchmarks.limit == 500 and cfg.train.mixed_precision == "bf16"
    assert gpu_check.peak_tflops("NVIDIA H100 80GB HBM3", None) == 989.0
    assert gpu_check.peak_tflops("Some GPU", 100.0) == 100.0
