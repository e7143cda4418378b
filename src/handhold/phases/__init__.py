"""Reading curves with numbers: change points, trend labels, shocks, divergence, grokking, readiness.

Modules: ``prepare`` (bin, noise, spikes), ``segment`` (change points, a ruptures cost),
``trends``, ``shocks``, ``divergence``, ``grokking``, ``indicator``, ``readiness`` (the online
plateau rule the curriculum uses), ``sources`` (run directory, CSV, TensorBoard), ``registry``
(the detectors that add a section to the document; ``spec``: what an entry declares),
``document`` (the document's type), ``analyze`` (the whole document), ``command``
(``handhold analyze``), ``synthetic`` (labeled curves for scoring).

The names below load lazily, so the trainer can use ``readiness`` without importing ruptures.
"""

from __future__ import annotations

from typing import Any

_LAZY = {"analyze": "analyze", "analyze_metric": "analyze", "analyze_store": "analyze",
         "load_source": "sources", "SourceError": "sources", "Segmenter": "segment",
         "GrokkingDetector": "grokking", "PlateauDetector": "readiness", "infer_direction": "direction"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
