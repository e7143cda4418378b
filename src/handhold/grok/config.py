"""The grokking lab's configuration: an experiment = a base setting + variants, run over seeds.

YAML in, pydantic out, errors located like the trainer's config (``file:line: key.path:
message`` with a "did you mean"). A variant may override any base section partially
(``optim: {weight_decay: 0.3}`` keeps the base ``lr``): the overrides are merged into the base
section before validation, so a variant's section is always complete.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from ..yamlconfig import ConfigError, apply_override, data_loc, did_you_mean, located, located_problems, read_yaml
from ..yamlconfig import StrictModel as _Strict
from .curricula import as_count
from .mechanisms import MECHANISMS, WithMechanisms, used
from .optim import OptimSpec
from .tasks import OPS, is_prime

SECTIONS = ("task", "model", "optim", "train", "eval", "measure")


class TaskSpec(_Strict):
    """Binary operation(s) mod p; ``train_frac`` of every operation's pairs train."""

    ops: list[str] = Field(default_factory=lambda: ["add"], min_length=1)
    p: int = Field(default=113, ge=3)
    train_frac: float = Field(default=0.3, gt=0, lt=1)
    split_seed: int | None = Field(default=None, description="fixed split for every seed; default: the seed")
    format: Literal["a b =", "a op b ="] = Field(
        default="a b =", description="'a b =': 3 tokens, '=' names the operation (Nanda); 'a op b =': the "
        "operation token between the operands, the answer the 5th token (Power, Grokfast)")
    nonzero_b: bool = Field(default=False, description="b ranges over 1..p-1 (Grokfast's x*y); div always does")
    rng: Literal["lab", "script"] = Field(
        default="lab", description="lab: split and minibatch order from generators of their own (seeded by the "
        "seed); script: as Grokfast's script draws them, from torch's global generator after the initial "
        "weights (the split: the first train_frac of a permutation; each pass reshuffles the last order)")

    @field_validator("ops", mode="before")
    @classmethod
    def _one_op(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("ops")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        for op in v:
            if op not in OPS:
                raise ValueError(f"unknown operation {op!r}{did_you_mean(op, OPS)} (known: {', '.join(OPS)})")
        if len(set(v)) != len(v):
            raise ValueError(f"an operation is listed twice: {v}")
        return v

    @field_validator("p")
    @classmethod
    def _prime(cls, v: int) -> int:
        if not is_prime(v):
            raise ValueError(f"p must be prime (got {v})")
        return v


class ModelSpec(_Strict):
    """``arch: fast``: the lab's transformer (Nanda's 1-layer model; LayerNorm optional), 3-token
    inputs only. ``arch: decoder``: Power et al.'s decoder as Grokfast's script builds it
    (``handhold.grok.decoder``; LayerNorms always, ``layernorm`` is ignored), any input format."""

    arch: Literal["fast", "decoder"] = "fast"
    layers: int = Field(default=1, ge=1)
    d_model: int = Field(default=128, gt=0)
    heads: int = Field(default=4, gt=0)
    d_mlp: int = Field(default=512, gt=0)
    act: Literal["relu", "gelu"] = "relu"
    layernorm: bool = False
    init_scale: float = Field(default=1.0, gt=0, description="multiplies every initial weight")

    @model_validator(mode="after")
    def _heads_divide(self) -> ModelSpec:
        if self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of heads ({self.heads})")
        return self


class Budget(_Strict):
    """Training compute: optimizer steps, or samples (every forward/backward example counts)."""

    steps: int | None = Field(default=None, gt=0)
    samples: int | None = None

    @field_validator("samples", mode="before")
    @classmethod
    def _count(cls, v: Any) -> Any:
        return None if v is None else as_count(v)

    @model_validator(mode="after")
    def _one(self) -> Budget:
        if (self.steps is None) == (self.samples is None):
            raise ValueError("give exactly one budget: steps: N or samples: N (e.g. '4M')")
        if self.samples is not None and self.samples <= 0:
            raise ValueError("samples must be > 0")
        return self


class TrainSpec(_Strict):
    batch: Literal["full"] | int = Field(default="full", description="'full' or examples per step")
    budget: Budget = Field(default_factory=lambda: Budget(steps=20000))
    stop_at_val: float | None = Field(default=0.99, gt=0, le=1,
                                      description="stop once validation accuracy reaches this")
    stop_patience: int = Field(default=0, ge=0, description="steps to keep training after stop_at_val")
    keep_last: bool = Field(default=False, description="minibatches: a pass over the shuffled data ends with "
                            "the smaller remainder batch (Grokfast's loop) instead of reshuffling early")

    @field_validator("batch")
    @classmethod
    def _positive(cls, v: Any) -> Any:
        if isinstance(v, int) and v <= 0:
            raise ValueError(f"batch must be 'full' or > 0 (got {v})")
        return v


class EvalSpec(_Strict):
    """Accuracy on the whole train and validation sets every ``every`` steps, plus
    ``per_decade`` log-spaced steps early on (so the first dynamics are seen)."""

    every: int = Field(default=25, gt=0)
    per_decade: int = Field(default=10, ge=0)


class MeasureSpec(_Strict):
    """Nanda et al.'s progress measures (for tasks with ``add``); weight norms for every task."""

    enabled: bool = True
    every: int = Field(default=500, gt=0)
    per_decade: int = Field(default=10, ge=0)
    neuron_frac: float = Field(default=0.5, gt=0, le=1,
                               description="a neuron belongs to a frequency explaining this share of its variance")
    min_neurons: float = Field(default=0.02, ge=0, lt=1,
                               description="a key frequency holds at least this share of the neurons")
    key_freqs: list[int] | None = Field(default=None, description="fix the key frequencies instead")


class VariantSpec(WithMechanisms):
    """A variant: the base settings with some sections overridden, and any registered mechanism
    switched on by its section (``curriculum:``, ``grokfast:``: ``mechanisms.MECHANISMS``).

    ``baseline: true`` makes it the reference its task's other variants are compared with (it may
    use no mechanism); ``false`` never; unset, a variant is its task's baseline when it is the one
    variant of that task that uses no mechanism (several such: a config error asks to declare one).
    """

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.+-]+$")
    description: str = ""
    baseline: bool | None = None
    task: TaskSpec | None = None
    model: ModelSpec | None = None
    optim: OptimSpec | None = None
    train: TrainSpec | None = None
    eval: EvalSpec | None = None
    measure: MeasureSpec | None = None


class RunSpec(WithMechanisms):
    """Everything one run needs: a variant with its sections resolved against the base, and its
    mechanisms' sections (``RunSpec.curriculum``, ``RunSpec.grokfast``, ...; ``None`` when off)."""

    experiment: str
    variant: str
    description: str = ""
    task: TaskSpec
    model: ModelSpec
    optim: OptimSpec
    train: TrainSpec
    eval: EvalSpec
    measure: MeasureSpec


class GrokConfig(_Strict):
    name: str = "grok"
    seeds: int = Field(default=5, ge=1)
    task: TaskSpec = Field(default_factory=TaskSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    optim: OptimSpec = Field(default_factory=OptimSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    measure: MeasureSpec = Field(default_factory=MeasureSpec)
    variants: list[VariantSpec] = Field(default_factory=lambda: [VariantSpec(name="baseline")], min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _merge_overrides(cls, data: Any) -> Any:
        """A variant's section = the base section with the variant's keys on top."""
        if not isinstance(data, dict) or not isinstance(data.get("variants"), list):
            return data
        data = dict(data)
        merged = []
        for v in data["variants"]:
            if isinstance(v, dict):
                v = dict(v)
                for s in SECTIONS:
                    if isinstance(v.get(s), dict) and isinstance(data.get(s, {}), dict):
                        v[s] = _deep_merge(data.get(s) or {}, v[s])
            merged.append(v)
        data["variants"] = merged
        return data

    def check(self) -> list[tuple[tuple[Any, ...], str]]:
        """Cross-field problems pydantic cannot see: duplicate names, mechanisms that do not fit
        the task, baselines that use a mechanism or are ambiguous."""
        problems = []
        names = [v.name for v in self.variants]
        for i, v in enumerate(self.variants):
            if v.name in names[:i]:
                problems.append((("variants", i, "name"), f"duplicate variant name {v.name!r}"))
            model, task = v.model or self.model, v.task or self.task
            if model.arch == "fast" and task.format != "a b =":
                problems.append((("variants", i, "model", "arch"), f"arch 'fast' reads 3-token inputs: task.format "
                                 f"{task.format!r} needs model.arch: decoder"))
            for m in used(v):
                problems += [(("variants", i, m.key, *loc), msg) for loc, msg in
                             (m.check(getattr(v, m.key), task.ops) if m.check else [])]
        return problems + self._baselines()[1]

    def baselines(self) -> set[str]:
        """The names of the variants each of its task's others are compared with (see ``VariantSpec``)."""
        return self._baselines()[0]

    def _baselines(self) -> tuple[set[str], list[tuple[tuple[Any, ...], str]]]:
        groups: dict[str, list[int]] = {}
        for i, v in enumerate(self.variants):
            t = v.task or self.task
            groups.setdefault(f"{'+'.join(t.ops)} mod {t.p} at train_frac {t.train_frac:g}", []).append(i)
        names, problems = set(), []
        for task, members in groups.items():
            declared = [i for i in members if self.variants[i].baseline]
            for i in declared:
                if used(self.variants[i]):
                    keys = ", ".join(f"{m.key}:" for m in used(self.variants[i]))
                    problems.append((("variants", i, "baseline"), f"a baseline uses no mechanism, and this "
                                     f"variant sets {keys} (declare baseline: false, or drop the mechanism)"))
            candidates = declared or [i for i in members if self.variants[i].baseline is None
                                      and not used(self.variants[i])]
            if len(candidates) > 1:
                which = " and ".join(repr(self.variants[i].name) for i in candidates)
                key = "baseline" if declared else "name"
                problems.append((("variants", candidates[1], key), f"{which} are both the baseline of {task}: "
                                 "declare one with baseline: true and the others baseline: false"))
            elif candidates:
                names.add(self.variants[candidates[0]].name)
        return names, problems

    def resolve(self, variant: VariantSpec) -> RunSpec:
        return RunSpec(experiment=self.name, variant=variant.name, description=variant.description,
                       **{m: getattr(variant, m) for m in MECHANISMS},
                       **{s: getattr(variant, s) or getattr(self, s) for s in SECTIONS})

    def runs(self) -> list[RunSpec]:
        return [self.resolve(v) for v in self.variants]


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in top.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# --------------------------------------------------------------------------- loading
def load_grok_config(path: str | Path | None = None, overrides: list[str] | None = None, *,
                     data: dict[str, Any] | None = None, source: str | None = None) -> GrokConfig:
    """Read a YAML file (or take ``data``, e.g. a preset), apply ``--set`` overrides, validate.

    Raises ``ConfigError`` whose lines read ``file:line: key.path: message``.
    """
    lines: dict[tuple[Any, ...], int] = {}
    if data is None:
        path = Path(path)  # type: ignore[arg-type]
        data, lines = read_yaml(path)
        source = str(path)
    data = copy.deepcopy(data)
    source = source or "<config>"
    overridden = {apply_override(data, item) for item in overrides or []}
    try:
        cfg = GrokConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([located(err, data, source, lines, overridden, GrokConfig)
                           for err in _unrepeated(exc, data)]) from None
    problems = cfg.check()
    if problems:
        raise ConfigError(located_problems(problems, source, lines, overridden))
    return cfg


def _unrepeated(exc: ValidationError, data: dict[str, Any]) -> list[Any]:
    """Pydantic's errors without the copies of a base section's error that every variant
    overriding that section repeats (the base error comes first and says it once)."""
    out, seen = [], set()
    for err in exc.errors():
        loc = data_loc(data, err["loc"])
        if loc[:1] == ("variants",) and len(loc) > 2 and loc[2] in SECTIONS and (loc[2:], err["msg"]) in seen:
            continue
        seen.add((loc, err["msg"]))
        out.append(err)
    return out
