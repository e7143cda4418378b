"""YAML settings files with located errors: the loader every handhold config file goes through.

A file is read with the line of every key path (:func:`read_yaml`), ``--set key=value``
overrides are applied to the raw mapping (:func:`apply_override`), and a pydantic model
derived from :class:`StrictModel` validates it. Each problem then reads
``file:line: key.path: message``: :func:`located` turns a pydantic error into that line (with
a "did you mean" for an unknown key), :func:`located_problems` does the same for the
``(key path, message)`` pairs a model's own cross-checks return. A key set with ``--set``
is named as ``file (--set key.path)`` instead of a line.

>>> where(("optim", "lr"), "run.yaml", {("optim",): 3, ("optim", "lr"): 4}, set())
'run.yaml:4'
>>> dotted(("stages", 1, "mix", "physics"))
'stages[1].mix.physics'
>>> did_you_mean("phsyics", ["general", "physics"])
"; did you mean 'physics'?"
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Union

import yaml
from pydantic import BaseModel, ConfigDict, Tag

KeyPath = tuple[Any, ...]
Lines = dict[KeyPath, int]


class ConfigError(ValueError):
    """A configuration problem; ``str()`` is a list of ``file:line: key.path: message`` lines."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class StrictModel(BaseModel):
    """The base of every settings model: unknown keys are errors, assignments are validated."""

    # allow_inf_nan=False: `lr: .inf` or `.nan` is a typo, never a setting
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


# --------------------------------------------------------------------------- reading
def read_yaml(path: str | Path, what: str = "config file") -> tuple[dict[str, Any], Lines]:
    """A YAML mapping and the line of every key path in it; ``ConfigError`` names the file/line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"{path}: no such {what}"])
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not a UTF-8 text file (byte {exc.start}: {exc.reason})"]) from None
    try:
        data = yaml.safe_load(text)
        lines = key_lines(text)
    except (ValueError, OverflowError) as exc:  # a scalar YAML resolves but Python cannot hold
        raise ConfigError([f"{path}: invalid YAML value: {exc}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError([f"{at}: invalid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: expected a mapping of settings at the top level"])
    return data, lines


def key_lines(text: str) -> Lines:
    """Map each key path in the YAML document to its 1-based line number."""
    out: Lines = {}
    root = yaml.compose(text)

    def walk(node: Any, path: KeyPath) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                p = (*path, key_node.value)
                out[p] = key_node.start_mark.line + 1
                walk(value_node, p)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                p = (*path, i)
                out[p] = item.start_mark.line + 1
                walk(item, p)

    if root is not None:
        walk(root, ())
    return out


def apply_override(data: dict[str, Any], item: str) -> KeyPath:
    """Apply ``a.b.0.c=value`` (value parsed as YAML) in place; return the key path."""
    if "=" not in item:
        raise ConfigError([f"--set {item}: expected key=value, e.g. optim.lr=1e-3"])
    key, raw = item.split("=", 1)
    parts: list[Any] = [int(p) if p.isdigit() else p for p in key.strip().split(".")]
    if not all(str(p) for p in parts):
        raise ConfigError([f"--set {item}: empty key segment in {key!r}"])
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # '[1', '!!python/...' tags
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError([f"--set {item}: invalid YAML value ({problem})"]) from None
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            if not isinstance(part, int) or part >= len(node):
                raise ConfigError([f"--set {item}: {dotted(tuple(parts[:i + 1]))}: no such list item"])
            node = node[part]
        else:
            if node.get(part) is None:  # absent, or `key:` left empty in the YAML
                node[part] = {}
            node = node[part]
        if not isinstance(node, (dict, list)):
            raise ConfigError([f"--set {item}: {dotted(tuple(parts[:i + 1]))} is not a mapping"])
    last = parts[-1]
    if isinstance(node, list):
        if not isinstance(last, int) or last >= len(node):
            raise ConfigError([f"--set {item}: {dotted(tuple(parts))}: no such list item"])
    node[last] = value
    return tuple(parts)


# --------------------------------------------------------------------------- locating problems
def where(loc: KeyPath, source: str, lines: Lines, overridden: set[KeyPath] | frozenset = frozenset()) -> str:
    """``file:line`` of the deepest key of ``loc`` the file has, ``file (--set key)`` if overridden."""
    for n in range(len(loc), 0, -1):
        if loc[:n] in overridden:
            return f"{source} (--set {dotted(loc[:n])})"
        if loc[:n] in lines:
            return f"{source}:{lines[loc[:n]]}"
    return source


def located(err: Any, data: Any, source: str, lines: Lines, overridden: set[KeyPath] | frozenset,
            model: type[BaseModel]) -> str:
    """One pydantic error as ``file:line: key.path: message`` (with "did you mean")."""
    loc = data_loc(data, err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        key = loc[-1]
        allowed = _allowed_keys(model, err["loc"][:-1])
        msg = f"unknown key {key!r}{did_you_mean(str(key), allowed)}"
        if allowed:
            msg += f" (allowed: {', '.join(allowed)})"
    elif err["type"] == "missing":
        msg = "required key is missing"
    elif ("input" in err and "(got" not in msg and err["type"] != "union_tag_invalid"
          and not isinstance(err["input"], (dict, list))):
        msg += f" (got {err['input']!r})"
    return f"{where(loc, source, lines, overridden)}: {dotted(loc)}: {msg}"


def located_problems(problems: Iterable[tuple[KeyPath, str]], source: str, lines: Lines,
                     overridden: set[KeyPath] | frozenset = frozenset()) -> list[str]:
    """``(key path, message)`` pairs as ``file:line: key.path: message`` lines."""
    return [f"{where(loc, source, lines, overridden)}: {dotted(loc)}: {msg}" for loc, msg in problems]


def dotted(loc: KeyPath) -> str:
    """A key path as the user writes it: ``stages[1].mix.physics`` (``<top>`` when empty)."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top>"


def did_you_mean(word: str, candidates: Any) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or ``""`` when none is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def data_loc(data: Any, loc: KeyPath) -> KeyPath:
    """Drop the union tags pydantic puts in error locations, keeping the user's key path."""
    out: list[Any] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
            out.append(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            out.append(part)
        elif i == len(loc) - 1 or not isinstance(node, dict):
            out.append(part)
            node = None
        # else: a discriminator tag (e.g. 'jsonl') that is not a key of the user's mapping
    return tuple(out)


def _allowed_keys(model: Any, loc: KeyPath) -> list[str]:
    """The field names of the pydantic model found at ``loc`` (for "did you mean")."""
    tp = model
    for part in loc:
        tp = _descend(tp, part)
        if tp is None:
            return []
    tp = _unwrap(tp)
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return tp


def _tags(tp: Any) -> set[Any]:
    """The discriminator tags a union member answers to: its ``Tag`` or its ``type`` literal."""
    tags = set()
    if typing.get_origin(tp) is Annotated:
        tags |= {m.tag for m in typing.get_args(tp)[1:] if isinstance(m, Tag)}
    field = getattr(_unwrap(tp), "model_fields", {}).get("type")
    if field is not None:
        tags |= set(typing.get_args(field.annotation))
    return tags


def _descend(tp: Any, part: Any) -> Any:
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(part)
        return field.annotation if field else None
    if origin in (list, tuple):
        return typing.get_args(tp)[0]
    if origin is dict:
        return typing.get_args(tp)[1]
    if origin in (Union, types.UnionType):
        for member in typing.get_args(tp):
            if part in _tags(member):
                return _unwrap(member)
    return None
