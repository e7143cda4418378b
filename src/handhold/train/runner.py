"""Start or resume a run: the run directory, its store, the default callbacks, then ``fit``."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from typing import IO
from pathlib import Path

from ..config import GeneratedSource, RunConfig, dump_config, load_config
from .. import runlock
from ..store import RunStore, db_path
from . import checkpoint as ckpt
from .events import Callback
from .loop import fit, restore, setup
from .state import State

CONFIG_NAME = "config.yaml"


class RunDirError(RuntimeError):
    """The run directory cannot be used as asked (exists already, or holds no run)."""


def _callbacks(state: State, store: RunStore | None, progress: bool, extra: Sequence[Callback]) -> list[Callback]:
    from ..callbacks.benchmarks import BenchmarkEvals
    from ..callbacks.evaluate import EvalSuite, LmEvalMilestones
    from ..callbacks.heldout import HeldOutLoss
    from ..callbacks.measures import Measures
    from ..callbacks.probes import Probes
    from ..callbacks.progress import ProgressBar
    from ..callbacks.store_writer import StoreWriter

    callbacks: list[Callback] = [HeldOutLoss(), EvalSuite(), LmEvalMilestones(), BenchmarkEvals(), Probes(), Measures(), *extra]
    if store is not None:
        callbacks.append(StoreWriter(store))  # after the others: it persists what they logged
        if progress:
            total = min(state.total_steps, state.cfg.train.max_steps or 10**12)
            callbacks.append(ProgressBar(total))
    return callbacks


def _lock(state: State) -> IO[str] | None:
    """The main process holds the run directory while it trains (refuses a second trainer)."""
    if not state.is_main:
        return None
    try:
        return runlock.acquire(state.run_dir)
    except runlock.RunLocked as exc:
        raise RunDirError(str(exc)) from None


def _fit_and_close(state: State, store: RunStore | None, progress: bool,
                   callbacks: Sequence[Callback], lock: IO[str] | None) -> State:
    state.accelerator.wait_for_everyone()  # the main process has prepared the run directory
    try:
        return fit(state, _callbacks(state, store, progress, callbacks))
    finally:
        if store is not None:
            store.close()
        if lock is not None:
            lock.close()


def absolute_paths(cfg: RunConfig, base_dir: Path) -> RunConfig:
    """File sources resolved against the config's folder, so a resume works from anywhere."""
    cfg = cfg.model_copy(deep=True)
    for source in cfg.sources.values():
        if not isinstance(source, GeneratedSource) and not Path(source.path).is_absolute():
            source.path = str((base_dir / source.path).resolve())
    lm = cfg.evals.lm_eval
    if lm is not None and lm.include_path is not None and not Path(lm.include_path).is_absolute():
        lm.include_path = str((base_dir / lm.include_path).resolve())
    if cfg.model.path is not None and not Path(cfg.model.path).is_absolute():
        cfg.model.path = str((base_dir / cfg.model.path).resolve())
    if cfg.model.tokenizer != "chars" and not Path(cfg.model.tokenizer).is_absolute():
        cfg.model.tokenizer = str((base_dir / cfg.model.tokenizer).resolve())
    return cfg


def start(cfg: RunConfig, run_dir: Path, *, base_dir: Path | None = None, progress: bool = True,
          callbacks: Sequence[Callback] = (), overwrite: bool = False) -> State:
    """Train ``cfg`` from scratch into ``run_dir``; refuses to overwrite an existing run."""
    run_dir = Path(run_dir)
    if db_path(run_dir).exists() and not overwrite:
        raise RunDirError(f"{run_dir} already holds a run; use `handhold resume {run_dir}` "
                          "or choose another --out")
    cfg = absolute_paths(cfg, base_dir or Path.cwd())
    state = setup(cfg, run_dir)
    store, lock = None, _lock(state)
    if state.is_main:
        if overwrite:
            db_path(run_dir).unlink(missing_ok=True)
            shutil.rmtree(run_dir / ckpt.CKPT_DIR, ignore_errors=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / CONFIG_NAME).write_text(dump_config(cfg))
        store = RunStore.open(run_dir)
    return _fit_and_close(state, store, progress, callbacks, lock)


def resume(run_dir: Path, *, progress: bool = True, callbacks: Sequence[Callback] = (),
           overrides: list[str] | None = None) -> State:
    """Continue a stopped or killed run from its latest complete checkpoint.

    Rows the store holds past that checkpoint are deleted first: the resumed run logs them
    again, identically, so nothing is lost or counted twice.
    """
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_NAME).is_file() or not db_path(run_dir).is_file():
        raise RunDirError(f"{run_dir} is not a handhold run (no {CONFIG_NAME} and run.db)")
    cfg = load_config(run_dir / CONFIG_NAME, overrides)
    state = setup(cfg, run_dir)
    latest = ckpt.latest_checkpoint(run_dir)
    if latest is not None:
        restore(state, latest[1])
    store, lock = None, _lock(state)
    if state.is_main:
        if overrides:
            (run_dir / CONFIG_NAME).write_text(dump_config(cfg))
        ckpt.clean_partial(run_dir)
        store = RunStore.open(run_dir)
        store.truncate_after(state.step if latest is not None else -1)
    return _fit_and_close(state, store, progress, callbacks, lock)
