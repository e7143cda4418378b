"""Which code and which resolved config made each lab run, and whether a finished run may be reused.

Every run store keeps ``meta.code_version`` (``handhold.provenance.code_version()``: package
version + git commit) and ``meta.grok_spec`` (the variant's resolved config). A finished run is
reused only when both match the current call: results of two code versions are never mixed
silently into one table. A run made by other code is retrained by default (its figures may have
moved with the code); ``allow_other_code`` reuses it anyway, and the table then names the code
version behind every row and marks the rows that mix versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..provenance import same_code
from ..runstore.db import RunStore, StoreError


@dataclass(frozen=True)
class Verdict:
    reuse: bool
    reason: str  # "" when reused as is; why not (or why flagged) otherwise
    code: dict[str, Any] | None = None  # the code version recorded in the run, if any

    @property
    def flagged(self) -> bool:
        return self.reuse and bool(self.reason)


def reuse_verdict(run_dir: Path, spec_json: dict[str, Any], seed: int, code: dict[str, Any], *,
                  allow_other_code: bool = False) -> Verdict:
    """Whether the finished run at ``run_dir`` can stand for (spec, seed) under the current ``code``."""
    try:
        with RunStore.reader(run_dir) as store:
            meta = store.meta()
    except StoreError:
        return Verdict(False, "no run yet")
    theirs = meta.get("code_version")
    if meta.get("status") != "finished" or "grok" not in meta:
        return Verdict(False, f"not finished ({meta.get('status')})", theirs)
    if meta.get("grok_seed") != seed or meta.get("grok_spec") != spec_json:
        return Verdict(False, "made with another config", theirs)
    if same_code(theirs, code):
        return Verdict(True, "", theirs)
    why = f"made by code {code_label(theirs)}, this is {code_label(code)}"
    return Verdict(allow_other_code, why, theirs)


def code_label(code: dict[str, Any] | None) -> str:
    """``0.1.0@5c9e1da0b1c2``; with uncommitted changes or outside a checkout the source digest
    tells versions apart: ``0.1.0@5c9e1da0b1c2+dirty/src:923dacbc``; ``unknown`` for runs
    recorded before versions were kept."""
    if not code:
        return "unknown"
    commit, source = code.get("commit"), code.get("source")
    label = f"{code.get('handhold')}@{commit}" if commit else str(code.get("handhold"))
    if source and (not commit or "+dirty" in commit):
        label += f"/src:{source[:8]}"
    return label


def versions_label(codes: list[dict[str, Any] | None]) -> str:
    """One label when every run of a row has the same code, else ``mixed: a, b``."""
    labels = sorted({code_label(c) for c in codes})
    return labels[0] if len(labels) == 1 else "mixed: " + ", ".join(labels)
