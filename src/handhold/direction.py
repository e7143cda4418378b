"""Which way is better for a metric, read from its name: losses fall, accuracies rise.

On the ground floor with no imports of its own: the config validates readiness rules with it,
the exit rules read their mode from it, and the phase detectors orient curves with it.
"""

from __future__ import annotations

import re

LOWER = ("loss", "nll", "perplexity", "ppl", "error", "err", "mse", "mae", "rmse", "bpb", "bpc",
         "wer", "cer", "regret", "distance")
HIGHER = ("acc", "accuracy", "score", "f1", "exact", "em", "match", "bleu", "rouge", "reward", "auc",
          "precision", "recall", "validity", "coherence", "correct", "pass", "win", "return", "format")
# handhold's aggregate scores (gauntlet-centred: 0 = chance, 1 = perfect) live under these prefixes
HIGHER_PREFIXES = ("eval/family/", "eval/category/")


def infer_direction(key: str) -> str | None:
    """``"lower"`` or ``"higher"`` (which is better) from the words in ``key``, else ``None``.

    The last path part that names a known word wins, so ``eval/physics/answer_acc`` is
    ``higher`` and ``train/loss/physics`` is ``lower``.

    >>> infer_direction("eval/loss/physics"), infer_direction("val_acc"), infer_direction("train/lr")
    ('lower', 'higher', None)
    >>> infer_direction("eval/family/reasoning"), infer_direction("eval/physics/format")
    ('higher', 'higher')
    """
    if key.lower().startswith(HIGHER_PREFIXES):
        return "higher"
    for part in reversed([p for p in re.split(r"[/.:]", key.lower()) if p]):
        words = [w for w in re.split(r"[^a-z0-9]+", part) if w]
        for word in reversed(words):
            if word in LOWER or word.endswith("loss"):
                return "lower"
            if word in HIGHER or word.endswith("acc"):
                return "higher"
    return None


def normalize_mode(mode: str | None) -> str | None:
    """``min``/``lower`` -> ``lower``; ``max``/``higher`` -> ``higher``; ``auto``/None -> None."""
    if mode is None or mode == "auto":
        return None
    table = {"min": "lower", "lower": "lower", "max": "higher", "higher": "higher"}
    if mode not in table:
        raise ValueError(f"mode must be min, max or auto (got {mode!r})")
    return table[mode]
