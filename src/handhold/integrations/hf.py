"""handhold's curriculum and run store inside a Hugging Face ``Trainer``.

    dataset = CurriculumDataset("curriculum.yaml", tokenizer)
    trainer = Trainer(model, args, train_dataset=dataset, data_collator=dataset.collate,
                      eval_dataset=dataset.eval_datasets(),
                      callbacks=[HandholdTrainerCallback("runs/x", curriculum=dataset)])
    trainer.train()

- :class:`~handhold.integrations.dataset.CurriculumDataset` is an ``IterableDataset`` that draws
  the curriculum's stages, mixtures and sources row by row (each row tagged with its ``source``);
  a stage changes when the callback says so, from the next row drawn.
- :class:`HandholdTrainerCallback` records the Trainer's logs and eval metrics in the run store
  (through :mod:`handhold.runstore.live`), checks each stage's exit rule (step/token budgets after every
  step, the ``plateau``/``threshold`` readiness rules after every evaluate), so a stage ends
  *during* ``trainer.train()``; logs the mean training loss per source on logging steps; saves
  the curriculum's state in every Trainer checkpoint and restores it on
  ``resume_from_checkpoint``, so a resumed run draws the same rows as an uninterrupted one.

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
from pathlib import Path
from typing import Any

from ..runstore.live import Run
from .dataset import CurriculumDataset
from .source_losses import SourceLosses
from .stage_driver import StageDriver, open_run, renamed_callback

try:
    from transformers import TrainerCallback
except ImportError as exc:  # pragma: no cover - transformers is a core dependency
    raise ImportError("handhold.integrations.hf needs transformers: pip install transformers") from exc

__all__ = ["CurriculumDataset", "HandholdTrainerCallback", "STATE_FILE"]

STATE_FILE = "handhold_curriculum.json"


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


def _trainer_role(key: str) -> str | None:
    """The role the Trainer's own log key has (:mod:`handhold.roles`), or None for a signal."""
    if key.endswith(("_runtime", "_per_second")) or key in ("total_flos", "train_runtime"):
        return "system"
    if key in ("epoch", "learning_rate"):
        return "schedule"
    return None


def _named(key: str, roles: dict[str, str] | None) -> bool:
    """The user gave ``key`` a role (exactly or by glob): theirs stands."""
    import fnmatch

    return bool(roles) and any(key == p or fnmatch.fnmatchcase(key, p) for p in roles)


def _check_args(args: Any) -> None:
    if args.dataloader_num_workers:
        raise ValueError(f"HandholdTrainerCallback: dataloader_num_workers={args.dataloader_num_workers}; the "
                         "curriculum dataset must be drawn in the main process (set it to 0)")
    if args.max_steps is None or args.max_steps <= 0:
        raise ValueError("HandholdTrainerCallback: set TrainingArguments(max_steps=N): the curriculum dataset "
                         "is endless (stages end by their rules; the last one ends the training)")


def _default_config(dataset: CurriculumDataset | None, args: Any) -> dict[str, Any]:
    """The run's config: the curriculum's and the Trainer's scalar arguments."""
    return {"curriculum": dataset.cfg.model_dump(mode="json") if dataset is not None else None,
            "trainer": {k: v for k, v in args.to_dict().items() if isinstance(v, (int, float, str, bool))}}


def _state_file(args: Any, step: int) -> Path:
    return Path(args.output_dir) / f"checkpoint-{step}" / STATE_FILE


def _read_state(args: Any, step: int) -> dict[str, Any]:
    path = _state_file(args, step)
    if not path.is_file():
        raise FileNotFoundError(f"HandholdTrainerCallback: resuming at step {step} but {path} is missing "
                                "(was the checkpoint written with this callback?)")
    return json.loads(path.read_text())


def _write_state(args: Any, step: int, state: dict[str, Any]) -> None:
    path = _state_file(args, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)


class _Evaluations:
    """Which metrics the evaluate(s) of the last eval step reported (a Trainer with several eval
    sets evaluates once per set), so a rule whose metric none of them reported is an error."""

    def __init__(self) -> None:
        self.step: int | None = None
        self.fed: int | None = None  # the last eval step that reported the rule's metric
        self.reported: set[str] = set()

    def saw(self, step: int, metrics: dict[str, Any], fed: bool) -> None:
        if self.step != step:
            self.step, self.reported = step, set()
        self.reported |= set(metrics)
        if fed:
            self.fed = step

    def check(self, tracker: Any, run: Run | None) -> None:
        if self.step is None or self.fed == self.step or tracker.metric is None:
            return
        message = (f"HandholdTrainerCallback: stage {tracker.stage.name!r} ends on {tracker.metric!r}, which the "
                   f"evaluate at step {self.step} did not report (it reported: {', '.join(sorted(self.reported))}); "
                   "pass eval_dataset=dataset.eval_datasets() or name a reported metric (Trainer or handhold naming)")
        if run is not None:
            run.finish("failed", message)
        raise ValueError(message)


class HandholdTrainerCallback(TrainerCallback):
    """Trainer logs, eval metrics, stages and their exit rules, into the run store at ``run_dir``.

    ``curriculum``: the :class:`CurriculumDataset` the Trainer trains on (optional: without it,
    the callback only records). ``config``: stored as the run's config (default: the
    curriculum's config and the Trainer's arguments).
    """

    def __init__(self, run_dir: str | os.PathLike[str], curriculum: CurriculumDataset | None = None, *,
                 name: str | None = None, config: Any = None, per_source_loss: bool = True,
                 roles: dict[str, str] | None = None) -> None:
        self.run_dir, self.curriculum, self.name, self.config = Path(run_dir), curriculum, name, config
        self.roles = roles  # metric key (or glob) -> role (handhold.roles): the user's word
        self.stages = StageDriver(curriculum) if curriculum is not None else None
        self.per_source_loss = per_source_loss and curriculum is not None
        self.run: Run | None = None
        self.losses: SourceLosses | None = None
        self._main, self._rows_per_step, self._evals = True, 1, _Evaluations()
        self._roled: set[str] = set()  # keys whose role is recorded

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self._main, step, cur = state.is_world_process_zero, state.global_step, self.curriculum
        micro_rows, ga = args.per_device_train_batch_size * max(1, args.world_size), args.gradient_accumulation_steps
        self._rows_per_step = ga * micro_rows
        if self.stages is not None:
            _check_args(args)
            cur.keep_states(every=micro_rows)
            if step > 0:
                self.stages.load_state_dict(_read_state(args, step))
                if not args.ignore_data_skip:  # the Trainer will discard this many batches: give it placeholders
                    cur.skip_rows = step * ga * args.per_device_train_batch_size
        if self._main:
            self.run = open_run(self.run_dir, self.stages, name=self.name, roles=self.roles,
                                resumed=step > 0, step=step,
                                config=self.config if self.config is not None else _default_config(cur, args))
        if self.per_source_loss and model is not None:
            self.losses = SourceLosses(cur, grad_accum=ga, logging_steps=args.logging_steps, micro=step * ga)
            if args.world_size > 1:
                self.losses.off = "several processes: per-source loss is measured in one process only"
            self.losses.attach(model)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        step = state.global_step
        if self.stages is not None:
            self._evals.check(self.stages.tracker, self.run)
        losses = self.losses.take() if self.losses is not None else {}
        if losses and self.run is not None:
            self.run.log(losses, step=step)
        if self.stages is not None and self.stages.after_step(step, step * self._rows_per_step):
            control.should_training_stop = True

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        src = set(self.curriculum.names) if self.curriculum is not None else set()
        values = {_metric_name(k, src): v for k, v in (logs or {}).items()
                  if isinstance(v, (int, float)) and not isinstance(v, bool)}
        roles = {name: r for k in logs or {} if (r := _trainer_role(k)) is not None
                 and not _named(name := _metric_name(k, src), self.roles)}
        if self.run is not None and set(roles) - self._roled:  # the Trainer's bookkeeping: not read as signals
            self.run.set_roles({k: r for k, r in roles.items() if k not in self._roled})
            self._roled |= set(roles)
        if self.run is not None and values:
            self.run.log(values, step=state.global_step)

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None,
                    **kwargs: Any) -> None:
        metric, step = self.stages.tracker.metric if self.stages is not None else None, state.global_step
        if metric is None or not metrics:
            return
        named = {**{_metric_name(k, set(self.curriculum.names)): v for k, v in metrics.items()}, **metrics}
        self._evals.saw(step, metrics, fed=metric in named)
        if self.stages.after_eval(step, named, step * self._rows_per_step):
            control.should_training_stop = True

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.run is not None:
            self.run.event("checkpoint", step=state.global_step)
            self.run.flush()
        if self.stages is not None and self._main:
            _write_state(args, state.global_step, self.stages.state_dict(state.global_step * self._rows_per_step))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.stages is not None:
            self._evals.check(self.stages.tracker, self.run)
        if self.losses is not None:
            self.losses.detach()
        if self.run is not None:
            if self.losses is not None and self.losses.off:
                self.run.event("note", step=state.global_step, per_source_loss_off=self.losses.off)
            done = self.stages is not None and self.stages.tracker.finished
            self.run.finish("finished", "curriculum complete" if done else f"max_steps={args.max_steps} reached")


__getattr__ = renamed_callback(__name__, HandholdTrainerCallback)
