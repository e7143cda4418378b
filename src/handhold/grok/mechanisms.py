"""The lab's mechanisms: what a variant switches on besides the base recipe, in one registry.

A mechanism is a section of a variant (``curriculum:``, ``grokfast:``) with its own schema and
what a run does with it. Adding one touches two files: its module (the section's pydantic model
and what it does) and one entry in :data:`MECHANISMS`::

    MECHANISMS["noise"] = Mechanism("noise", NoiseSpec, gradient_hook=NoiseFilter)

From that entry alone:

- the config accepts ``noise:`` on a variant, validated by ``NoiseSpec`` (errors keep their file,
  line and key path), and resolves it into the run's spec (``RunSpec.noise``; ``None`` when off);
- both run loops build ``gradient_hook(section, params)`` and call it after every backward pass,
  before the optimizer step (:func:`gradient_hooks`);
- a variant that uses it is never a baseline: declaring one that does is an error, and the
  derived baseline is a variant that uses none (``config.GrokConfig.baselines``);
- ``batched`` says why seeds using it cannot train stacked ("" if they can: its hook then acts
  element by element and has ``keep(rows, params)`` for seeds that leave the stack);
- ``check(section, task ops)`` lists what it needs of the task, as located config errors.

The curriculum's effect is the run's stages (``curricula.build_stages``, planned for the stage
tracker by ``seedrun.stage_plans``), so it has no gradient hook. Optimizers are chosen by
``optim.name`` and registered in ``optim.OPTIMIZERS``: a condition every arm of a comparison
shares rather than a variant's treatment.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from torch import nn

from ..yamlconfig import StrictModel
from . import curricula, grokfast

Hook = Callable[[], None]


@dataclass(frozen=True)
class Mechanism:
    """One mechanism: its variant section ``key``, that section's schema, and its effects."""

    key: str
    spec: type[BaseModel]
    gradient_hook: Callable[[Any, list[nn.Parameter]], Hook] | None = None
    batched: str = ""
    check: Callable[[Any, list[str]], list[tuple[tuple[str, ...], str]]] | None = None


MECHANISMS: dict[str, Mechanism] = {m.key: m for m in (
    Mechanism("curriculum", curricula.CurriculumSpec, batched="a curriculum (stages differ per seed)",
              check=curricula.check_task),
    Mechanism("grokfast", grokfast.GrokfastSpec, gradient_hook=grokfast.gradient_filter),
)}


def used(spec: Any) -> list[Mechanism]:
    """The mechanisms a variant (or run spec) switches on, in registry order."""
    return [m for m in MECHANISMS.values() if getattr(spec, m.key, None) is not None]


def gradient_hooks(spec: Any, params: list[nn.Parameter]) -> list[Hook]:
    """The hooks to call after every backward pass of a run of ``spec`` over ``params``."""
    return [m.gradient_hook(getattr(spec, m.key), params) for m in used(spec) if m.gradient_hook is not None]


class WithMechanisms(StrictModel):
    """A config model (a variant, a run's spec) whose sections include the registered mechanisms:
    each is validated by its mechanism's schema (errors keep their key path), an absent one is
    ``None``, and any other unknown key is an error with a "did you mean"."""

    model_config = ConfigDict(extra="allow")  # strict otherwise; only the registered sections get past the validator

    @model_validator(mode="wrap")
    @classmethod
    def _mechanism_sections(cls, data: Any, handler: Any) -> Any:
        if not isinstance(data, dict):
            return handler(data)
        data, errors = dict(data), []
        known = [*cls.model_fields, *MECHANISMS]
        for key in [k for k in data if k not in cls.model_fields]:
            m = MECHANISMS.get(key)
            if m is None:
                errors.append(_value_error((key,), _unknown(str(key), known)))
                del data[key]
            elif data[key] is not None and not isinstance(data[key], m.spec):
                try:
                    data[key] = m.spec.model_validate(data[key])
                except ValidationError as exc:
                    errors += [_in_section(key, m.spec, err) for err in exc.errors()]
                    del data[key]
        for key in MECHANISMS:
            data.setdefault(key, None)
        try:
            model = handler(data)
        except ValidationError as exc:
            errors += [_init_error(err) for err in exc.errors()]
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return model


def _unknown(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return (f"unknown key {key!r}" + (f"; did you mean {close[0]!r}?" if close else "")
            + f" (allowed: {', '.join(allowed)})")


def _value_error(loc: tuple[Any, ...], message: str) -> dict[str, Any]:
    # input: a mapping, so the located message adds no "(got ...)"
    return {"type": "value_error", "loc": loc, "input": {}, "ctx": {"error": ValueError(message)}}


def _init_error(err: Any) -> dict[str, Any]:
    out = {"type": err["type"], "loc": tuple(err["loc"]), "input": err.get("input")}
    if err.get("ctx"):
        out["ctx"] = err["ctx"]
    return out


def _in_section(key: str, spec: type[BaseModel], err: Any) -> dict[str, Any]:
    """An error of a mechanism's section, located under its key (an unknown key gets its "did you mean")."""
    loc = (key, *err["loc"])
    if err["type"] == "extra_forbidden":
        return _value_error(loc, _unknown(str(err["loc"][-1]), _fields_at(spec, err["loc"][:-1])))
    return {**_init_error(err), "loc": loc}


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the pydantic model reached from ``model`` along ``loc``."""
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        inner = [a for a in (typing.get_args(field.annotation) or (field.annotation,))
                 if isinstance(a, type) and issubclass(a, BaseModel)]
        if not inner:
            return []
        model = inner[0]
    return list(model.model_fields)
