"""Which code produced a result: package version plus the git commit when run from a checkout.

Stored with every run (``meta.code_version``) so that a table never mixes results from two
versions of handhold without saying so.
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path

from ._version import __version__


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


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """A short SHA-256 of the package's own files (names and bytes): tells two dirty trees apart,
    and recognises the same code installed without git."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def code_version() -> dict[str, str | None]:
    """``{"handhold": "0.1.0", "commit": "abc123def456", "source": "<digest>"}`` (commit None
    outside a checkout; ``source``: ``source_digest()``)."""
    return {"handhold": __version__, "commit": git_commit(), "source": source_digest()}


def same_code(a: dict | None, b: dict | None) -> bool:
    """Whether two recorded code versions are the same code: equal source digests when both have
    one (dirty trees included), else the same version and clean commit (a dirty tree never matches)."""
    if not a or not b:
        return False
    if a.get("source") and b.get("source"):
        return a["source"] == b["source"] and a.get("handhold") == b.get("handhold")
    if a.get("handhold") != b.get("handhold"):
        return False
    ca, cb = a.get("commit"), b.get("commit")
    if ca and cb and ("+dirty" in ca or "+dirty" in cb):
        return False
    return ca == cb
