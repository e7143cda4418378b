"""Aggregate many scores into a few, the way llm-foundry's eval gauntlet does.

Each score is centered against its random baseline, ``(acc - baseline) / (1 - baseline)``,
so chance is 0 and perfect is 1 whatever the number of choices (a 4-way multiple-choice
task at 25% is "nothing learned", like a free-answer task at 0%). Centered scores are
averaged within categories with equal weight, then categories are averaged: per family (e.g.
"reasoning" vs "standard") and overall. See mosaicml/llm-foundry
``llmfoundry/callbacks/eval_gauntlet_callback.py`` for the original.

Missing scores: a category averages the members that are present, and a category with none
present is None and left out of its family and the overall mean; the names of the missing
scores are listed under ``"missing"``. Counting a missing score as 0 would make a skipped
eval look like a collapse. (llm-foundry instead drops a category as soon as one member is
missing; we keep the partial mean because in-loop evals are often subsets, and say so.)
A NaN score counts as missing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def centered(acc: float, baseline: float) -> float:
    """``(acc - baseline) / (1 - baseline)``: 0 at chance, 1 at perfect, negative below chance."""
    if not baseline < 1:
        raise ValueError(f"centered: baseline must be < 1, got {baseline}")
    return (acc - baseline) / (1 - baseline)


@dataclass
class GauntletSpec:
    """Which scores form which category, their random baselines, and families of categories."""

    categories: dict[str, list[str]]  # category -> score names
    baselines: dict[str, float] = field(default_factory=dict)  # score name -> baseline (default 0)
    families: dict[str, list[str]] = field(default_factory=dict)  # family -> category names

    def __post_init__(self) -> None:
        for name, b in self.baselines.items():
            if isinstance(b, bool) or not isinstance(b, (int, float)) or not 0 <= b < 1:
                raise ValueError(f"GauntletSpec.baselines[{name!r}]: must be a number in [0, 1), got {b!r}")
        for fam, cats in self.families.items():
            unknown = [c for c in cats if c not in self.categories]
            if unknown:
                raise ValueError(f"GauntletSpec.families[{fam!r}]: unknown categories {unknown}")


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def aggregate(scores: dict[str, float], spec: GauntletSpec) -> dict:
    """Centered scores averaged per category, then per family and overall.

    Returns ``{"centered": {score: value}, "categories": {cat: mean or None},
    "families": {fam: mean or None}, "overall": mean or None, "missing": [score names]}``.
    """
    present = {k: v for k, v in scores.items() if v is not None and not math.isnan(v)}
    centered_scores: dict[str, float] = {}
    missing: list[str] = []
    categories: dict[str, float | None] = {}
    for cat, members in spec.categories.items():
        values = []
        for name in members:
            if name not in present:
                missing.append(name)
                continue
            centered_scores[name] = centered(present[name], spec.baselines.get(name, 0.0))
            values.append(centered_scores[name])
        categories[cat] = _mean(values)
    families = {
        fam: _mean([categories[c] for c in cats if categories[c] is not None])
        for fam, cats in spec.families.items()
    }
    return {
        "centered": centered_scores,
        "categories": categories,
        "families": families,
        "overall": _mean([v for v in categories.values() if v is not None]),
        "missing": sorted(set(missing)),
    }
