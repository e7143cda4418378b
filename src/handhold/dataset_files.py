"""Where a dataset source's rows are, and whether they hold the field it names.

Checked when a config loads, from the files' schema alone (no row read, nothing converted), so
that a wrong path, a missing column or a file of another format is one located line before a
model is built. The sources themselves (:mod:`handhold.data.datasets_source`) open the same
files through ``datasets``.
"""

from __future__ import annotations

import glob
import importlib.util
import json
from pathlib import Path
from typing import Any

from .yamlconfig import did_you_mean

DATASET_TYPES = ("hf_dataset", "parquet", "arrow", "json")
SUFFIXES = {"parquet": (".parquet",), "arrow": (".arrow",), "json": (".json", ".jsonl")}
INSTALL = "pip install 'handhold[datasets]'"

Problem = tuple[tuple[str, ...], str]  # (key path inside the source, message)


def full_path(spec: Any, base: Path | None) -> Path:
    path = Path(spec.path).expanduser()
    return path if path.is_absolute() or base is None else base / path


def data_files(kind: str, path: Path) -> list[Path]:
    """The files a ``parquet``/``arrow``/``json`` path names: a file, every such file in a
    folder, or the matches of a glob pattern; sorted, so the row order is the same everywhere."""
    if any(c in str(path) for c in "*?["):
        return sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(SUFFIXES[kind]))
    return [path] if path.is_file() else []


def disk_split(folder: Path, split: str | None) -> tuple[Path | None, str | None]:
    """The dataset folder of a ``save_to_disk`` folder (a ``DatasetDict``'s split), or a problem."""
    if (folder / "state.json").is_file():
        return folder, ("a Dataset folder has no splits: drop split" if split else None)
    index = folder / "dataset_dict.json"
    if not index.is_file():
        return None, (f"{folder} is not a folder written by save_to_disk (no state.json or "
                      "dataset_dict.json); a file of rows is type parquet, arrow or json")
    splits = list(json.loads(index.read_text(encoding="utf-8")).get("splits", []))
    chosen = split or ("train" if "train" in splits or len(splits) != 1 else splits[0])
    if chosen not in splits:
        return None, (f"no split {chosen!r}{did_you_mean(chosen, splits)} (splits: {', '.join(splits)}; "
                      "name one with split:)")
    return folder / chosen, None


def problems(spec: Any, base: Path | None) -> list[Problem]:
    """What stops the source ``spec`` (a config's ``DatasetSource``) from being read, if anything."""
    if importlib.util.find_spec("datasets") is None:
        return [(("type",), f"type {spec.type} reads through the datasets package: {INSTALL}")]
    path = full_path(spec, base)
    if spec.type == "hf_dataset":
        if not path.is_dir():
            return [(("path",), f"no such folder: {spec.path}" if not path.exists() else
                     f"{spec.path} is a file; type hf_dataset reads a folder written by save_to_disk")]
        folder, problem = disk_split(path, spec.split)
        if folder is None:
            return [(("split",) if (path / "dataset_dict.json").is_file() else ("path",), problem)]
        if problem:
            return [(("split",), problem)]
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        first = folder / state["_data_files"][0]["filename"]
        return _field_problems(spec, _arrow_columns(first), str(folder))
    files = data_files(spec.type, path)
    if not files:
        kinds = "/".join(SUFFIXES[spec.type])
        return [(("path",), f"no {kinds} file in folder {spec.path}" if path.is_dir()
                 else f"no such file, folder or match: {spec.path}")]
    read = {"parquet": _parquet_columns, "arrow": _arrow_columns, "json": _json_columns}[spec.type]
    for file in files:  # each file's schema (a footer or a first line): a stray file is named
        try:
            columns = read(file)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return [(("path",), f"{file} is not a {spec.type} file of rows ({reason[:160]})")]
        found = _field_problems(spec, columns, str(file))
        if found:
            return found
    return []


# ----------------------------------------------------------------- columns: name -> kind
# a column's kind: "text" (strings), "messages" (a list of {role, content} strings), or what else
def _arrow_kind(t: Any) -> str:
    import pyarrow as pa

    strings = (pa.types.is_string, pa.types.is_large_string, getattr(pa.types, "is_string_view", lambda _: False))
    if any(is_(t) for is_ in strings):
        return "text"
    lists = (pa.types.is_list, pa.types.is_large_list, getattr(pa.types, "is_list_view", lambda _: False))
    if any(is_(t) for is_ in lists) and pa.types.is_struct(t.value_type):
        fields = {f.name: _arrow_kind(f.type) for f in t.value_type}
        if fields.get("role") == "text" and fields.get("content") == "text":
            return "messages"
    return str(t)


def _arrow_columns(path: Path) -> dict[str, str]:
    import pyarrow as pa

    try:
        with pa.memory_map(str(path)) as stream:
            schema = pa.ipc.open_stream(stream).schema
    except pa.ArrowInvalid:  # an Arrow IPC *file* (Feather v2): datasets memory-maps the stream format
        raise ValueError("an Arrow stream file, as datasets writes, was expected") from None
    return {f.name: _arrow_kind(f.type) for f in schema}


def _parquet_columns(path: Path) -> dict[str, str]:
    import pyarrow.parquet as pq

    return {f.name: _arrow_kind(f.type) for f in pq.read_schema(str(path))}


def _json_kind(value: Any) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, list) and all(isinstance(m, dict) and isinstance(m.get("role"), str)
                                       and isinstance(m.get("content"), str) for m in value):
        return "messages"
    return type(value).__name__


def _json_columns(path: Path) -> dict[str, str] | None:
    """The first record's fields (JSON Lines); None for a JSON document that is not one record a line."""
    with path.open(encoding="utf-8") as fh:
        first = next((line for line in fh if line.strip()), "")
    try:
        record = json.loads(first)
    except json.JSONDecodeError:
        if first.lstrip().startswith(("[", "{")):
            return None  # a JSON array or an indented document: datasets reads it, the fields show then
        raise ValueError(f"the first line is not JSON: {first.strip()[:60]!r}") from None
    return {k: _json_kind(v) for k, v in record.items()} if isinstance(record, dict) else None


def _field_problems(spec: Any, columns: dict[str, str] | None, where: str) -> list[Problem]:
    if columns is None:
        return []
    chat = spec.format == "chat"
    key, field = ("messages_field", spec.messages_field) if chat else ("text_field", spec.text_field)
    if field not in columns:
        return [((key,), f"no column {field!r}{did_you_mean(field, columns)} in {where} "
                         f"(columns: {', '.join(columns)})")]
    want = "messages" if chat else "text"
    if columns[field] == "messages" and not chat:
        return [((key,), f"column {field!r} of {where} holds chat messages: set format: chat "
                         "(and messages_field) to train on them through the chat template")]
    if columns[field] != want:
        what = "a list of {role, content} messages (format: chat)" if chat else "text (strings)"
        return [((key,), f"column {field!r} of {where} holds {columns[field]}, not {what}")]
    return []
