"""The run lock: one writer per run directory, a clear refusal for a second one, and a writer
that dies (SIGKILL) releases it, which is how `runs` tells a crashed run from a live one."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import handhold
from handhold.runstore import lock as runlock
from handhold.runstore.live import RunError
from handhold.runstore.listing import run_info

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _python(code: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _holder(run_dir: Path, *, run_api: bool = False) -> subprocess.Popen:
    """A process that takes the lock (or opens a run with the Run API), says "ready" and waits."""
    take = (f"import handhold; r = handhold.init({str(run_dir)!r})"
            if run_api else f"from handhold.runstore import lock; held = lock.acquire({str(run_dir)!r})")
    proc = _python(f"""
        {take}
        print("ready", flush=True)
        import time; time.sleep(120)
        """)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_a_second_writer_in_the_same_process_is_refused_until_the_first_closes(tmp_path):
    first = runlock.acquire(tmp_path)
    with pytest.raises(runlock.RunLocked, match=rf"is being trained right now \(by pid {os.getpid()}\)"):
        runlock.acquire(tmp_path)
    assert runlock.held(tmp_path) is True
    first.close()
    first.close()  # twice is harmless
    assert first.closed and runlock.held(tmp_path) is False
    runlock.acquire(tmp_path).close()


def test_a_lock_taken_in_one_thread_is_released_from_another(tmp_path):
    lock = runlock.acquire(tmp_path)
    closer = threading.Thread(target=lock.close)
    closer.start()
    closer.join()
    assert runlock.held(tmp_path) is False


def test_a_run_never_locked_has_no_answer(tmp_path):
    assert runlock.held(tmp_path) is None


def test_a_writer_in_another_process_holds_the_run_until_it_is_killed(tmp_path):
    proc = _holder(tmp_path)
    try:
        assert runlock.held(tmp_path) is True
        with pytest.raises(runlock.RunLocked, match=rf"by pid {proc.pid}\)"):
            runlock.acquire(tmp_path)
    finally:
        _kill(proc)
    assert runlock.held(tmp_path) is False  # the kernel released the dead writer's lock
    runlock.acquire(tmp_path).close()


def test_a_lock_file_left_by_an_earlier_handhold_is_free(tmp_path):
    (tmp_path / runlock.LOCK_NAME).write_text("pid 12345")  # what the fcntl lock wrote in the file
    assert runlock.held(tmp_path) is False
    runlock.acquire(tmp_path).close()


def test_a_run_api_writer_is_running_while_alive_and_crashed_once_killed(tmp_path):
    run_dir = tmp_path / "run"
    proc = _holder(run_dir, run_api=True)
    try:
        assert run_info(run_dir).status == "running"
        with pytest.raises(RunError, match="one writer per run directory"):
            handhold.init(run_dir, resume=True)
    finally:
        _kill(proc)
    info = run_info(run_dir)
    assert info.status == "crashed" and "killed?" in info.reason
    run = handhold.init(run_dir, resume=True)  # the dead writer's lock is free again
    run.finish()
    assert run_info(run_dir).status == "finished"


def test_the_amend_door_waits_for_another_amend_writer_then_gives_up(tmp_path):
    from handhold.runstore.amend import LOCK_NAME, AmendError

    handhold.init(tmp_path / "run").finish()
    other = runlock.take(tmp_path / "run" / LOCK_NAME)
    start = time.monotonic()
    with pytest.raises(AmendError, match="another amend writer has held the run for 0.2 s"):
        handhold.amend(tmp_path / "run", timeout=0.2)
    assert time.monotonic() - start >= 0.2
    other.close()
    with handhold.amend(tmp_path / "run", timeout=0.2) as amend:
        amend.log({"late/x": 1.0}, step=0)


def test_handhold_imports_and_locks_without_fcntl(tmp_path):
    """Windows has no fcntl: the trainer, the Run API and the amend door must not need it."""
    proc = _python(f"""
        import sys, warnings
        sys.modules["fcntl"] = None  # as on Windows: `import fcntl` fails
        warnings.simplefilter("ignore")  # filelock says it falls back to its soft lock here
        import handhold, handhold.train, handhold.runstore.amend, handhold.runstore.listing, handhold.cli
        run = handhold.init({str(tmp_path / "run")!r})
        try:
            handhold.init({str(tmp_path / "run")!r}, resume=True)
        except Exception as exc:
            print(type(exc).__name__)
        run.finish()
        print("ok")
        """)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.split() == ["RunError", "ok"]
