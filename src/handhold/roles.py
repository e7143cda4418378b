"""Metric roles: which curves say something about the model, and which describe the run or the machine.

Every key has one role:

- ``signal``: losses, eval and benchmark scores, self-report, measures the user asks to read;
  phase labels, shocks, divergence and grokking are read on these only;
- ``schedule``: what the run was told to do (learning rate, epoch, weight decay, stage index,
  token and sample counters);
- ``system``: what the machine did (runtimes, samples/s, steps/s, FLOPs, memory, throughput).

Schedule and system curves are drawn in one collapsed panel at the bottom of the report and
the dashboard, and never labelled. The role of a key comes from, in order: the user
(``handhold.init(..., roles=...)``, ``run.set_roles``, the config's ``roles:``, ``--role KEY=ROLE``
on ``analyze``/``import``), what the writer knew (the HF and Lightning integrations, the
importer, the trainer record roles for the keys they write), then the key's name
(:func:`role_by_name`). Stored in the run's meta under :data:`META_KEY` as ``{key or glob: role}``.

>>> role_by_name("eval/physics/runtime"), role_by_name("train/lr"), role_by_name("eval/family/reasoning")
('system', 'schedule', 'signal')
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from typing import Any

SIGNAL, SCHEDULE, SYSTEM = "signal", "schedule", "system"
ROLES = (SIGNAL, SCHEDULE, SYSTEM)
META_KEY = "roles"

_SYSTEM = re.compile(
    r"(runtime|_per_second|per_second|_per_s$|tokens_per_s|samples_per_s|steps_per_s|flos|flops|mfu|"
    r"memory|mem_|_mem$|gpu|throughput|time_s$|_time$|^time$|wall.?time|timestamp|seconds|duration|"
    r"benchmarks_time)", re.IGNORECASE)
_SCHEDULE = re.compile(
    r"(^|/|_)(lr|learning_rate|epoch|epochs|weight_decay|wd|momentum|beta\d?|warmup\w*|stage|stage_index|"
    r"tokens|samples|rows|global_step|step)$", re.IGNORECASE)


def role_by_name(key: str) -> str:
    """The role a key's name says (system words first: ``tokens_per_s`` is a rate, not a counter)."""
    if _SYSTEM.search(key):
        return SYSTEM
    if _SCHEDULE.search(key):
        return SCHEDULE
    return SIGNAL


def check_roles(roles: Mapping[str, Any], where: str) -> dict[str, str]:
    """``roles`` as ``{key or glob: role}``; a ValueError naming ``where`` for an unknown role."""
    if not isinstance(roles, Mapping):
        raise ValueError(f"{where}: roles must be a mapping of metric key (or glob) to role, "
                         f"not {type(roles).__name__}")
    out = {}
    for key, role in roles.items():
        if role not in ROLES:
            raise ValueError(f"{where}: {key!r}: role must be one of {', '.join(ROLES)}, not {role!r}")
        out[str(key)] = str(role)
    return out


def parse_flags(flags: Iterable[str], where: str = "--role") -> dict[str, str]:
    """``KEY=ROLE`` flags (``KEY`` may be a glob) as a mapping."""
    out = {}
    for flag in flags:
        key, sep, role = str(flag).rpartition("=")
        if not sep or not key:
            raise ValueError(f"{where} {flag}: expected KEY=ROLE, e.g. 'eval/*/runtime=system'")
        out.update(check_roles({key: role.strip()}, f"{where} {flag}"))
    return out


def role_of(key: str, *overrides: Mapping[str, str] | None) -> str:
    """The role of ``key``: the last override table that names it (exactly, else by its latest
    matching glob), else its name's."""
    for table in reversed([t for t in overrides if t]):
        if key in table:
            return table[key]
        hit = next((r for pat, r in reversed(table.items()) if fnmatch.fnmatchcase(key, pat)), None)
        if hit is not None:
            return hit
    return role_by_name(key)


def roles_of(keys: Iterable[str], *overrides: Mapping[str, str] | None) -> dict[str, str]:
    return {k: role_of(k, *overrides) for k in keys}


def stored_roles(meta: Mapping[str, Any]) -> dict[str, str]:
    """The roles a run's meta holds (written by its writers and the user); odd entries skipped."""
    raw = meta.get(META_KEY) if isinstance(meta, Mapping) else None
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): str(v) for k, v in raw.items() if v in ROLES}


def signals(keys: Iterable[str], *overrides: Mapping[str, str] | None) -> list[str]:
    return [k for k in keys if role_of(k, *overrides) == SIGNAL]
