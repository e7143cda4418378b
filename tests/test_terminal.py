"""The one error exit of every command: handhold.terminal.fail (one red line, exit 2)."""

from __future__ import annotations

import re
from pathlib import Path

import handhold

SRC = Path(handhold.__file__).parent


def test_no_module_imports_the_cli_back():
    """`cli` imports every command module to register it; a command module that imported `cli`
    (for its error exit) made a cycle. The exit lives in handhold.terminal."""
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name in ("cli.py", "__main__.py"):
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"from\s+\.+cli\s+import|import\s+handhold\.cli|from\s+handhold\.cli\s+import", text):
            offenders.append(str(path.relative_to(SRC)))
    assert offenders == []


def test_one_error_exit():
    """Every command module's error exit is handhold.terminal.fail (one red line, exit 2)."""
    from handhold import cli, terminal
    from handhold.evals import commands as evals_commands
    from handhold.views import commands as views_commands

    assert cli.fail is terminal.fail and evals_commands._fail is terminal.fail and views_commands._fail is terminal.fail
    defs = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
            if re.search(r"def _?fail\(", p.read_text(encoding="utf-8"))]
    assert defs == ["terminal.py"]
