"""handhold's run store and stage rules inside a Lightning ``Trainer``.

    dataset = CurriculumDataset("curriculum.yaml", tokenizer)      # from handhold.integrations.hf
    loader = DataLoader(dataset, batch_size=8, collate_fn=dataset.collate)
    trainer = pl.Trainer(max_steps=1000, callbacks=[HandholdCallback("runs/x", curriculum=dataset)])
    trainer.fit(module, loader, val_loaders)

Records every metric the module logs (``self.log``) at each logging step and after each
validation, the stage starts and ends, and the readiness decisions: a stage's budget is checked
after every training batch, its ``plateau``/``threshold`` rule after every validation (on the
metric the module logged under that name), and the last stage's end stops the fit. The
curriculum's state travels in Lightning checkpoints (the callback's ``state_dict``), so
``fit(ckpt_path=...)`` continues with the same rows. Works with ``lightning.pytorch`` or
``pytorch_lightning``, whichever is installed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..rules import Decision, detector, rule_from_until, step_decision
from ..run import Run

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:
    try:
        from pytorch_lightning.callbacks import Callback
    except ImportError as exc:
        raise ImportError("handhold.integrations.lightning needs Lightning: pip install 'handhold[lightning]' "
                          "(pytorch-lightning; lightning.pytorch works too)") from exc


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        try:
            if getattr(v, "numel", lambda: 1)() == 1:
                out[k] = float(v)
        except (TypeError, ValueError):
            continue
    return out


class HandholdCallback(Callback):
    """Metrics, stages and exit rules of a Lightning fit, into the run store at ``run_dir``.

    ``curriculum``: a :class:`handhold.integrations.hf.CurriculumDataset` the module trains on
    (optional: without it, the callback only records metrics).
    """

    def __init__(self, run_dir: str | os.PathLike[str], curriculum: Any = None, *, name: str | None = None,
                 config: Any = None) -> None:
        self.run_dir = Path(run_dir)
        self.curriculum = curriculum
        self.name, self.config = name, config
        self.run: Run | None = None
        self._stage = 0
        self._stage_step = 0
        self._stage_tokens = 0
        self._detector: Any = None
        self._rows = 0  # curriculum rows consumed by training
        self._step = 0  # the last global step seen (Lightning restores its own counter only later)
        self._restored: dict[str, Any] | None = None
        self._done = False
        self._val_keys: set[str] = set()  # metrics validation logs (not re-recorded at training steps)
        self._before_val: dict[str, float] = {}

    # ------------------------------------------------------------------ helpers
    def _new_detector(self) -> None:
        rule = rule_from_until(self.curriculum.stages[self._stage].until) if self.curriculum is not None else None
        self._detector = detector(rule) if rule is not None else None

    def _stage_info(self) -> dict[str, Any]:
        st = self.curriculum.stages[self._stage]
        return {"index": self._stage, "mix": st.mix, "until": st.until.model_dump(exclude_none=True)}

    # ------------------------------------------------------------------ fit
    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        cur = self.curriculum
        resumed = self._restored is not None
        if cur is not None:
            cur._snapshots = type(cur._snapshots)(cur._snapshots, maxlen=4096)  # rows, not micro-batches
            if resumed:
                saved = self._restored
                cur.load_state_dict(saved["dataset"])
                self._stage, self._stage_step, self._rows = saved["stage"], saved["stage_step"], saved["rows"]
                self._stage_tokens = saved.get("stage_tokens", 0)
                self._step = saved.get("step", 0)
                self._done = bool(saved.get("done"))
                self._new_detector()
                if self._detector is not None and saved.get("detector"):
                    self._detector.load_state_dict(saved["detector"])
            else:
                self._new_detector()
        if trainer.is_global_zero:
            self.run = Run(self.run_dir, config=self.config if self.config is not None else (
                               {"curriculum": cur.cfg.model_dump(mode="json")} if cur is not None else None),
                           name=self.name or (cur.cfg.name if cur is not None else None),
                           resume=resumed, resume_from=self._step if resumed else None,
                           stages=[s.name for s in cur.stages] if cur is not None else None)
            if cur is not None and not resumed:
                self.run.stage(cur.stages[0].name, step=0, **self._stage_info())

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        step = self._step = trainer.global_step
        if isinstance(batch, dict) and "input_ids" in batch:
            self._rows += len(batch["input_ids"]) * max(1, trainer.world_size)
        if self.run is not None and step % max(1, trainer.log_every_n_steps) == 0:
            values = {k: v for k, v in _scalars(trainer.callback_metrics).items() if k not in self._val_keys}
            if values:
                self.run.log(values, step=step)
        if self.curriculum is None or self._done:
            return
        until = self.curriculum.stages[self._stage].until
        now = self.curriculum.tokens_at(self._rows) if until.tokens is not None else None
        decision = step_decision(until, self._detector, step - self._stage_step,
                                 None if now is None else now - self._stage_tokens)
        if decision is not None:
            self._end_stage(decision, trainer)

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        self._before_val = _scalars(trainer.callback_metrics)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        every = _scalars(trainer.callback_metrics)
        self._val_keys |= {k for k, v in every.items() if self._before_val.get(k) != v}
        values = {k: v for k, v in every.items() if k in self._val_keys}
        step = trainer.global_step
        if self.run is not None and values:
            self.run.log(values, step=step)
        if self._detector is None or self._done:
            return
        metric = self._detector.rule.metric
        if metric not in values:
            message = (f"HandholdCallback: stage {self.curriculum.stages[self._stage].name!r} ends on "
                       f"{metric!r}, which the module did not log at validation (it logged: "
                       f"{', '.join(sorted(every))}); self.log({metric!r}, ...) in validation_step")
            if self.run is not None:
                self.run.finish("failed", message)
            raise ValueError(message)
        d = self._detector.update(step - self._stage_step, values[metric]).decide()
        if d is not None:
            d.evidence["global_step"] = step
            self._end_stage(d, trainer)

    def _end_stage(self, decision: Decision, trainer: Any) -> None:
        step, cur = trainer.global_step, self.curriculum
        if self.run is not None:
            self.run.stage_end(decision.reason, step=step, **decision.evidence)
        cur.advance()
        self._stage += 1
        if self._stage >= len(cur.stages):
            self._done, self._stage, self._detector = True, len(cur.stages) - 1, None
            trainer.should_stop = True
            return
        self._stage_step = step
        self._stage_tokens = cur.tokens_at(self._rows) or 0
        self._new_detector()
        if self.run is not None:
            self.run.stage(cur.stages[self._stage].name, step=step, **self._stage_info())

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        if self.run is not None:
            reason = "curriculum complete" if self._done else f"stopped at step {trainer.global_step}"
            self.run.finish("finished", reason)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if self.run is not None and not self.run.finished:
            status = "stopped" if isinstance(exception, KeyboardInterrupt) else "failed"
            self.run.finish(status, f"{type(exception).__name__}: {exception}")

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        if self.run is not None and not self.run.finished:
            self.run.event("checkpoint", step=trainer.global_step)
            self.run.flush()

    def state_dict(self) -> dict[str, Any]:
        if self.curriculum is None:
            return {"step": self._step}
        return {"dataset": self.curriculum.state_at(self._rows), "stage": self._stage, "step": self._step,
                "stage_step": self._stage_step, "stage_tokens": self._stage_tokens, "rows": self._rows, "done": self._done,
                "detector": self._detector.state_dict() if self._detector is not None else None}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restored = state_dict or None
        if state_dict:
            self._step = int(state_dict.get("step", 0))
