"""One trainer per run directory: a lock held for as long as a run trains.

``handhold resume`` on a run that is still training would delete rows the live trainer just
wrote; ``runs`` and the dashboard ask the same lock whether a "running" run is really alive.
The lock is the operating system's own (``flock`` on POSIX, ``LockFileEx`` on Windows, through
``filelock``): the kernel drops it with the process that held it, so a trainer killed by
SIGKILL leaves a run that is free to resume and that ``runs`` shows as crashed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from filelock import FileLock, Timeout

LOCK_NAME = ".trainer.lock"
HOLDER_NAME = ".trainer.holder"  # who holds the lock, for the message a second writer gets


class RunLocked(RuntimeError):
    """Another process holds the run directory."""


class HeldLock:
    """A lock this process holds until :meth:`close` (from any thread; closing twice is fine)."""

    def __init__(self, lock: FileLock) -> None:
        self._lock = lock

    @property
    def closed(self) -> bool:
        return not self._lock.is_locked

    def close(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)


def _file_lock(path: Path) -> FileLock:
    # thread_local=False: a run is closed by whichever thread finishes it (an atexit hook, a
    # signal handler). The file stays on release (flock keeps it; on Windows, preserve_lock_file),
    # so `held` tells "free" (the file, unlocked) from "never locked" (no file).
    return FileLock(path, thread_local=False, preserve_lock_file=sys.platform == "win32")


def take(path: Path, timeout: float = 0.0) -> HeldLock:
    """Hold the lock file ``path``, waiting up to ``timeout`` seconds, or raise ``RunLocked``."""
    lock = _file_lock(path)
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise RunLocked(f"{path} is held by another process") from None
    return HeldLock(lock)


def acquire(run_dir: Path) -> HeldLock:
    """Take the run's lock or raise ``RunLocked``; keep the returned lock until training ends."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        held_lock = take(run_dir / LOCK_NAME)
    except RunLocked:
        raise RunLocked(f"{run_dir} is being trained right now (by {_holder(run_dir)}); "
                        "wait for it or stop it first") from None
    try:
        (run_dir / HOLDER_NAME).write_text(f"pid {os.getpid()}", encoding="utf-8")
    except OSError:
        pass  # only the refusal message of a second writer reads it
    return held_lock


def _holder(run_dir: Path) -> str:
    try:
        return (run_dir / HOLDER_NAME).read_text(encoding="utf-8").strip() or "another process"
    except OSError:
        return "another process"


def held(run_dir: Path) -> bool | None:
    """True if a trainer holds the lock, False if not, None if the run has no lock file (or the
    lock cannot be tried here: a folder this user may not write)."""
    path = Path(run_dir) / LOCK_NAME
    if not path.is_file():
        return None
    lock = _file_lock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    except OSError:
        return None
    lock.release(force=True)
    return False
