"""Start or resume a run: the run directory, its store, the metric families' callbacks, then ``fit``."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from ..config import GeneratedSource, RunConfig, dump_config, load_config
from ..models import resolve_model_path
from ..runstore.layout import CONFIG_NAME, DAMAGED_PREFIX, checkpoint_problem, set_aside, step_dirs
from ..runstore.live import Run, RunError
from ..runstore.db import RunStore, StoreError, db_path
from . import checkpoint as ckpt
from .callbacks.progress import ProgressBar
from .callbacks.store_writer import StoreWriter
from .events import Callback
from .families import check_families, family_callbacks
from .loop import fit, restore, setup
from .state import State


class RunDirError(RuntimeError):
    """The run directory cannot be used as asked (exists already, or holds no run)."""


def _callbacks(state: State, store: Run | None, progress: bool, extra: Sequence[Callback]) -> list[Callback]:
    """The metric families (:mod:`.families`, in registry order), the caller's own callbacks,
    then the store writer and the progress bar on the main process."""
    callbacks = family_callbacks(state.cfg, extra)
    if store is not None:
        callbacks.append(StoreWriter(store))  # after the others: it persists what they logged
        if progress:
            total = min(state.total_steps, state.cfg.train.max_steps or 10**12)
            callbacks.append(ProgressBar(total))
    return callbacks


def _open_run(state: State, cfg: RunConfig, **kw: object) -> Run | None:
    """The main process opens the run (the one writer; it holds the run directory's lock, so a
    second trainer is refused)."""
    if not state.is_main:
        return None
    try:
        return Run(state.run_dir, config=cfg, name=cfg.name, stages=[st.name for st in cfg.stages], **kw)
    except RunError as exc:
        raise RunDirError(str(exc)) from None


def _fit_and_close(state: State, store: Run | None, progress: bool,
                   callbacks: Sequence[Callback]) -> State:
    state.accelerator.wait_for_everyone()  # the main process has prepared the run directory
    try:
        return fit(state, _callbacks(state, store, progress, callbacks))
    finally:
        if store is not None and not store.finished:  # fit_end did not run (set-up failed)
            store.finish("failed", state.stop_reason or "the loop ended before fit_end")


def absolute_paths(cfg: RunConfig, base_dir: Path) -> RunConfig:
    """File sources resolved against the config's folder, so a resume works from anywhere."""
    cfg = cfg.model_copy(deep=True)
    for source in cfg.sources.values():
        if not isinstance(source, GeneratedSource) and not Path(source.path).is_absolute():
            source.path = str((base_dir / source.path).resolve())
    lm = cfg.evals.lm_eval
    if lm is not None and lm.include_path is not None and not Path(lm.include_path).is_absolute():
        lm.include_path = str((base_dir / lm.include_path).resolve())
    if cfg.model.path is not None:
        cfg.model.path = resolve_model_path(cfg.model.path, base_dir)
    if cfg.model.tokenizer != "chars":
        cfg.model.tokenizer = resolve_model_path(cfg.model.tokenizer, base_dir)
    return cfg


def start(cfg: RunConfig, run_dir: Path, *, base_dir: Path | None = None, progress: bool = True,
          callbacks: Sequence[Callback] = (), overwrite: bool = False) -> State:
    """Train ``cfg`` from scratch into ``run_dir``; refuses to overwrite an existing run."""
    run_dir = Path(run_dir)
    if db_path(run_dir).exists() and not overwrite:
        raise RunDirError(f"{run_dir} already holds a run; use `handhold resume {run_dir}` "
                          "or choose another --out")
    cfg = absolute_paths(cfg, base_dir or Path.cwd())
    check_families(cfg)
    state = setup(cfg, run_dir)
    store = _open_run(state, cfg, overwrite=overwrite)
    if store is not None:
        if overwrite:
            shutil.rmtree(run_dir / ckpt.CKPT_DIR, ignore_errors=True)
        (run_dir / CONFIG_NAME).write_text(dump_config(cfg))
    return _fit_and_close(state, store, progress, callbacks)


def resume(run_dir: Path, *, progress: bool = True, callbacks: Sequence[Callback] = (),
           overrides: list[str] | None = None) -> State:
    """Continue a stopped or killed run from its latest complete checkpoint.

    Rows the store holds past that checkpoint are deleted first: the resumed run logs them
    again, identically, so nothing is lost or counted twice.
    """
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_NAME).is_file() or not db_path(run_dir).is_file():
        raise RunDirError(f"{run_dir} is not a handhold run (no {CONFIG_NAME} and run.db)")
    _check_store(run_dir)
    cfg = load_config(run_dir / CONFIG_NAME, overrides)
    check_families(cfg)
    state = setup(cfg, run_dir)
    latest, damaged = _restore_newest(state, run_dir)
    store = _open_run(state, cfg, resume=True, resume_from=state.step if latest is not None else -1)
    if store is not None:
        for path in damaged:  # newer than the one restored: set aside, not deleted
            set_aside(path)
        if overrides:
            (run_dir / CONFIG_NAME).write_text(dump_config(cfg))
        ckpt.clean_partial(run_dir)
    return _fit_and_close(state, store, progress, callbacks)


def _check_store(run_dir: Path) -> None:
    """Refuse a run store that is empty or not a database (never start it over silently)."""
    path = db_path(run_dir)
    if path.stat().st_size == 0 and not Path(f"{path}-wal").is_file():
        raise RunDirError(f"{path}: the run store is empty (0 bytes); nothing to resume. Start again "
                          f"with `handhold train CONFIG --out {run_dir} --overwrite` if that is what you want")
    try:
        RunStore.reader(run_dir).close()
    except StoreError as exc:
        raise RunDirError(str(exc)) from None


def _restore_newest(state: State, run_dir: Path) -> tuple[tuple[int, Path] | None, list[Path]]:
    """Restore the newest checkpoint that loads; say which damaged ones were skipped.

    Returns the (step, path) restored (``None`` when the run has no checkpoint yet) and the
    damaged checkpoint directories newer than it. A run whose every checkpoint is damaged is
    refused: starting it over would throw away what it logged.
    """
    import json
    import pickle
    import sys

    from safetensors import SafetensorError

    found = step_dirs(run_dir)
    damaged = []
    for step, path in reversed(found):
        problem = checkpoint_problem(path)
        if problem is None:
            try:
                restore(state, path)
            except ckpt.ModelMismatch as exc:  # config.yaml edited, not a damaged checkpoint
                raise RunDirError(f"{run_dir}: cannot resume: {exc}") from None
            except (OSError, ValueError, RuntimeError, KeyError, TypeError, EOFError, IndexError,
                    pickle.UnpicklingError, json.JSONDecodeError, SafetensorError) as exc:
                problem = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        if problem is None:
            if damaged and state.is_main:
                print(f"warning: resuming from {path.name}: skipped damaged "
                      + ", ".join(f"{p.name} ({why})" for p, why in damaged)
                      + f"; they are kept as {DAMAGED_PREFIX}step_*", file=sys.stderr)
            return (step, path), [p for p, _ in damaged]
        damaged.append((path, problem))
    if damaged:
        raise RunDirError(f"{run_dir}: no usable checkpoint: " + "; ".join(f"{p.name} is damaged ({why})"
                                                                         for p, why in damaged))
    return None, []
