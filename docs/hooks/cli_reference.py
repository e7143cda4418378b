"""A mkdocs hook: the CLI page's ``<!-- cli-reference -->`` becomes the reference of every
``handhold`` command, generated at build time from the typer app itself.

The typer app is turned into its click command (``typer.main.get_command``; typer may bring its
own copy of click, so the walk reads the objects by their attributes) and walked: each
command gets a heading, its help, its usage line and a table of its arguments and options. So
the page cannot drift from the code, and the build needs nothing but the installed package.
"""

from __future__ import annotations

import html
from typing import Any

MARKER = "<!-- cli-reference -->"


def cli() -> Any:
    """The ``handhold`` command as click sees it."""
    import typer.main

    from handhold.cli import app

    return typer.main.get_command(app)


def _context(cmd: Any, info_name: str) -> Any:
    return cmd.context_class(cmd, info_name=info_name)


def _rows(cmd: Any, ctx: Any, kind: str) -> list[str]:
    """One bullet per argument or option: click's own help record (names, help, default)."""
    rows = []
    for param in cmd.get_params(ctx):
        record = param.get_help_record(ctx) if param.param_type_name == kind else None
        if record is not None and record[0] != "--help":
            names, help_text = record
            text = html.escape(" ".join(help_text.split()), quote=False)
            rows.append(f"- `{names}`" + (f": {text}" if text else ""))
    return rows


def command_markdown(cmd: Any, path: list[str], level: int = 2) -> list[str]:
    """Markdown for ``cmd`` (invoked as ``path``) and, for a group, every subcommand below it."""
    ctx = _context(cmd, " ".join(path))
    out = [f"{'#' * level} `{' '.join(path)}`", ""]
    if cmd.help:
        out += [html.escape(cmd.help.strip(), quote=False), ""]
    usage = " ".join(cmd.collect_usage_pieces(ctx))
    out += ["```text", f"{' '.join(path)} {usage}".rstrip(), "```", ""]
    for kind, title in (("argument", "Arguments"), ("option", "Options")):
        rows = _rows(cmd, ctx, kind)
        if rows:
            out += [f"**{title}**", "", *rows, ""]
    if hasattr(cmd, "list_commands"):  # a group: its commands one heading level down
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                out += command_markdown(sub, [*path, name], level + 1)
    return out


def reference() -> str:
    """The whole reference: the top-level options, then each command in the app's order."""
    root = cli()
    ctx = _context(root, "handhold")
    out: list[str] = []
    for name in root.list_commands(ctx):
        sub = root.get_command(ctx, name)
        if sub is not None and not sub.hidden:
            out += command_markdown(sub, ["handhold", name])
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, reference())
