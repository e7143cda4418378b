"""The terminal, for every command: the one way out on a user error (one red line on stderr,
exit code 2, no traceback) and quiet third-party libraries.

Command modules import these from here, not from ``handhold.cli``: the CLI imports every
command module to register it, so importing it back would be an import cycle.
"""

from __future__ import annotations

import os
from typing import NoReturn

import typer
from rich.console import Console

USER_ERROR = 2


def fail(message: str, code: int = USER_ERROR) -> NoReturn:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def quiet_libraries() -> None:
    """Keep the terminal for handhold's own output (HF progress bars, one-time warnings)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
