"""The registry of procedural sources: task generators a config names as a source ``type``.

A procedural source is a function ``generate(rng: random.Random) -> Example`` (see
:mod:`handhold.data.tasks.base`) that draws only from the ``rng`` it is given. Adding one takes
two files: the generator module and its entry in ``SOURCES`` below (``name: "module:function"``).
From here the config learns which ``type:`` names are valid (each one is also a source a stage may
mix without declaring it), and the data layer finds the function to draw from.

Entries name their function by import path, so the config (which imports this module) never
loads a generator; :func:`generator` imports it when a run first draws from the source.

>>> names()
('general', 'physics')
>>> generator("physics").__module__
'handhold.data.tasks.physics'
"""

from __future__ import annotations

import importlib
import random
import re
from collections.abc import Callable
from typing import Any

from .dataset_files import DATASET_TYPES

Generator = Callable[[random.Random], Any]

SOURCES: dict[str, str | Generator] = {
    "general": "handhold.data.tasks.general:generate",
    "physics": "handhold.data.tasks.physics:generate",
}
FILE_TYPES = ("jsonl", "text")  # the other source types: examples read from a file


def names() -> tuple[str, ...]:
    """Every registered procedural source, in registration order."""
    return tuple(SOURCES)


def register(name: str, generate: str | Generator) -> None:
    """Add a procedural source from outside handhold (a plugin, a test): ``generate`` is the
    function itself or its ``"module:function"`` path."""
    taken = (*FILE_TYPES, *DATASET_TYPES)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name in taken:
        raise ValueError(f"{name!r} cannot name a procedural source (letters, digits, _ . -; "
                         f"not {', '.join(taken)})")
    SOURCES[name] = generate


def generator(name: str) -> Generator:
    """The generator function of a registered source (imported on first use)."""
    entry = SOURCES[name]
    if callable(entry):
        return entry
    module, _, function = entry.partition(":")
    return getattr(importlib.import_module(module), function)
