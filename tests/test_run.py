"""The Run API: what it writes, the bad-input rules, one writer, crashes, threads, resume."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import handhold
from handhold.runstore.live import Run, RunError
from handhold.runstore.listing import run_info
from handhold.runstore.db import RunStore

SRC = str(Path(__file__).resolve().parents[1] / "src")


def py(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_a_run_round_trips_metrics_stages_events_samples_and_meta(tmp_path):
    with handhold.init(tmp_path / "r", config={"lr": 0.1, "layers": [1, 2]}, name="demo") as run:
        run.stage("warmup", mix={"a": 1.0})
        for step in range(1, 6):
            run.log({"train/loss": 1.0 / step, "train/tokens": 100 * step, "acc": step == 5}, step=step)
        run.stage_end("budget", steps=5)
        run.stage("main")
        run.log({"train/loss": float("nan"), "train/tokens": 700}, step=7)
        run.event("spike", step=7, size=3.5)
        run.sample("probe", "2+2=", "4", step=7)
        run.stage_end("threshold", metric="acc", value=0.9)
    s = RunStore.reader(tmp_path / "r")
    meta = s.meta()
    assert meta["status"] == "finished" and meta["name"] == "demo"
    assert meta["config"] == {"lr": 0.1, "layers": [1, 2]} and meta["stages"] == ["warmup", "main"]
    assert meta["code_version"]["handhold"] == handhold.__version__
    steps, values = s.series("train/loss")
    assert steps == [1, 2, 3, 4, 5, 7] and values[:2] == [1.0, 0.5] and values[-1] is None  # NaN -> NULL
    assert s.series("acc")[1] == [0, 0, 0, 0, 1]
    ends = s.events("stage_end")
    assert [(e.step, e.data["stage"], e.data["reason"], e.data["steps"], e.data["tokens"]) for e in ends] == [
        (5, "warmup", "budget", 5, 500), (7, "main", "threshold", 2, 200)]
    assert ends[0].data["evidence"] == {"steps": 5}
    assert s.events("stage_start")[0].data == {"stage": "warmup", "index": 0, "mix": {"a": 1.0}}
    assert s.events("spike")[0].data == {"size": 3.5}
    assert [(x.kind, x.prompt, x.text) for x in s.samples()] == [("probe", "2+2=", "4")]
    assert run_info(tmp_path / "r").status == "finished"


@pytest.mark.parametrize("values, step, error, message", [
    ({"loss": "high"}, 3, TypeError, "'loss' is str"),
    ({"loss": [1.0, 2.0]}, 3, TypeError, "'loss' is a list"),
    ({"bad key": 1.0}, 3, ValueError, "has the character(s) ' '"),
    ({"a//b": 1.0}, 3, ValueError, "empty path part"),
    ({"loss": 1.0}, 1, ValueError, "step 1 is before step 2"),
    ({"loss": 1.0}, 2.5, TypeError, "step must be an integer"),
])
def test_bad_input_is_a_clear_error_and_loses_nothing(tmp_path, values, step, error, message):
    run = handhold.init(tmp_path / "r")
    run.log({"loss": 2.0}, step=2)
    with pytest.raises(error) as err:
        run.log({"ok": 1.0, **values}, step=step)
    assert message in str(err.value)
    run.log({"loss": 1.5}, step=3)
    run.finish()
    s = RunStore.reader(tmp_path / "r")
    assert s.series("loss") == ([2, 3], [2.0, 1.5]) and s.series("ok") == ([], [])


def test_event_stage_and_finish_rules(tmp_path):
    run = handhold.init(tmp_path / "r")
    with pytest.raises(ValueError, match="not one of budget, plateau, threshold, max_steps, requested"):
        run.stage_end("bored")
    with pytest.raises(RunError, match="no stage is open"):
        run.stage_end("budget")
    with pytest.raises(ValueError, match="written by run.stage"):
        run.event("stage_end", reason="x")
    with pytest.raises(TypeError, match="'obj' cannot be stored"):
        run.event("x", obj=object())
    run.stage("a", step=0)
    run.stage("b", step=4)  # a stage still open is ended first
    run.finish("stopped", "enough")
    run.finish()  # twice is harmless
    with pytest.raises(RunError, match="finished"):
        run.log({"x": 1.0})
    s = RunStore.reader(tmp_path / "r")
    assert [(e.step, e.data["reason"]) for e in s.events("stage_end")] == [(4, "requested")]
    assert (s.get_meta("status"), s.get_meta("stop_reason")) == ("stopped", "enough")


def test_one_writer_per_run_dir_and_no_silent_overwrite(tmp_path):
    run = handhold.init(tmp_path / "r")
    with pytest.raises(RunError, match="one writer per run directory"):
        handhold.init(tmp_path / "r", resume=True)
    out = py("import sys, handhold; handhold.init(sys.argv[1], resume=True)", str(tmp_path / "r"))
    assert out.returncode != 0 and "one writer per run directory" in out.stderr
    run.log({"x": 1.0}, step=1)
    run.finish()
    with pytest.raises(RunError, match="already holds a run; pass resume=True"):
        handhold.init(tmp_path / "r")
    assert RunStore.reader(tmp_path / "r").series("x") == ([1], [1.0])


def test_a_killed_writer_reads_as_crashed_and_keeps_what_was_flushed(tmp_path):
    code = """
        import os, signal, sys, time, handhold
        run = handhold.init(sys.argv[1], flush_seconds=0.2)
        for step in range(50):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
        time.sleep(0.8)  # the background flusher writes an idle run
        os.kill(os.getpid(), signal.SIGKILL)
    """
    out = py(code, str(tmp_path / "r"))
    assert out.returncode == -9
    info = run_info(tmp_path / "r")
    assert info.status == "crashed" and "gone" in info.reason
    assert RunStore.reader(tmp_path / "r").series("loss")[0] == list(range(50))


def test_exit_without_finish_records_finished_or_failed(tmp_path):
    ok = py("import sys, handhold; handhold.init(sys.argv[1]); handhold.log({'x': 1})", str(tmp_path / "ok"))
    bad = py("import sys, handhold; handhold.init(sys.argv[1]); handhold.log({'x': 1}); 1/0", str(tmp_path / "bad"))
    assert ok.returncode == 0 and bad.returncode == 1
    assert run_info(tmp_path / "ok").status == "finished"
    info = run_info(tmp_path / "bad")
    assert info.status == "failed" and "ZeroDivisionError" in info.reason


def test_threads_log_concurrently_without_losing_rows(tmp_path):
    run = handhold.init(tmp_path / "r", flush_every=64)

    def work(i: int) -> None:
        for j in range(500):
            run.log({f"thread{i}/x": j}, step=0)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run.finish()
    s = RunStore.reader(tmp_path / "r")
    assert s.count("metrics") == 2000
    assert all(s.series(f"thread{i}/x")[1] == list(range(500)) for i in range(4))


def test_resume_continues_the_open_stage_and_rewind_drops_later_rows(tmp_path):
    run = handhold.init(tmp_path / "r")
    run.stage("a", step=0)
    for step in range(1, 11):
        run.log({"train/tokens": 10 * step, "loss": 1.0}, step=step)
    run.finish()
    run = handhold.init(tmp_path / "r", resume=True)
    assert run.step == 10
    assert run.rewind(6) == 10  # steps 7..10 of two keys, fit_end and resume at 10
    with pytest.raises(ValueError, match="before step 6"):
        run.log({"loss": 1.0}, step=5)
    run.log({"train/tokens": 80, "loss": 0.5}, step=8)
    run.stage_end("budget", step=8)
    run.finish()
    s = RunStore.reader(tmp_path / "r")
    assert s.series("loss")[0] == [1, 2, 3, 4, 5, 6, 8]
    end = s.events("stage_end")[0]
    assert (end.data["stage"], end.data["steps"], end.data["tokens"]) == ("a", 8, 80)


def test_module_level_api_covers_the_wandb_subset(tmp_path, monkeypatch):
    import handhold as wandb

    monkeypatch.chdir(tmp_path)
    run = wandb.init(project="proj", name="first", config={"lr": 1e-3}, entity="ignored")
    assert run.dir == Path("runs/proj/first") and run.config == {"lr": 1e-3}
    wandb.log({"loss": 2.0})
    wandb.log({"acc": 0.5}, commit=False)
    wandb.log({"loss": 1.0})
    wandb.log({"nested": {"a": 1, "b": 2}}, step=5)
    wandb.finish(exit_code=0)
    s = RunStore.reader(tmp_path / "runs/proj/first")
    assert s.series("loss") == ([0, 1], [2.0, 1.0]) and s.series("acc") == ([1], [0.5])
    assert s.series("nested/b") == ([5], [2.0])
    assert wandb.init(project="proj", name="first").dir == Path("runs/proj/first-2")  # a taken name
    wandb.finish()
    with pytest.raises(AttributeError, match="only init, log, finish"):
        wandb.Image
    with pytest.raises(RunError, match="no run is open"):
        wandb.log({"x": 1})


def test_numpy_and_torch_scalars_are_numbers(tmp_path):
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    with Run(tmp_path / "r") as run:
        run.log({"a": np.float32(0.5), "b": torch.tensor(2.0), "c": np.int64(3), "d": torch.tensor([4.0]),
                 "e": math.inf}, step=1)
        with pytest.raises(TypeError, match="of shape \\(2,\\)"):
            run.log({"f": torch.ones(2)}, step=1)
    s = RunStore.reader(tmp_path / "r")
    assert [s.series(k)[1] for k in "abcde"] == [[0.5], [2.0], [3.0], [4.0], [None]]


def test_import_handhold_stays_light():
    out = py("import sys, handhold; print('handhold.runstore.live' in sys.modules, 'torch' in sys.modules)")
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("call, error, message", [
    (lambda r: r.log({"x": 1.0}, step=2**63), ValueError, "out of range"),
    (lambda r: r.log({"x": 1.0}, step=10**30), ValueError, "out of range"),
    (lambda r: r.log({"x": 1.0}, step=float("inf")), TypeError, "step must be an integer"),
    (lambda r: r.log({"x": 1.0}, step=float("nan")), TypeError, "step must be an integer"),
    (lambda r: r.log({"x": 1.0}, step=-1), ValueError, "step must be >= 0"),
    (lambda r: r.log({"x": 10**400}), ValueError, "too large for a float"),
    (lambda r: r.log({"ok": 1.0, "nested": {"fine": 1.0, "bad key": 2.0}}), ValueError, "'nested/bad key'"),
    (lambda r: r.event("e", step=2**63), ValueError, "out of range"),
    (lambda r: r.sample("probe", "p", "\ud800", step=200), ValueError, "not valid Unicode"),
    (lambda r: r.stage("s", step=2**64), ValueError, "out of range"),
    (lambda r: r.stage("s", index="first"), ValueError, "index must be an integer"),
    (lambda r: r.rewind(2**63), ValueError, "out of range"),
])
def test_a_value_beyond_sqlite_is_refused_at_the_call_and_accepted_rows_survive(tmp_path, call, error, message):
    """100 rows accepted, then a refused call: the call raises the Run API's own error at once,
    finish() writes all 100 rows and the status (before: OverflowError at finish, 100 of 100
    rows lost, status never written)."""
    run = handhold.init(tmp_path / "r", flush_every=10**6, flush_seconds=3600)
    run.stage("only")
    for step in range(100):
        run.log({"x": float(step)}, step=step)
    with pytest.raises(error, match=message):
        call(run)
    run.finish()
    s = RunStore.reader(tmp_path / "r")
    assert s.series("x")[0] == list(range(100)) and s.get_meta("status") == "finished"
    assert s.metric_keys() == ["x"] and s.events("e") == [] and list(s.samples()) == []
    assert [e.data["stage"] for e in s.events("stage_start")] == ["only"]


def test_big_integer_values_are_stored_as_numbers(tmp_path):
    with handhold.init(tmp_path / "r") as run:
        run.log({"count": 2**63, "neg": -(2**70), "edge": 2**63 - 1}, step=0)
    s = RunStore.reader(tmp_path / "r")
    assert s.series("count")[1] == [float(2**63)] and s.series("neg")[1] == [float(-(2**70))]
    assert s.series("edge")[1] == [float(2**63 - 1)]


def test_init_takes_the_lock_before_it_looks_for_a_run(tmp_path, monkeypatch):
    """Whether run.db exists is read while the lock is held: a writer that creates the run
    between the check and the lock cannot be overwritten by a second init."""
    from handhold.runstore import live as run_module

    order = []
    real_acquire, real_db_path = run_module.runlock.acquire, run_module.db_path
    monkeypatch.setattr(run_module.runlock, "acquire", lambda d: order.append("lock") or real_acquire(d))
    monkeypatch.setattr(run_module, "db_path", lambda d: order.append("exists?") or real_db_path(d))
    handhold.init(tmp_path / "r").finish()
    assert order[:2] == ["lock", "exists?"]


def test_a_flush_that_fails_at_finish_marks_the_run_failed(tmp_path, monkeypatch):
    run = handhold.init(tmp_path / "r", flush_every=10**6, flush_seconds=3600)
    run.log({"x": 1.0}, step=0)

    def broken() -> None:
        raise OSError("disk full")

    monkeypatch.setattr(run._store, "flush", broken)
    with pytest.raises(RunError, match="could not be written.*disk full"):
        run.finish()
    s = RunStore.reader(tmp_path / "r")
    assert s.get_meta("status") == "failed" and "disk full" in s.get_meta("stop_reason")


def test_there_is_no_next_step_after_the_last_one_sqlite_holds(tmp_path):
    """Found by the property test: log(step=2**63-1) then log() without a step chose 2**63,
    which failed at the flush and lost the buffered rows."""
    run = handhold.init(tmp_path / "r", flush_every=10**6, flush_seconds=3600)
    run.log({"x": 1.0}, step=2**63 - 1)
    with pytest.raises(ValueError, match="next step.*out of range"):
        run.log({"x": 2.0})
    run.finish()
    assert RunStore.reader(tmp_path / "r").series("x") == ([2**63 - 1], [1.0])
