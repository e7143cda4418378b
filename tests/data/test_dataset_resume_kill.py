"""A curriculum over a save_to_disk dataset and a Parquet file: trained, killed by SIGKILL mid-stage,
resumed, and the resumed run draws the same rows as the one never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

datasets = pytest.importorskip("datasets", reason="dataset sources are in the [datasets] extra")

from handhold.runstore.listing import run_info  # noqa: E402
from handhold.runstore.db import RunStore  # noqa: E402
from handhold.train import checkpoint as ckpt  # noqa: E402

pytestmark = pytest.mark.slow


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "handhold", *args, "-q", "--no-report"]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_DATASETS_CACHE": str(tmp_path / "cache")}


def _curriculum(tmp_path: Path) -> Path:
    words = ["ball", "ramp", "spring", "lever", "wheel", "pulley"]
    datasets.Dataset.from_dict({"text": [f"the {words[i % 6]} moved {i} cm in {i % 9 + 1} s" for i in range(150)]}
                               ).save_to_disk(str(tmp_path / "notes"))
    datasets.Dataset.from_dict({"body": [f"a {words[i % 6]} of mass {i % 13 + 1} kg, case {i}" for i in range(300)]}
                               ).to_parquet(str(tmp_path / "cases.parquet"))
    cfg = {"name": "datasets", "seed": 0,
           "model": {"arch": "gpt2", "config": {"n_layer": 1, "n_head": 2, "n_embd": 32}},
           "sources": {"notes": {"type": "hf_dataset", "path": "notes"},
                       "cases": {"type": "parquet", "path": "cases.parquet", "text_field": "body"}},
           "stages": [{"name": "notes", "mix": {"notes": 1.0}, "until": {"steps": 20}},
                      {"name": "mixed", "mix": {"notes": 0.5, "cases": 0.5}, "until": {"steps": 20}}],
           "train": {"batch_size": 8, "seq_len": 64}, "optim": {"lr": 3e-3, "warmup_steps": 2},
           "eval": {"every": 10, "examples": 8, "batch_size": 8}, "evals": {"every": 1000},
           "checkpoint": {"every": 5, "keep": 10}}
    path = tmp_path / "datasets.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _cursors(run: Path, step: int) -> dict[str, int]:
    state = json.loads((ckpt.checkpoint_dir(run, step) / "state.json").read_text())
    return state["curriculum"]["cursors"]


def test_a_run_over_datasets_killed_mid_stage_resumes_on_the_same_rows(tmp_path):
    config = _curriculum(tmp_path)
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    subprocess.run(_cli("train", str(config), "--out", str(clean)), env=_env(tmp_path), check=True, timeout=300)

    proc = subprocess.Popen(_cli("train", str(config), "--out", str(killed)), env=_env(tmp_path))
    target = ckpt.checkpoint_dir(killed, 25)  # inside the mixed stage
    deadline = time.time() + 240
    while not target.exists():
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = RunStore.reader(killed).last_step()
    assert killed_at is not None and killed_at < 40
    assert run_info(killed).status == "crashed"

    subprocess.run(_cli("resume", str(killed)), env=_env(tmp_path), check=True, timeout=300)
    assert run_info(killed).status == "finished"
    # the same rows: every source's cursor at every checkpoint, and the losses bit for bit
    for step in (25, 30, 35, 40):
        assert _cursors(killed, step) == _cursors(clean, step), step
    assert _cursors(clean, 40)["cases"] > 0 and _cursors(clean, 40)["notes"] > 150  # notes: past an epoch
    a, b = RunStore.reader(clean), RunStore.reader(killed)
    for key in ("train/loss", "eval/loss/notes", "eval/loss/cases"):
        assert b.series(key) == a.series(key), key
