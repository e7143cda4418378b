"""A griffe extension: handhold's reST-flavoured docstrings read as Markdown on the API pages.

handhold's docstrings are written for ``help()`` and doctest: ``>>>`` examples, ``::`` before an
indented literal block, ``:func:`name``` roles, ``double backticks``. Markdown would show an
example as nested block quotes and a role as its raw text, so before mkdocstrings renders a
docstring this fences each doctest block as ``pycon``, turns ``::`` into ``:`` (the indented
block after it already reads as code) and a role into inline code. The docstrings themselves
stay as they are (the doctests run from them).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|data|attr|obj|exc|const):`~?\.?([^`]+)`")


def markdown(text: str) -> str:
    """The docstring ``text`` with doctest blocks fenced and reST roles as inline code.

    >>> print(markdown("Use :func:`~handhold.rules.cap`::"))
    Use `handhold.rules.cap`:
    """
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + "```pycon")
            while i < len(lines) and lines[i].strip():
                out.append(lines[i])
                i += 1
            out.append(indent + "```")
            continue
        line = ROLE.sub(lambda m: f"`{m.group(1)}`", line)
        if line.rstrip().endswith("::"):
            line = line.rstrip()[:-1]
        out.append(line)
        i += 1
    return "\n".join(out)


class RestDocstrings(griffe.Extension):
    """Rewrite each docstring with :func:`markdown` once griffe has read it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
