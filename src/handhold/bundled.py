"""Configs that ship inside the package (``handhold/configs/``), found by name.

``handhold train demo`` works from any folder, and from a wheel installed anywhere: a config
argument that is not an existing file is looked up by file stem among every YAML under the
package's ``configs`` folder (``demo``, ``grok_quick``, ``procedural``, and whatever YAML is
added there later). ``configs/demo.yaml`` as the README writes it is found there too when the
current folder has no such file. ``handhold init`` copies the demo curriculum out to edit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

CONFIG_DIR = Path(__file__).parent / "configs"
SUFFIXES = (".yaml", ".yml")
STARTER = "demo"  # what `handhold init` writes out, with the eval suite it names


def bundled_configs() -> dict[str, Path]:
    """Stem -> path of every YAML under CONFIG_DIR (a top-level file wins over a nested one)."""
    if not CONFIG_DIR.is_dir():
        return {}
    found = sorted((p for p in CONFIG_DIR.rglob("*") if p.suffix in SUFFIXES and p.is_file()),
                   key=lambda p: (len(p.relative_to(CONFIG_DIR).parts), str(p)))
    out: dict[str, Path] = {}
    for p in found:
        out.setdefault(p.stem, p)
    return out


def find_config(arg: str | Path, what: str = "config file") -> Path:
    """``arg`` itself when it exists, else the bundled config it names; ``ConfigError`` if neither."""
    from .config import ConfigError

    p = Path(arg)
    if p.exists():
        return p
    parts = p.parts
    if parts and parts[0] == "configs" and (CONFIG_DIR.joinpath(*parts[1:])).is_file():
        return CONFIG_DIR.joinpath(*parts[1:])  # `configs/demo.yaml` outside the checkout
    known = bundled_configs()
    stem = p.stem if p.suffix in SUFFIXES else p.name
    if len(parts) == 1 and stem in known:
        return known[stem]
    names = ", ".join(sorted(known)) or "none found"
    raise ConfigError([f"{arg}: no such {what}, and no built-in config of that name (built-in: {names})"])


def init(
    directory: Annotated[Path, typer.Argument(help="folder to write the starter curriculum into")] = Path("."),
    force: Annotated[bool, typer.Option(help="replace files that exist already")] = False,
) -> None:
    """Write a starter curriculum (the demo's, with its eval suite) to edit: DIR/curriculum.yaml."""
    from rich.console import Console

    from .terminal import fail as _fail

    console = Console()

    source = bundled_configs().get(STARTER)
    if source is None:
        _fail(f"this installation of handhold has no built-in configs ({CONFIG_DIR} is missing)")
    import yaml

    suite = yaml.safe_load(source.read_text(encoding="utf-8")).get("evals", {}).get("suite")
    files = {directory / "curriculum.yaml": source}
    if suite:
        files[directory / suite] = source.parent / suite
    in_the_way = [str(p) for p in files if p.exists()]
    if in_the_way and not force:
        _fail(f"{in_the_way[0]} exists already; pass --force to replace it")
    try:
        for target, origin in files.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(origin.read_text(encoding="utf-8"), encoding="utf-8")
    except OSError as exc:
        _fail(f"{directory}: cannot write the starter files ({exc.strerror or exc})")
    console.print(f"wrote {', '.join(str(p) for p in files)}\n"
                  f"edit it, then: handhold train {directory / 'curriculum.yaml'} --out runs/mine")

