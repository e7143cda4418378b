"""One trainer per run directory: an advisory lock held for as long as a run trains.

``handhold resume`` on a run that is still training would delete rows the live trainer just
wrote; ``runs`` and the dashboard ask the same lock whether a "running" run is really alive.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

LOCK_NAME = ".trainer.lock"


class RunLocked(RuntimeError):
    """Another process holds the run directory."""


def acquire(run_dir: Path) -> IO[str]:
    """Take the run's lock or raise ``RunLocked``; keep the returned file open while training."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    fh = open(Path(run_dir) / LOCK_NAME, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        raise RunLocked(f"{run_dir} is being trained right now (by {holder}); "
                        "wait for it or stop it first") from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()}")
    fh.flush()
    return fh


def held(run_dir: Path) -> bool | None:
    """True if a trainer holds the lock, False if not, None if the run has no lock file."""
    path = Path(run_dir) / LOCK_NAME
    if not path.is_file():
        return None
    with open(path) as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False
