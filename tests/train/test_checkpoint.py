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


# ------------------------------------------------------------------ issue 20: damage read as health
def _edit_state(ck: Path, **changes) -> None:
    import json

    state = json.loads((ck / "state.json").read_text())
    (ck / "state.json").write_text(json.dumps({**state, **changes}))


@pytest.mark.parametrize("changes", [{"step": 99}, {"tokens": float("nan")}, {"tokens": -5}, {"step": "12"}])
def test_a_state_json_that_lies_is_damage_not_a_finished_run(finished, tmp_path, changes):
    """A wrong step or a token count that is not a whole number: the checkpoint is skipped as
    damaged (the run trains steps 9-12 again, identically), never resumed as already finished."""
    run = copy(finished, tmp_path)
    _edit_state(newest(run), **changes)
    res = runner.invoke(app, ["resume", str(run), "-q", "--no-report"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "skipped damaged step_0000012" in out and "state.json" in out
    assert series(run) == series(finished)
    tokens = series(run, "train/tokens")[1]
    assert tokens == series(finished, "train/tokens")[1] and None not in tokens


@pytest.mark.parametrize("n_layer", [0, 2])
def test_chat_refuses_a_checkpoint_whose_config_json_has_another_layer_count(finished, tmp_path, n_layer):
    """Fewer layers would drop weights, more would leave layers random: both are refused, naming
    what did not fit (transformers' missing / unexpected keys)."""
    import json

    run = copy(finished, tmp_path)
    conf = newest(run) / "config.json"
    conf.write_text(json.dumps({**json.loads(conf.read_text()), "n_layer": n_layer}))
    res = runner.invoke(app, ["chat", str(run)], input="hello\n")
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    out = " ".join(res.output.split())
    assert "does not fit its weights" in out
    assert ("unused" if n_layer == 0 else "parameters not in the file") in out


def test_resume_after_config_yaml_changed_the_model_says_what_differs(finished, tmp_path):
    """The checkpoints are sound: the refusal names the edited field, calls nothing damaged and
    sets nothing aside."""
    run = copy(finished, tmp_path)
    text = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(text.replace("n_layer: 1", "n_layer: 2"))
    res = runner.invoke(app, ["resume", str(run), "-q", "--no-report"])
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    out = " ".join(res.output.split())
    assert "n_layer: 1 in the checkpoint, 2 in config.yaml" in out and "damaged" not in out
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == \
        sorted(p.name for p in (finished / "checkpoints").iterdir())


# ------------------------------------------------------------------ a full disk
@pytest.mark.parametrize("where", ["optimizer.pt", "model.safetensors"])
def test_a_full_disk_during_a_checkpoint_is_one_line_a_failed_run_and_no_debris(tmp_path, where):
    """The write of checkpoint 8 meets a full disk (torch's OSError, or safetensors' own error):
    one line naming the disk, status ``failed`` with that reason, no temporary directory, the
    checkpoints before it intact; a resume on the still-full disk is the same line."""
    import errno
    import sys
    from unittest import mock

    import torch
    from safetensors import SafetensorError

    from handhold.train import checkpoint as ckpt

    sys.path.insert(0, str(Path(__file__).parents[1]))
    from conftest import write_config

    real_save = torch.save
    import transformers.modeling_utils as mu

    real_safe = mu.safe_save_file

    def full_save(obj, f, *a, **k):
        if where == "optimizer.pt" and "step_0000008" in str(f) and str(f).endswith("optimizer.pt"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *a, **k)

    def full_safe(tensors, filename, *a, **k):
        if where == "model.safetensors" and "step_0000008" in str(filename):
            raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
        return real_safe(tensors, filename, *a, **k)

    cfg = write_config(tmp_path / "tiny.yaml", stages=STAGES, checkpoint={"every": 4, "keep": 3},
                       eval={"every": 6, "examples": 8, "batch_size": 8})
    run = tmp_path / "run"
    with mock.patch.object(ckpt.torch, "save", full_save), mock.patch.object(mu, "safe_save_file", full_safe):
        res = runner.invoke(app, ["train", str(cfg), "--out", str(run), "-q", "--no-report"])
        text = " ".join(res.output.split())
        assert res.exit_code == 2 and "Traceback" not in res.output, res.output
        assert len(res.output.strip().splitlines()) <= 3 and "no space left on the disk mounted at" in text
        assert "step_0000008" in text and "handhold resume" in text
        with RunStore.reader(run) as store:
            assert store.get_meta("status") == "failed"
            assert "no space left" in store.get_meta("stop_reason")
        assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_0000004", "step_0000006"]
        again = runner.invoke(app, ["resume", str(run), "-q", "--no-report"])
        assert again.exit_code == 2 and "Traceback" not in again.output, again.output
        assert "no space left on the disk" in " ".join(again.output.split())
        assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_0000004", "step_0000006"]
    freed = runner.invoke(app, ["resume", str(run), "-q", "--no-report"])  # space again: the run ends
    assert freed.exit_code == 0, freed.output


def test_sqlite_disk_full_is_the_same_one_line_error(tmp_path):
    """The run store's own writes meeting a full disk: an OSError naming the disk, not SQLite's
    OperationalError (which the command line would show as a traceback)."""
    import sqlite3

    from handhold.runstore.layout import DiskFull

    store = RunStore.open(tmp_path)

    class Full:
        def __init__(self, conn):
            self.conn = conn

        def execute(self, sql, *a):
            if sql.startswith(("INSERT", "BEGIN")):
                raise sqlite3.OperationalError("database or disk is full")
            return self.conn.execute(sql, *a)

        def __getattr__(self, name):
            return getattr(self.conn, name)

    real = store._conn
    store._conn = Full(real)
    store.append_metric_rows([(1, "a", 1.0, 0.0)])
    with pytest.raises(DiskFull, match="no space left on the disk mounted at"):
        store.flush()
    with pytest.raises(DiskFull):
        store.set_meta("status", "failed")
    store._conn = real
    real.close()
