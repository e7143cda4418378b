"""What every source shares: the item it yields, the cursor-addressed interface, the held-out rule.

A source is addressed by a *cursor* (an int), never by hidden iterator state, so that the
sampler's checkpoint is a handful of integers and a resumed run reads the very same
examples. Held-out membership is decided by a stable hash of the example itself, so the two
splits never share an example, whatever the seed.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any


class DataError(ValueError):
    """Data that cannot be used; the message names the source or the file (and line or row)."""


@dataclass(frozen=True)
class Item:
    source: str
    text: str
    meta: Any = None  # the procedural Example (for scorers), or a row's chat messages


def is_heldout(key: str, fraction: float) -> bool:
    """Whether the example whose text (or canonical form) is ``key`` is held out."""
    return zlib.crc32(key.encode("utf-8")) % 10_000 < fraction * 10_000


class Source:
    """Base: ``draw(split, cursor) -> (item, next_cursor)``; cursors start at 0."""

    name: str

    def draw(self, split: str, cursor: int) -> tuple[Item, int]:
        raise NotImplementedError

    def heldout(self, n: int) -> list[Item]:
        """The first ``n`` held-out items: a fixed evaluation set."""
        items, cursor = [], 0
        for _ in range(n):
            item, cursor = self.draw("heldout", cursor)
            items.append(item)
        return items
