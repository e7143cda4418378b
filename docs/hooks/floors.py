"""A mkdocs hook: the Architecture page's ``<!-- floors -->`` becomes the table of floors, read
from the first import-linter contract in pyproject.toml at build time.

That contract is the floor plan ``lint-imports`` enforces: its ``layers`` list, top floor first,
each line a floor's modules separated by ``:`` with a comment line above it naming the floor.
Generating the table from it means the page shows the plan the checker holds the code to.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

MARKER = "<!-- floors -->"


def floors(pyproject: Path) -> list[tuple[str, list[str]]]:
    """``(description, modules)`` of each floor, bottom floor first."""
    text = pyproject.read_text(encoding="utf-8")
    start = text.index("[[tool.importlinter.contracts]]")
    block = text[start:]
    layers = block[block.index("layers = ["):]
    layers = layers[: layers.index("\n]")]
    out: list[tuple[str, list[str]]] = []
    note = ""
    for line in layers.splitlines()[1:]:
        line = line.strip()
        if line.startswith("#"):
            note = line.lstrip("# ").strip()
        elif line.startswith('"'):
            modules = [m.strip() for m in re.findall(r'"([^"]*)"', line)[0].split(":")]
            out.append((note, modules))
            note = ""
    if not out:
        raise ValueError(f"{pyproject}: no layers in the first import-linter contract")
    return out[::-1]


def table(pyproject: Path) -> str:
    rows = ["| floor | modules of `handhold` (each imports only from the floors below it; modules of one floor never import each other) |",
            "|---|---|"]
    for i, (note, modules) in enumerate(floors(pyproject), start=1):
        name, _, what = note.partition(":")
        rows.append(f"| {i}. **{name.strip()}**: {what.strip()} | " + ", ".join(f"`{m}`" for m in modules) + " |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page: Any, config: Any, **kwargs: Any) -> str:
    if MARKER not in markdown:
        return markdown
    root = Path(config["config_file_path"]).parent
    return markdown.replace(MARKER, table(root / "pyproject.toml"))
