"""A mkdocs hook: the site's home page is the README, so the front page is written once.

``docs/index.md`` holds only ``<!-- readme -->``; at build time it becomes README.md with its
links into ``docs/`` made relative to the site (``docs/curricula.md`` -> ``curricula.md``). A
strict build then checks the README's links too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MARKER = "<!-- readme -->"


def front_page(readme: str) -> str:
    """README text with its ``docs/`` links and images relative to the docs directory.

    >>> front_page("[Phases](docs/phases.md) ![x](docs/images/a.png)")
    '[Phases](phases.md) ![x](images/a.png)'
    """
    return readme.replace("](docs/", "](")


def on_page_markdown(markdown: str, page: Any, config: Any, **kwargs: Any) -> str:
    if MARKER not in markdown:
        return markdown
    readme = Path(config["config_file_path"]).parent / "README.md"
    return markdown.replace(MARKER, front_page(readme.read_text(encoding="utf-8")))
