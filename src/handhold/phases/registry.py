"""The phase detectors that read across metrics, in the order their sections appear.

``analyze`` runs each entry of :data:`DETECTORS` and writes its section; :mod:`.document` types
the document from them; the report and the dashboard draw their marks (``views/marks``), the
runs list sums them up and ``handhold analyze`` tables them, all from these entries. A new
detector is its module (the detection, the entry's ``TypedDict``) plus one entry here: see
:class:`~handhold.phases.spec.Detector` for what an entry declares.
"""

from __future__ import annotations

from typing import Any

from .divergence import DivergenceDoc, divergence_entries, divergence_pairs
from .grokking import GrokkingDoc, grokking_entries, grokking_pairs
from .indicator import IndicatorDoc, indicator_entry, indicator_groups
from .essay import EssayDoc, essay_entries, essay_groups
from .noise import ChangeDoc, changes_entries, family_keys
from .spec import Band, Column, Detector, Entry, Lines, fmt


def _grok_summary(entries: list[Entry]) -> list[str]:
    """Grokked: a real delay (:mod:`.grokking`); else a pair that generalized."""
    out = []
    for real, words in ((True, "grokked at step "), (False, "generalized at step ")):
        steps = sorted({round(g["generalized_at"]) for g in entries
                        if isinstance(g.get("generalized_at"), (int, float)) and bool(g.get("grokked")) is real})
        if steps:
            out.append(words + ", ".join(map(str, steps)))
    return out


def _evidence(row: Entry) -> str:
    ev = row.get("evidence")
    return "" if ev is None else (f"weight norm {ev['norm_drop']:.0%} below its peak (step "
                                  f"{fmt(ev['peak_step'])}), embedding Gini +{ev['gini_rise']:.3f}")


def _optional(v: Any) -> str:
    return "" if v is None else fmt(v)


DETECTORS: dict[str, Detector] = {d.section: d for d in (
    Detector(
        "divergences", DivergenceDoc, needs=divergence_pairs, detect=divergence_entries,
        order=lambda d: (d["start"], d["a"], d["b"]),
        marks=Band("divergence", "divergence", keys=("a", "b"),
                   hover=lambda d: f"divergence {d['a']} vs {d['b']}: steps {d['start']:g}–{d['end']:g}, "
                                   f"gap {d.get('gap', 0):.3g}"),
        title="divergences",
        columns=(Column("ahead", lambda d: d["a"]), Column("behind", lambda d: d["b"]),
                 Column("from", lambda d: fmt(d["start"])), Column("to", lambda d: fmt(d["end"])),
                 Column("gap", lambda d: f"{d['gap']:.4g}")),
        summary=lambda entries: [f"{len(entries)} divergence(s)"] if entries else []),
    Detector(
        "grokking", GrokkingDoc, needs=grokking_pairs, detect=grokking_entries,
        marks=Lines("grokking", "memorized / generalized", keys=("train", "val"),
                    steps=("memorized_at", "generalized_at"),
                    text=lambda g, what: f"{what.split('_')[0]} ({str(g.get('val', '')).rpartition('/')[2]})",
                    hover=lambda g: str(g.get("verdict") or ""),
                    drawn=lambda g: bool(g.get("grokked"))),  # a fine-tune's train/eval pair is no "memorized" mark
        title="train/validation pairs (grokking only where the delay is real)",
        columns=(Column("train", lambda g: g["train"]), Column("val", lambda g: g["val"]),
                 Column("memorized at", lambda g: fmt(g["memorized_at"])),
                 Column("generalized at", lambda g: fmt(g["generalized_at"])),
                 Column("delay", lambda g: _optional(g["delay"])),
                 Column("verdict", lambda g: f"[bold]{g.get('verdict') or ''}[/]" if g.get("grokked")
                        else g.get("verdict") or "")),
        summary=_grok_summary),
    Detector(
        "indicator", IndicatorDoc, needs=indicator_groups, detect=indicator_entry,
        title="leading indicator (training-side signals only)",
        columns=(Column("signals", lambda r: "\n".join(r["signals"])),
                 Column("generalization coming at",
                        lambda r: "not announced" if r["announced_at"] is None else fmt(r["announced_at"])),
                 Column("evidence", _evidence),
                 Column("val ≥ 95% at", lambda r: "" if "val" not in r else fmt(r["val_reached_at"])),
                 Column("lead (steps)", lambda r: _optional(r.get("lead"))))),
    Detector(
        "benchmark_changes", ChangeDoc, needs=family_keys, detect=changes_entries,
        order=lambda c: (c["start"], c["key"]),
        title="benchmark families per stage (paired over the same documents; 95%)",
        columns=(Column("family", lambda c: c["key"]), Column("stage", lambda c: c["stage"]),
                 Column("start → end", lambda c: f"{c['before']:.3g} → {c['after']:.3g}"),
                 Column("change (95%)", lambda c: f"{c['change']:+.3g} ({c['lo']:+.3g} to {c['hi']:+.3g})"),
                 Column("documents", lambda c: str(c["n_docs"])),
                 Column("reading", lambda c: c["reading"]),
                 Column("documents per task to see ±effect",
                        lambda c: f"{_optional(c['docs_needed'])} (±{c['effect']:g})")),
        summary=lambda entries: [f"{sum(not c['clears'] for c in entries)} family change(s) within noise"]
        if any(not c["clears"] for c in entries) else []),
    Detector(
        "essay", EssayDoc, needs=essay_groups, detect=essay_entries,
        title="the essay's quick reference, from the data",
        columns=(Column("question", lambda r: r["question"]), Column("verdict", lambda r: r["verdict"]),
                 Column("figures", lambda r: r["figures"]))),
)}
