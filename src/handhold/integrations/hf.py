"""handhold's curriculum and run store inside a Hugging Face ``Trainer``.

    dataset = CurriculumDataset("curriculum.yaml", tokenizer)
    trainer = Trainer(model, args, train_dataset=dataset, data_collator=dataset.collate,
                      eval_dataset=dataset.eval_datasets(), callbacks=[HandholdCallback("runs/x", curriculum=dataset)])
    trainer.train()

- :class:`CurriculumDataset` is an ``IterableDataset`` that draws the curriculum's stages,
  mixtures and sources row by row (each row tagged with its ``source``); a stage changes when
  the callback says so, from the next row drawn.
- :class:`HandholdCallback` records the Trainer's logs and eval metrics in the run store (through
  :mod:`handhold.run`), checks each stage's exit rule (step/token budgets after every step, the
  ``plateau``/``threshold`` readiness rules after every evaluate), so a stage ends *during*
  ``trainer.train()``; logs the mean training loss per source on logging steps; saves the
  curriculum's state in every Trainer checkpoint and restores it on ``resume_from_checkpoint``,
  so a resumed run draws the same rows as an uninterrupted one.

Requirements (checked, with a clear error): ``dataloader_num_workers=0`` (the curriculum lives in
the main process, where the callback changes it), ``max_steps`` set (an endless dataset), and
the collator ``dataset.collate`` for per-source losses. Under several processes accelerate
dispatches the one global stream (every process builds the same dataset); for a plain DDP loop
pass ``rank``/``world_size`` to keep ``rows[rank::world]``. Metric names: the Trainer's
``eval_<name>_loss`` is stored as ``eval/loss/<name>``, ``loss`` as ``train/loss``; a rule may
name either form.
"""

from __future__ import annotations

import json
import os
from bisect import bisect_right
from collections import deque
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset

from ..config import RunConfig, load_config, validate_config
from ..data.sources import build_sources
from ..models import BatchEncoder
from ..rules import Decision, detector, rule_from_until, step_decision
from ..run import Run

try:
    from transformers import TrainerCallback
except ImportError as exc:  # pragma: no cover - transformers is a core dependency
    raise ImportError("handhold.integrations.hf needs transformers: pip install transformers") from exc

STATE_FILE = "handhold_curriculum.json"


def _load(config: Any, base_dir: str | os.PathLike[str] | None) -> tuple[RunConfig, Path | None]:
    if isinstance(config, RunConfig):
        return config, Path(base_dir) if base_dir else None
    if isinstance(config, dict):
        return validate_config(config), Path(base_dir) if base_dir else None
    path = Path(config)
    return load_config(path), Path(base_dir) if base_dir else path.parent


class CurriculumDataset(IterableDataset):
    """Rows ``{"input_ids": [...], "source": name}`` drawn by handhold's curriculum, forever.

    ``config``: a curriculum YAML path, a dict or a :class:`~handhold.config.RunConfig` (its
    ``stages``, ``sources``, ``seed`` and ``train.seq_len`` are used; model/optim are the
    Trainer's business). Each row is ``<bos> text <eos>`` cut to ``seq_len`` tokens.
    """

    def __init__(self, config: Any, tokenizer: Any, *, seq_len: int | None = None,
                 base_dir: str | os.PathLike[str] | None = None, rank: int | None = None,
                 world_size: int | None = None) -> None:
        super().__init__()
        self.cfg, base = _load(config, base_dir)
        self.tokenizer = tokenizer
        self.seq_len = seq_len or self.cfg.train.seq_len
        self._enc = BatchEncoder(tokenizer, self.seq_len)
        self.sources = build_sources(self.cfg, base)
        self.names = list(self.sources)
        self.stages = self.cfg.stages
        self.rank, self.world = (rank or 0), (world_size or 1)
        self.stage_index = 0
        self.rng = np.random.Generator(np.random.PCG64(self.cfg.seed))
        self.cursors = {n: 0 for n in self.names}
        self.row = 0  # rows drawn from the global stream
        self.tokens = 0  # tokens in those rows
        self.switches: list[tuple[int, int]] = []  # (row, stage index): stage changes scheduled or done
        self.snapshot_every = 1  # the callback sets it to the rows of one micro-batch
        self._snapshots: deque[tuple[int, dict[str, Any]]] = deque(maxlen=256)
        self._rows: deque[tuple[int, int, int]] = deque(maxlen=1 << 16)  # (row, source index, tokens)
        self.skip_rows = 0  # placeholder rows for a Trainer that fast-forwards on resume
        self._mix_cache: dict[int, tuple[list[str], list[float]]] = {}

    # ------------------------------------------------------------------ drawing
    @property
    def stage(self) -> Any:
        return self.stages[min(self.stage_index, len(self.stages) - 1)]

    def _mixture(self) -> tuple[list[str], list[float]]:
        i = min(self.stage_index, len(self.stages) - 1)
        if i not in self._mix_cache:
            names = list(self.stages[i].mix)
            w = np.array([self.stages[i].mix[n] for n in names], dtype=np.float64)
            self._mix_cache[i] = (names, np.cumsum(w / w.sum()).tolist())
        return self._mix_cache[i]

    def _sampler_state(self) -> dict[str, Any]:
        return {"stage": self.stage_index, "cursors": dict(self.cursors), "rng": self.rng.bit_generator.state,
                "tokens": self.tokens}

    def _draw(self) -> dict[str, Any]:
        for at, k in self.switches:
            if at == self.row and k > self.stage_index:
                self.stage_index = k
        if self.row % self.snapshot_every == 0:
            self._snapshots.append((self.row, self._sampler_state()))
        names, cum = self._mixture()
        name = names[min(bisect_right(cum, self.rng.random()), len(names) - 1)]
        item, self.cursors[name] = self.sources[name].draw("train", self.cursors[name])
        ids = self._encode(item.text)
        self._rows.append((self.row, self.names.index(name), len(ids)))
        self.row += 1
        self.tokens += len(ids)
        return {"input_ids": ids, "source": name}

    def _encode(self, text: str) -> list[int]:
        e = self._enc
        seq = ([e.bos_id] if e.bos_id is not None else []) + e.encode([text])[0] + [e.eos_id]
        return seq[: self.seq_len]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            if self.skip_rows > 0:  # the Trainer discards these batches while it fast-forwards
                self.skip_rows -= 1
                yield {"input_ids": [self._enc.eos_id], "source": None}
                continue
            row_index = self.row
            row = self._draw()
            if row_index % self.world == self.rank:
                yield row

    # ------------------------------------------------------------------ batches
    def collate(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Pad to the longest row: ``input_ids``, ``attention_mask``, ``labels`` (-100 on padding)."""
        pad = self._enc.pad_id
        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n] = torch.as_tensor(r["input_ids"], dtype=torch.long)
            mask[i, :n] = 1
        labels = ids.masked_fill(mask == 0, -100)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    def eval_datasets(self, examples: int | None = None) -> dict[str, list[dict[str, Any]]]:
        """One held-out eval set per source (``eval_dataset=`` of the Trainer): its metrics come
        back as ``eval_<source>_loss``, stored as ``eval/loss/<source>``."""
        n = examples or self.cfg.eval.examples
        return {name: [{"input_ids": self._encode(item.text), "source": name} for item in src.heldout(n)]
                for name, src in self.sources.items()}

    # ------------------------------------------------------------------ stages and state
    def advance(self) -> int:
        """Move to the next stage from the next row drawn; returns that row."""
        self.switches.append((self.row, self.stage_index + 1))
        return self.row

    def rows(self, start: int, n: int) -> list[tuple[int, int]] | None:
        """(source index, tokens) of global rows ``start .. start+n-1``; None if not kept."""
        if not self._rows or self._rows[0][0] > start or self._rows[-1][0] < start + n - 1:
            return None
        first = start - self._rows[0][0]
        return [(s, t) for _, s, t in islice(self._rows, first, first + n)]

    def tokens_at(self, row: int) -> int | None:
        """Tokens in the rows before global row ``row`` (None if that far back is not kept)."""
        if row == self.row:
            return self.tokens
        for at, snap in reversed(self._snapshots):
            if at == row:
                return snap["tokens"]
        return None

    def state_at(self, row: int) -> dict[str, Any]:
        """The sampler as it was before drawing global row ``row`` (a micro-batch boundary), with
        the stage changes scheduled after it: what a checkpoint at that point must hold."""
        later = row if row == self.row else row + 1  # a snapshot is taken after the switches at its row
        if row == self.row:
            snap = self._sampler_state()
        else:
            found = [s for at, s in self._snapshots if at == row]
            if not found:
                raise RuntimeError(f"curriculum state at row {row} is no longer kept (drawn up to {self.row}); "
                                   "is dataloader_num_workers 0 and the collator dataset.collate?")
            snap = found[-1]
        return {"row": row, "sampler": snap, "switches": [[a, k] for a, k in self.switches if a >= later]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        snap = state["sampler"]
        missing = set(self.names) - set(snap["cursors"])
        if missing:
            raise ValueError(f"saved curriculum state has no cursor for sources {sorted(missing)}")
        self.row, self.tokens = int(state["row"]), int(snap["tokens"])
        self.stage_index = int(snap["stage"])
        self.cursors = {k: int(snap["cursors"][k]) for k in self.names}
        self.rng.bit_generator.state = snap["rng"]
        self.switches = [(int(a), int(k)) for a, k in state.get("switches", [])]
        self._snapshots.clear()
        self._rows.clear()


# ------------------------------------------------------------------------------ callback
def _metric_name(key: str, sources: set[str]) -> str:
    """The Trainer's log key in handhold's naming (``eval_physics_loss`` -> ``eval/loss/physics``)."""
    if key.startswith("eval_"):
        rest = key[5:]
        if rest == "loss":
            return "eval/loss"
        if rest.endswith("_loss") and rest[:-5] in sources:
            return f"eval/loss/{rest[:-5]}"
        for s in sorted(sources, key=len, reverse=True):
            if rest.startswith(s + "_"):
                return f"eval/{s}/{rest[len(s) + 1:]}"
        return f"eval/{rest}"
    if key == "learning_rate":
        return "train/lr"
    if key.startswith("train_") or key == "total_flos":  # the end-of-train() summary, not a curve point
        return f"trainer/{key}"
    return "train/" + key


class HandholdCallback(TrainerCallback):
    """Trainer logs, eval metrics, stages and their exit rules, into the run store at ``run_dir``.

    ``curriculum``: the :class:`CurriculumDataset` the Trainer trains on (optional: without it,
    the callback only records). ``config``: stored as the run's config (default: the
    curriculum's config and the Trainer's arguments).
    """

    def __init__(self, run_dir: str | os.PathLike[str], curriculum: CurriculumDataset | None = None, *,
                 name: str | None = None, config: Any = None, per_source_loss: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.curriculum = curriculum
        self.name, self.config = name, config
        self.per_source_loss = per_source_loss and curriculum is not None
        self.run: Run | None = None
        self._main = True
        self._stage = 0
        self._stage_step = 0
        self._stage_tokens = 0
        self._detector: Any = None
        self._micro = 0
        self._rows_per_micro = 1
        self._ga = 1
        self._acc: dict[int, list[float]] = {}
        self._off: str | None = None
        self._hook: Any = None
        self._state: Any = None
        self._args: Any = None
        self._done = False
        self._eval_step: int | None = None  # the last step with an evaluate, and the last that fed the rule
        self._fed_step: int | None = None
        self._reported: set[str] = set()

    # ------------------------------------------------------------------ helpers
    def _sources(self) -> set[str]:
        return set(self.curriculum.names) if self.curriculum is not None else set()

    def _stage_info(self) -> dict[str, Any]:
        st = self.curriculum.stages[self._stage]
        return {"index": self._stage, "mix": st.mix, "until": st.until.model_dump(exclude_none=True)}

    def _new_detector(self) -> None:
        rule = rule_from_until(self.curriculum.stages[self._stage].until) if self.curriculum else None
        self._detector = detector(rule) if rule is not None else None

    def _rows_at(self, step: int) -> int:
        return step * self._ga * self._rows_per_micro

    def _callback_state(self) -> dict[str, Any]:
        return {"stage": self._stage, "stage_step": self._stage_step, "stage_tokens": self._stage_tokens,
                "detector": self._detector.state_dict() if self._detector is not None else None}

    # ------------------------------------------------------------------ Trainer events
    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self._main = state.is_world_process_zero
        self._state, self._args = state, args
        self._ga = args.gradient_accumulation_steps
        self._rows_per_micro = args.per_device_train_batch_size * max(1, args.world_size)
        resumed = state.global_step > 0
        cur = self.curriculum
        if cur is not None:
            if args.dataloader_num_workers:
                raise ValueError(f"HandholdCallback: dataloader_num_workers={args.dataloader_num_workers}; the "
                                 "curriculum dataset must be drawn in the main process (set it to 0)")
            if args.max_steps is None or args.max_steps <= 0:
                raise ValueError("HandholdCallback: set TrainingArguments(max_steps=N): the curriculum dataset "
                                 "is endless (stages end by their rules; the last one ends the training)")
            cur.snapshot_every = self._rows_per_micro
            if resumed:
                self._restore(args, state)
            else:
                self._new_detector()
        if self._main:
            config = self.config if self.config is not None else {
                "curriculum": cur.cfg.model_dump(mode="json") if cur is not None else None,
                "trainer": {k: v for k, v in args.to_dict().items() if isinstance(v, (int, float, str, bool))}}
            self.run = Run(self.run_dir, config=config, name=self.name or (cur.cfg.name if cur else None),
                           resume=resumed, resume_from=state.global_step if resumed else None,
                           stages=[s.name for s in cur.stages] if cur is not None else None)
            if cur is not None and not resumed:
                self.run.stage(cur.stages[0].name, step=0, **self._stage_info())
        self._micro = state.global_step * self._ga
        if self.per_source_loss and model is not None:
            if args.world_size > 1:
                self._off = "several processes: per-source loss is measured in one process only"
            self._hook = model.register_forward_hook(self._on_forward, with_kwargs=True)

    def _restore(self, args: Any, state: Any) -> None:
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}" / STATE_FILE
        if not path.is_file():
            raise FileNotFoundError(f"HandholdCallback: resuming at step {state.global_step} but {path} is missing "
                                    "(was the checkpoint written with this callback?)")
        saved = json.loads(path.read_text())
        self.curriculum.load_state_dict(saved["dataset"])
        cb = saved["callback"]
        self._stage, self._stage_step, self._stage_tokens = cb["stage"], cb["stage_step"], cb["stage_tokens"]
        self._done = bool(cb.get("done"))
        self._new_detector()
        if self._detector is not None and cb.get("detector"):
            self._detector.load_state_dict(cb["detector"])
        if not args.ignore_data_skip:  # the Trainer will discard this many batches: give it placeholders
            self.curriculum.skip_rows = state.global_step * self._ga * args.per_device_train_batch_size

    def _on_forward(self, module: Any, args: Any, kwargs: dict[str, Any], output: Any) -> None:
        """Per-row token losses of training forwards on logging steps, summed per source."""
        if not module.training:
            return
        m = self._micro
        self._micro += 1
        if self._off or self._state is None:
            return
        step = m // self._ga + 1  # the optimizer step this micro-batch belongs to
        every = self._args.logging_steps
        if isinstance(every, (int, float)) and every >= 1 and step % int(every):
            return
        labels, logits = kwargs.get("labels"), getattr(output, "logits", None)
        if labels is None or logits is None:
            self._off = "the model was called without labels"
            return
        B = labels.shape[0]
        rows = self.curriculum.rows(m * B, B)
        with torch.no_grad():
            tgt = labels[:, 1:]
            counts = (tgt != -100).sum(1)
            if rows is None or [t - 1 for _, t in rows] != counts.tolist():
                self._off = ("batches do not line up with the curriculum's rows (use data_collator=dataset.collate, "
                             "no shuffling sampler)")
                return
            V = logits.shape[-1]
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V).float(), tgt.reshape(-1),
                                                     ignore_index=-100, reduction="none").view(B, -1).sum(1)
            for (src, _), s, c in zip(rows, loss.tolist(), counts.tolist()):
                acc = self._acc.setdefault(src, [0.0, 0])
                acc[0] += s
                acc[1] += c

    def _check_rule_fed(self) -> None:
        """The evaluate(s) of the last eval step must have reported the rule's metric."""
        if self._eval_step is None or self._fed_step == self._eval_step or self._detector is None:
            return
        metric = self._detector.rule.metric
        message = (f"HandholdCallback: stage {self.curriculum.stages[self._stage].name!r} ends on {metric!r}, "
                   f"which the evaluate at step {self._eval_step} did not report (it reported: "
                   f"{', '.join(sorted(self._reported))}); pass eval_dataset=dataset.eval_datasets() or name a "
                   "reported metric (Trainer or handhold naming)")
        if self.run is not None:
            self.run.finish("failed", message)
        raise ValueError(message)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        step = state.global_step
        self._check_rule_fed()
        if self._acc and self.run is not None:
            names = self.curriculum.names
            self.run.log({f"train/loss/{names[s]}": tot / n for s, (tot, n) in self._acc.items() if n}, step=step)
        self._acc = {}
        if self.curriculum is None or self._done:
            return
        until = self.curriculum.stages[self._stage].until
        now = self.curriculum.tokens_at(self._rows_at(step)) if until.tokens is not None else None
        decision = step_decision(until, self._detector, step - self._stage_step,
                                 None if now is None else now - self._stage_tokens)
        if decision is not None:
            self._end_stage(decision, state, control)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if self.run is None or not logs:
            return
        src = self._sources()
        values = {_metric_name(k, src): v for k, v in logs.items()
                  if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if values:
            self.run.log(values, step=state.global_step)

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None,
                    **kwargs: Any) -> None:
        if self._detector is None or self._done or not metrics:
            return
        rule = self._detector.rule
        src = self._sources()
        named = {**{_metric_name(k, src): v for k, v in metrics.items()}, **metrics}
        if self._eval_step != state.global_step:  # a Trainer with several eval sets evaluates once per set
            self._eval_step, self._reported = state.global_step, set()
        self._reported |= set(metrics)
        if rule.metric not in named:
            return
        self._fed_step = state.global_step
        d = self._detector.update(state.global_step - self._stage_step, named[rule.metric]).decide()
        if d is not None:
            d.evidence["global_step"] = state.global_step
            self._end_stage(d, state, control)

    def _end_stage(self, decision: Decision, state: Any, control: Any) -> None:
        step, cur = state.global_step, self.curriculum
        if self.run is not None:
            self.run.stage_end(decision.reason, step=step, **decision.evidence)
        cur.advance()
        self._stage += 1
        if self._stage >= len(cur.stages):
            self._done = True
            self._stage = len(cur.stages) - 1
            self._detector = None
            control.should_training_stop = True
            return
        self._stage_step = step
        self._stage_tokens = cur.tokens_at(self._rows_at(step)) or 0
        self._new_detector()
        if self.run is not None:
            self.run.stage(cur.stages[self._stage].name, step=step, **self._stage_info())

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.run is not None:
            self.run.event("checkpoint", step=state.global_step)
            self.run.flush()
        if self.curriculum is None or not self._main:
            return
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        folder.mkdir(parents=True, exist_ok=True)
        saved = {"dataset": self.curriculum.state_at(self._rows_at(state.global_step)),
                 "callback": {**self._callback_state(), "done": self._done}}
        tmp = folder / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(saved))
        tmp.replace(folder / STATE_FILE)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._check_rule_fed()
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        if self.run is not None:
            if self._off and self.per_source_loss:
                self.run.event("note", step=state.global_step, per_source_loss_off=self._off)
            reason = "curriculum complete" if self._done else f"max_steps={args.max_steps} reached"
            self.run.finish("finished", reason)
