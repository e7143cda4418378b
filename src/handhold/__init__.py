"""handhold: legible training through an explicit curriculum of data stages.

``handhold.init/log/finish`` are the Run API (:mod:`handhold.runstore.live`) for the live run;
``handhold.amend`` (:mod:`handhold.runstore.amend`) writes into an existing run at past steps (a
re-scored checkpoint, a chat exchange, a label). ``handhold.read`` (:mod:`handhold.read`) reads
runs into pandas DataFrames for a notebook. They load their module on first use, so
``import handhold`` stays light.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__


def init(*args: Any, **kwargs: Any) -> Any:
    """Open a run for writing: see :func:`handhold.runstore.live.init`."""
    from .runstore.live import init as _init

    return _init(*args, **kwargs)


def amend(*args: Any, **kwargs: Any) -> Any:
    """Open an existing run to write at past steps, beside a live trainer: see :func:`handhold.runstore.amend.amend`."""
    from .runstore.amend import amend as _amend

    return _amend(*args, **kwargs)


def log(values: Any, step: int | None = None, commit: bool | None = None) -> None:
    """Log metrics on the current run: see :meth:`handhold.runstore.live.Run.log`."""
    from .runstore.live import log as _log

    _log(values, step=step, commit=commit)


def finish(*args: Any, **kwargs: Any) -> None:
    """Finish the current run: see :meth:`handhold.runstore.live.Run.finish`."""
    from .runstore.live import finish as _finish

    _finish(*args, **kwargs)


# wandb names a script may use after ``import handhold as wandb`` that handhold does not cover
_NOT_WANDB = ("Image", "Table", "Histogram", "Artifact", "Video", "Audio", "Html", "Object3D", "Settings",
              "watch", "define_metric", "save", "alert", "login", "summary", "use_artifact", "log_artifact",
              "Api", "agent", "sweep")


def __getattr__(name: str) -> Any:
    if name == "Run":
        from .runstore.live import Run

        return Run
    if name == "read":  # the notebook read API: pandas loads only when it is used
        import importlib

        return importlib.import_module(".read", __name__)
    if name in _NOT_WANDB:
        raise AttributeError(f"handhold has no wandb.{name}; after `import handhold as wandb` only init, "
                             "log, finish and the returned run (run.log, run.finish, run.config) work "
                             "(README: 'Use it from your own loop')")
    raise AttributeError(f"module 'handhold' has no attribute {name!r}")
