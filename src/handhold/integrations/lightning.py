"""handhold's run store and stage rules inside a Lightning ``Trainer``.

    dataset = CurriculumDataset("curriculum.yaml", tokenizer)      # from handhold.integrations.dataset
    loader = DataLoader(dataset, batch_size=8, collate_fn=dataset.collate)
    trainer = pl.Trainer(max_steps=1000, callbacks=[HandholdLightningCallback("runs/x", curriculum=dataset)])
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

from ..runstore.live import Run
from .dataset import CurriculumDataset
from .stage_driver import StageDriver, open_run, renamed_callback

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:
    try:
        from pytorch_lightning.callbacks import Callback
    except ImportError as exc:
        raise ImportError("handhold.integrations.lightning needs Lightning: pip install 'handhold[lightning]' "
                          "(pytorch-lightning; lightning.pytorch works too)") from exc


__all__ = ["HandholdLightningCallback"]


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        try:
            if getattr(v, "numel", lambda: 1)() == 1:
                out[k] = float(v)
        except (TypeError, ValueError):
            continue
    return out


def _unlogged(stage: str, metric: str, logged: dict[str, float], run: Run | None) -> None:
    message = (f"HandholdLightningCallback: stage {stage!r} ends on {metric!r}, which the module did not log at "
               f"validation (it logged: {', '.join(sorted(logged))}); self.log({metric!r}, ...) in validation_step")
    if run is not None:
        run.finish("failed", message)
    raise ValueError(message)


class HandholdLightningCallback(Callback):
    """Metrics, stages and exit rules of a Lightning fit, into the run store at ``run_dir``.

    ``curriculum``: a :class:`~handhold.integrations.dataset.CurriculumDataset` the module trains
    on (optional: without it, the callback only records metrics).
    """

    def __init__(self, run_dir: str | os.PathLike[str], curriculum: CurriculumDataset | None = None, *,
                 name: str | None = None, config: Any = None,
                 roles: dict[str, str] | None = None) -> None:
        self.run_dir, self.curriculum, self.name, self.config = Path(run_dir), curriculum, name, config
        self.roles = roles  # metric key (or glob) -> role (handhold.roles): the user's word
        self.stages = StageDriver(curriculum) if curriculum is not None else None
        self.run: Run | None = None
        self._rows = 0  # curriculum rows consumed by training
        self._step = 0  # the last global step seen (Lightning restores its own counter only later)
        self._restored: dict[str, Any] | None = None
        self._val_keys: set[str] = set()  # metrics validation logs (not re-recorded at training steps)
        self._before_val: dict[str, float] = {}

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        resumed, cur = self._restored is not None, self.curriculum
        if self.stages is not None:
            cur.keep_states(every=1, window=4096)  # Lightning's rows are counted one by one
            if resumed:
                self.stages.load_state_dict(self._restored)
                self._rows = self._restored["rows"]
        if trainer.is_global_zero:
            config = self.config if self.config is not None else (
                {"curriculum": cur.cfg.model_dump(mode="json")} if cur is not None else None)
            self.run = open_run(self.run_dir, self.stages, name=self.name, roles=self.roles, config=config,
                                resumed=resumed,
                                step=self._step)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        step = self._step = trainer.global_step
        if isinstance(batch, dict) and "input_ids" in batch:
            self._rows += len(batch["input_ids"]) * max(1, trainer.world_size)
        if self.run is not None and step % max(1, trainer.log_every_n_steps) == 0:
            values = {k: v for k, v in _scalars(trainer.callback_metrics).items() if k not in self._val_keys}
            if values:
                self.run.log(values, step=step)
        if self.stages is not None and self.stages.after_step(step, self._rows):
            trainer.should_stop = True

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        self._before_val = _scalars(trainer.callback_metrics)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        every = _scalars(trainer.callback_metrics)
        self._val_keys |= {k for k, v in every.items() if self._before_val.get(k) != v}
        values, step = {k: v for k, v in every.items() if k in self._val_keys}, trainer.global_step
        if self.run is not None and values:
            self.run.log(values, step=step)
        metric = self.stages.tracker.metric if self.stages is not None else None
        if metric is not None and metric not in values:
            _unlogged(self.stages.tracker.stage.name, metric, every, self.run)
        if metric is not None and self.stages.after_eval(step, values, self._rows):
            trainer.should_stop = True

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        if self.run is not None:
            done = self.stages is not None and self.stages.tracker.finished
            self.run.finish("finished", "curriculum complete" if done else f"stopped at step {trainer.global_step}")

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if self.run is not None and not self.run.finished:
            status = "stopped" if isinstance(exception, KeyboardInterrupt) else "failed"
            self.run.finish(status, f"{type(exception).__name__}: {exception}")

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        if self.run is not None and not self.run.finished:
            self.run.event("checkpoint", step=trainer.global_step)
            self.run.flush()

    @property
    def state_key(self) -> str:  # fixed, not the class name: a checkpoint resumes whatever the class is called
        return "HandholdCallback"

    def state_dict(self) -> dict[str, Any]:
        if self.stages is None:
            return {"step": self._step}
        return {"step": self._step, "rows": self._rows, **self.stages.state_dict(self._rows)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restored = state_dict or None
        if state_dict:
            self._step = int(state_dict.get("step", 0))


__getattr__ = renamed_callback(__name__, HandholdLightningCallback)
