"""Which code produced a result: package version plus the git commit when run from a checkout.

Stored with every run (``meta.code_version``) so that a table never mixes results from two
versions of handhold without saying so.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from . import __version__


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the checkout handhold runs from (``+dirty`` when it has local changes), else None."""
    here = Path(__file__).resolve().parent
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=here, capture_output=True,
                             text=True, timeout=5)
        if top.returncode != 0 or not (Path(top.stdout.strip()) / "src" / "handhold").is_dir():
            return None  # installed somewhere inside an unrelated repository
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True,
                              text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "src"],
                               cwd=top.stdout.strip(), capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def code_version() -> dict[str, str | None]:
    """``{"handhold": "0.1.0", "commit": "abc123def456"}`` (commit None outside a checkout)."""
    return {"handhold": __version__, "commit": git_commit()}


def same_code(a: dict | None, b: dict | None) -> bool:
    """Whether two recorded code versions are the same code (a dirty tree never matches)."""
    if not a or not b:
        return False
    if a.get("handhold") != b.get("handhold"):
        return False
    ca, cb = a.get("commit"), b.get("commit")
    if ca and cb and ("+dirty" in ca or "+dirty" in cb):
        return False
    return ca == cb
