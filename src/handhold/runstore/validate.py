"""What the run's two writers accept: keys, metric values, steps and JSON data.

:class:`handhold.runstore.live.Run` (the live run, ``handhold.init``) and :class:`handhold.runstore.amend.Amend`
(writing into an existing run, ``handhold.amend``) check every write here, so a key or a value
that one door refuses the other refuses too, with the same message. ``where`` names the call in
the message (``run.log``, ``amend.replace``, ...).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..bounds import step_value

_KEY = re.compile(r"[\w.\-:@+=,()\[\]]+(?:/[\w.\-:@+=,()\[\]]+)*\Z")


def check_key(key: Any, what: str = "key", where: str = "run.log") -> str:
    """``key`` if it is a ``/``-separated path of letters, digits and ``_ - . : @ + = , ( ) [ ]``."""
    if not isinstance(key, str):
        raise TypeError(f"{where}: {what} {key!r} is a {type(key).__name__}; keys are strings")
    if not _KEY.match(key) or len(key) > 256:
        bad = sorted({c for c in key if not re.match(r"[\w.\-:@+=,()\[\]/]", c)})
        why = (f"has the character(s) {' '.join(repr(c) for c in bad)}" if bad else
               "is empty" if not key else "is longer than 256 characters" if len(key) > 256 else
               "has an empty path part (a leading, trailing or doubled '/')")
        raise ValueError(f"{where}: {what} {key!r} {why}; use '/'-separated parts of letters, digits "
                         "and _ - . : @ + = , ( ) [ ]")
    return key


def number(key: str, v: Any, where: str = "run.log") -> float | None:
    """A metric value as a float, None for NaN/inf; a clear TypeError for anything else."""
    if isinstance(v, (str, bytes)) or v is None:
        raise TypeError(f"{where}: {key!r} is {type(v).__name__} {v!r:.40}, not a number "
                        "(log numbers; put text in run.sample or run.event)")
    item = getattr(v, "item", None)
    if item is not None and getattr(v, "ndim", 0) in (0, 1) and getattr(v, "size", 1) in (1, None):
        try:
            v = item()
        except (ValueError, RuntimeError):
            pass
    try:
        f = float(v)
    except OverflowError:
        raise ValueError(f"{where}: {key!r} is {str(v)[:20]}..., too large for a float") from None
    except (TypeError, ValueError):
        shape = getattr(v, "shape", None)
        what = f"{type(v).__name__} of shape {tuple(shape)}" if shape is not None else type(v).__name__
        raise TypeError(f"{where}: {key!r} is a {what}, not a number (log one scalar per key)") from None
    return f if math.isfinite(f) else None


def step_number(step: Any, where: str) -> int:
    """``step`` as an int in SQLite's range (:func:`handhold.bounds.step_value`)."""
    return step_value(step, where)


def text_check(where: str, *texts: Any) -> None:
    """Strings SQLite can store: a TypeError for a non-string, a ValueError for one that is not
    valid Unicode (a lone surrogate would fail at the flush, not here)."""
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"{where}: prompt and text must be strings, not {type(text).__name__}")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{where}: the text is not valid Unicode ({exc.reason} at {exc.start})") from None


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``/``-separated keys: ``{"a": {"b": 1}}`` -> ``{"a/b": 1}``."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "/"))
        else:
            out[key] = v
    return out


def metric_rows(values: Any, step: int, t: float, where: str) -> list[tuple[int, str, float | None, float]]:
    """Checked rows ``(step, key, value or None, time)`` of a dict of metrics (nested dicts
    flattened); every row is checked before any is returned, so a refused call writes nothing."""
    if not isinstance(values, Mapping):
        raise TypeError(f"{where}: expected a dict of metrics, got {type(values).__name__}")
    return [(step, check_key(k, where=where), number(k, v, where), t) for k, v in flatten(values).items()]


def _plain(value: Any) -> Any:
    """JSON for event/stage data: numpy/torch scalars become numbers, paths strings."""
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "ndim", 0) == 0:
        return item()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON data")


def jsonable(where: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` as plain JSON data (numbers, strings, lists, dicts), or a TypeError naming the key."""
    out = {}
    for k, v in data.items():
        try:
            out[str(k)] = json.loads(json.dumps(v, default=_plain, allow_nan=True))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{where}: {k!r} cannot be stored ({exc}); pass numbers, strings, lists or dicts") from None
    return out


def config_dict(config: Any) -> dict[str, Any] | None:
    """A config (dict, pydantic model, dataclass, argparse Namespace) as plain JSON data."""
    if config is None:
        return None
    if hasattr(config, "model_dump"):
        config = config.model_dump(mode="json")
    elif hasattr(config, "__dataclass_fields__"):
        from dataclasses import asdict

        config = asdict(config)
    elif not isinstance(config, Mapping) and hasattr(config, "__dict__"):
        config = vars(config)
    if not isinstance(config, Mapping):
        raise TypeError(f"init: config must be a mapping (dict, pydantic model, dataclass), not {type(config).__name__}")
    return jsonable("init: config", config)
