"""Ray as the lab's engine: every unit of a sweep (one run, or one variant's seeds batched) is a Ray
task, on a local Ray cluster started here or on a running cluster of many machines.

``handhold grok --ray`` starts a local cluster (``ray.init(num_cpus=N, include_dashboard=False)``,
bound to the loopback address: nothing listens beyond this machine); ``--ray ADDRESS`` joins a
running cluster (``ray start --head`` on one node, ``ray start --address`` on the others), the
same code on many machines. Each task runs :func:`handhold.grok.sweep.run_unit` (one torch thread;
a task asks for one CPU) and writes its own run store, so results reach the disk as each run
finishes and a sweep cut short keeps every finished run: rerunning the command retrains only the
missing ones (``experiment.run_experiment`` reuses finished runs). On a cluster of many machines
the experiment directory must be on a file system every node sees.

The engine is an executor for :func:`handhold.grok.sweep.execute`: it yields (unit, results,
error) in completion order, like the process pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .sweep import Unit, run_unit

LOOPBACK = "127.0.0.1"


class RayEngine:
    """A Ray session for the lab: ``address`` None starts a local cluster of ``num_cpus`` CPUs on the
    loopback address; otherwise joins the cluster at ``address`` ("auto", "ray://host:10001", ...).
    A session already started in this process (``ray.is_initialized()``) is used as it is and left
    running; one started here is shut down by :meth:`close`."""

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self._owned = False

    def start(self) -> RayEngine:
        import ray

        if ray.is_initialized():
            return self
        if self.address:
            ray.init(address=self.address, log_to_driver=False, configure_logging=False)
        else:
            ray.init(num_cpus=self.num_cpus, include_dashboard=False, _node_ip_address=LOOPBACK,
                     log_to_driver=False, configure_logging=False)
        self._owned = True
        return self

    def close(self) -> None:
        import ray

        if self._owned and ray.is_initialized():
            ray.shutdown()
        self._owned = False

    def __enter__(self) -> RayEngine:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def stream(self, units: list[Unit]) -> Iterator[tuple[Unit, list[dict[str, Any]] | None, BaseException | None]]:
        """Submit every unit as a task (one CPU each) and yield each as it completes. A caller that
        stops early (an error, Ctrl-C) cancels the tasks still pending: a run cut short leaves a run
        store that is not finished, which the next call retrains."""
        import ray

        self.start()
        task = ray.remote(num_cpus=1, max_retries=0)(run_unit)
        pending: dict[Any, Unit] = {}
        for u in units:
            _, args = u.call()
            pending[task.remote(*args)] = u
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    unit = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - a failed task is reported with its unit
                        yield unit, None, _cause(exc)
                    else:
                        yield unit, result, None
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)


def _cause(exc: BaseException) -> BaseException:
    """The training error itself rather than Ray's wrapper (``RayTaskError`` keeps it as ``cause``)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc
