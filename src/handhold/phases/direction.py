"""Which way is better for a metric, as the phase detectors read it: see :mod:`handhold.direction`.

The functions live on the ground floor, where the exit rules and the config use them too.
"""

from __future__ import annotations

from ..direction import HIGHER, HIGHER_PREFIXES, LOWER, infer_direction, normalize_mode

__all__ = ["HIGHER", "HIGHER_PREFIXES", "LOWER", "infer_direction", "normalize_mode"]
