"""Where the lab's runs execute: in this process, on a local process pool, or through submitit.

No scheduler of our own: a unit of work (one run, or several seeds of one variant trained at once
by the batched path) is a picklable call, handed to ``concurrent.futures.ProcessPoolExecutor``
(``--jobs N``: N worker processes, one torch thread each, forked from a ``forkserver`` that has
imported torch and the lab once but never run an op, so no worker inherits a live OpenMP pool)
or to a submitit executor (``--slurm`` on a cluster; ``--submitit-folder`` alone runs submitit's
local executor, every unit at once; tests use its ``DebugExecutor``).
or to a Ray cluster (``--ray``: :mod:`handhold.grok.ray_engine`, a local cluster or one of many
machines).

Every unit writes its own run store(s); the parent only collects the results as they complete,
so a sweep cut short keeps every run that finished. A script that calls ``run_experiment`` with
``jobs`` > 1 needs the usual ``if __name__ == "__main__":`` guard (workers re-import the main module).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass
class Unit:
    """One call: ``seeds`` of the variant ``spec`` (a resolved RunSpec as JSON), each into its dir.
    One seed: the ordinary trainer; several: the batched-seeds trainer."""

    spec: dict[str, Any]
    seeds: list[int]
    run_dirs: list[Path]
    label: str = field(default="")

    def call(self) -> tuple[Callable[..., list[dict[str, Any]]], tuple[Any, ...]]:
        return run_unit, (self.spec, self.seeds, [str(d) for d in self.run_dirs])


def one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def run_unit(spec_json: dict[str, Any], seeds: list[int], run_dirs: list[str]) -> list[dict[str, Any]]:
    """Train the unit (in whatever process executes it) and return each run's result as a dict."""
    one_thread()
    from .config import RunSpec

    spec = RunSpec.model_validate(spec_json)
    if len(seeds) == 1:
        from .train import train_run

        return [train_run(spec, seeds[0], run_dirs[0]).to_dict()]
    from .batched import train_batched

    return [r.to_dict() for r in train_batched(spec, seeds, run_dirs)]


def execute(units: list[Unit], *, jobs: int = 1, executor: Any = None
            ) -> Iterator[tuple[Unit, list[dict[str, Any]] | None, BaseException | None]]:
    """Run ``units``; yield (unit, results, error) as each completes (submission order for ``jobs=1``).

    ``executor``: a submitit executor (``submitit.AutoExecutor``/``LocalExecutor``/``DebugExecutor``)
    or an engine with a ``stream(units)`` method (``ray_engine.RayEngine``); otherwise ``jobs`` > 1
    uses a local process pool and ``jobs`` = 1 this process.
    """
    if not units:
        return
    if hasattr(executor, "stream"):
        yield from executor.stream(units)
    elif executor is not None:
        yield from _submitit(units, executor)
    elif jobs <= 1 or len(units) == 1:
        for u in units:
            fn, args = u.call()
            try:
                yield u, fn(*args), None
            except Exception as exc:  # noqa: BLE001 - reported with its unit, the others still run
                yield u, None, exc
    else:
        ctx = multiprocessing.get_context("forkserver")
        # imported once in the forkserver (which outlives the pool), forked per worker; torch._dynamo is
        # what the first optimizer step would import in every worker
        ctx.set_forkserver_preload(["handhold.grok.sweep", "handhold.grok.train", "torch._dynamo"])
        with ProcessPoolExecutor(max_workers=min(jobs, len(units)), mp_context=ctx, initializer=one_thread) as pool:
            futures: dict[Future[Any], Unit] = {}
            for u in units:
                fn, args = u.call()
                futures[pool.submit(fn, *args)] = u
            for fut in as_completed(futures):
                exc = fut.exception()
                yield futures[fut], None if exc else fut.result(), exc


def _submitit(units: list[Unit], executor: Any) -> Iterator[tuple[Unit, Any, BaseException | None]]:
    import submitit

    jobs = []
    for u in units:
        fn, args = u.call()
        jobs.append(executor.submit(fn, *args))
    by_job = {id(j): u for j, u in zip(jobs, units)}
    if isinstance(executor, submitit.DebugExecutor):  # runs in this process when asked for the result
        done: Iterator[Any] = iter(jobs)
    else:
        done = submitit.helpers.as_completed(jobs, poll_frequency=2)
    for job in done:
        try:
            yield by_job[id(job)], job.result(), None
        except Exception as exc:  # noqa: BLE001
            yield by_job[id(job)], None, exc


def submitit_executor(folder: Path, *, slurm: bool, params: dict[str, Any] | None = None) -> Any:
    """A submitit executor writing its logs under ``folder``: Slurm (``slurm=True``; needs ``sbatch``)
    or submitit's local executor. ``params`` go to ``update_parameters`` (``slurm_partition``,
    ``timeout_min``, ...)."""
    import submitit

    folder = Path(folder)
    if slurm:
        ex: Any = submitit.AutoExecutor(folder=folder, cluster="slurm")
    else:
        ex = submitit.LocalExecutor(folder=folder)
    ex.update_parameters(**({"timeout_min": 24 * 60} | (params or {})))
    return ex
