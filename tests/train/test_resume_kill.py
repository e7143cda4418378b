"""Kill -9 in the middle of a stage, resume, and get the run that was never interrupted."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from handhold.runstore.db import RunStore
from handhold.train import checkpoint as ckpt

pytestmark = pytest.mark.slow

STAGES = ["stages.0.until.steps=30", "stages.1.until.steps=30", "checkpoint.every=5",
          "eval.every=10", "model.config.n_embd=64", "train.batch_size=16"]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "handhold", *args]


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def train_cmd(config: Path, out: Path) -> list[str]:
    sets = [a for s in STAGES for a in ("--set", s)]
    return cli("train", str(config), "--out", str(out), "-q", "--no-report", *sets)


@pytest.mark.parametrize("kill_after, delay", [(35, 0.0), (40, 0.03)])
def test_sigkill_mid_stage_then_resume_matches_uninterrupted(tiny_config, tmp_path, kill_after, delay):
    config = tiny_config()
    subprocess.run(train_cmd(config, tmp_path / "clean"), env=env(), check=True, timeout=300)

    proc = subprocess.Popen(train_cmd(config, tmp_path / "killed"), env=env())
    target = ckpt.checkpoint_dir(tmp_path / "killed", kill_after)  # inside the second stage
    deadline = time.time() + 240
    while not target.exists():
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.005)
    time.sleep(delay)  # the second kill lands a few steps on: mid-step, mid-flush or mid-save
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = RunStore.reader(tmp_path / "killed").last_step()
    assert killed_at is not None and killed_at < 60

    from handhold.runstore.listing import run_info

    assert run_info(tmp_path / "killed").status == "crashed"  # a dead writer is not "running"

    subprocess.run(cli("resume", str(tmp_path / "killed"), "-q", "--no-report"), env=env(),
                   check=True, timeout=300)
    clean, resumed = RunStore.reader(tmp_path / "clean"), RunStore.reader(tmp_path / "killed")
    assert resumed.metric_keys() == clean.metric_keys()
    for key in clean.metric_keys():
        if key.endswith(("_time_s", "tokens_per_s", "time_s")):
            continue  # wall-clock measurements differ, of course
        assert resumed.series(key) == clean.series(key), key  # bit for bit, each step once
    dupes = resumed.query(
        "SELECT key, step, COUNT(*) FROM metrics GROUP BY key, step HAVING COUNT(*) > 1").fetchall()
    assert dupes == []
    stage_events = [(e.step, e.kind, e.data["stage"]) for e in resumed.events()
                    if e.kind in ("stage_start", "stage_end")]
    assert stage_events == [(0, "stage_start", "general"), (30, "stage_end", "general"),
                            (30, "stage_start", "physics"), (60, "stage_end", "physics")]
    assert run_info(tmp_path / "killed").status == "finished"
    assert not any(p.name.startswith(".tmp") for p in (tmp_path / "killed" / "checkpoints").iterdir())


def test_a_live_run_cannot_be_resumed_or_overwritten(tiny_config, tmp_path):
    from handhold.runstore.listing import run_info

    out = tmp_path / "live"
    cmd = cli("train", str(tiny_config()), "--out", str(out), "-q", "--no-report",
              "--set", "stages.0.until.steps=100000", "--set", "checkpoint.every=5")
    proc = subprocess.Popen(cmd, env=env())
    try:
        deadline = time.time() + 120
        while not ckpt.checkpoint_dir(out, 5).exists():
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.01)
        assert run_info(out).status == "running"
        before = RunStore.reader(out).series("train/loss")[0]
        for args in (("resume", str(out)), ("train", str(tiny_config()), "--out", str(out), "--overwrite")):
            refused = subprocess.run(cli(*args, "-q", "--no-report"), env=env(), capture_output=True,
                                     text=True, timeout=120)
            assert refused.returncode == 2, refused.stderr
            assert "is being trained right now" in refused.stderr
        assert proc.poll() is None  # the live run goes on
        after = RunStore.reader(out).series("train/loss")[0]
        assert after[:len(before)] == before  # nothing it wrote was deleted
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert run_info(out).status == "crashed"
