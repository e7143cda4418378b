"""Resume on damaged files. A damaged checkpoint falls back to the newest
complete one (and says so) and the run still matches the uninterrupted one; a damaged or empty
run store is refused with one line (exit 2) and left as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handhold.cli import app
from handhold.runstore.db import RunStore

pytestmark = pytest.mark.slow
runner = CliRunner()

STAGES = [{"name": "general", "mix": {"general": 1.0}, "until": {"steps": 6}},
          {"name": "physics", "mix": {"physics": 1.0}, "until": {"steps": 6}}]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """One finished tiny run (checkpoints at steps 6, 8 and 12), copied by each test."""
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1]))
    from conftest import write_config

    tmp = tmp_path_factory.mktemp("damage")
    cfg = write_config(tmp / "tiny.yaml", stages=STAGES, checkpoint={"every": 4, "keep": 3},
                       eval={"every": 6, "examples": 8, "batch_size": 8})
    res = runner.invoke(app, ["train", str(cfg), "--out", str(tmp / "run"), "-q", "--no-report"])
    assert res.exit_code == 0, res.output
    return tmp / "run"


def copy(finished: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    return run


def series(run: Path, key: str = "train/loss"):
    with RunStore.reader(run) as store:
        return store.series(key)


def newest(run: Path) -> Path:
    return sorted((run / "checkpoints").glob("step_*"))[-1]


@pytest.mark.parametrize("damage", ["truncated optimizer.pt", "garbage state.json", "no model.safetensors"])
def test_a_damaged_checkpoint_falls_back_to_the_previous_complete_one(finished, tmp_path, damage):
    run = copy(finished, tmp_path)
    last = newest(run)
    assert last.name == "step_0000012"
    if damage == "truncated optimizer.pt":
        data = (last / "optimizer.pt").read_bytes()
        (last / "optimizer.pt").write_bytes(data[: len(data) // 3])
    elif damage == "garbage state.json":
        (last / "state.json").write_text("{not json")
    else:
        (last / "model.safetensors").unlink()
    res = runner.invoke(app, ["resume", str(run), "-q", "--no-report"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "step_0000012" in out and "damaged" in out and "step_0000008" in out and "Traceback" not in out
    assert series(run) == series(finished)  # steps 9-12 trained again, identically
    assert (run / "checkpoints" / "damaged-step_0000012").is_dir()  # kept for a post-mortem, not lost


def test_every_checkpoint_damaged_is_refused_not_restarted(finished, tmp_path):
    run = copy(finished, tmp_path)
    for ck in (run / "checkpoints").glob("step_*"):
        (ck / "state.json").write_text("garbage")
    before = series(run)
    res = runner.invoke(app, ["resume", str(run), "-q", "--no-report"])
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    assert "no usable checkpoint" in " ".join(res.output.split())
    assert series(run) == before and len(list((run / "checkpoints").glob("step_*"))) == 3


@pytest.mark.parametrize("content", [b"", b"this is not a database" * 100])
def test_an_empty_or_damaged_run_store_is_refused(finished, tmp_path, content):
    run = copy(finished, tmp_path)
    (run / "run.db").write_bytes(content)
    for extra in ("run.db-wal", "run.db-shm"):
        (run / extra).unlink(missing_ok=True)
    res = runner.invoke(app, ["resume", str(run), "-q", "--no-report"])
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    assert "run.db" in res.output and len(res.output.strip().splitlines()) <= 3
    assert (run / "run.db").read_bytes() == content  # left exactly as it was


def test_eval_on_a_tampered_checkpoint_config_is_one_line(finished, tmp_path):
    """`handhold eval` on a checkpoint whose config.json no longer fits its weights."""
    import json

    import yaml

    run = copy(finished, tmp_path)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["evals"]["tasks"] = [{"name": "g", "source": "general", "examples": 2, "metrics": ["exact_match"]}]
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    conf = newest(run) / "config.json"
    data = json.loads(conf.read_text())
    conf.write_text(json.dumps({**data, "n_embd": data["n_embd"] * 2}))
    res = runner.invoke(app, ["eval", str(run)])
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    out = " ".join(res.output.split())
    assert "step_0000012" in out and "cannot load" in out
    assert len(res.output.strip().splitlines()) <= 4
