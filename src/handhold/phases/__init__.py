"""Reading curves with numbers: change points, trend labels, shocks, divergence, grokking, readiness.

Modules: ``prepare`` (bin, noise, spikes), ``segment`` (change points, a ruptures cost),
``trends``, ``shocks``, ``divergence``, ``grokking``, ``indicator``, ``noise`` (benchmark changes
against their documents' sampling noise), ``essay`` (the essay's table), ``sources`` (run
directory, CSV, TensorBoard), ``registry``
(the detectors that add a section to the document; ``spec``: what an entry declares),
``document`` (the document's type), ``analyze`` (the whole document), ``command``
(``handhold analyze``), ``synthetic`` (labeled curves for scoring).

The names below load lazily, so ``import handhold.phases`` costs nothing until one is used. The
whole-series function is ``handhold.phases.analyze.analyze`` (the submodule ``analyze`` takes the
package attribute of that name once it is imported).
"""

from __future__ import annotations

from typing import Any

_LAZY = {"analyze_metric": "analyze", "analyze_store": "analyze", "load_source": "sources",
         "SourceError": "sources", "Segmenter": "segment", "GrokkingDetector": "grokking"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
