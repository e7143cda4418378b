"""Print how often the paired test calls a change, and how often its 95% intervals cover the truth,
on the seeded synthetic histories of ``tests/phases/test_noise_truth.py`` (the README's figures).

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/noise_truth.py

Two histories over the same documents (one task of a two-task family): a real +10-point paired
improvement (0.60 -> 0.70) and pure resampling noise (0.60 -> 0.60), at 32 and 500 documents,
200 draws each; a change is "rising" only where its paired interval clears zero.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "phases"))
import test_noise_truth as T  # noqa: E402

from handhold.doc_scores import paired  # noqa: E402


def main() -> None:
    for truth in ("real", "noise"):
        for n in (32, 500):
            rng = np.random.default_rng(1000 + n + (truth == "real"))
            joint = T.REAL if truth == "real" else T.NOISE
            words, cov, fcov, widths = [], 0, 0, []
            for _ in range(T.SIMS):
                (b1, a1), (b2, a2) = T._pairs(rng, joint, n), T._pairs(rng, joint, n)
                before = T._event(0, {"t1": ("reasoning", b1), "t2": ("reasoning", b2)})
                after = T._event(10, {"t1": ("reasoning", a1), "t2": ("reasoning", a2)})
                c = paired(before, after, "eval/t1/acc", draws=400, seed=int(rng.integers(1 << 30)))
                words.append(T.reading(c))
                cov += c.lo <= T.TRUTH[truth] <= c.hi
                widths.append(c.half_width)
                f = paired(before, after, "eval/family/reasoning", draws=400, seed=int(rng.integers(1 << 30)))
                fcov += f.lo <= T.TRUTH[truth] / 0.75 <= f.hi
            print(f"truth={truth:5s} n={n:3d}: rising {words.count('rising') / T.SIMS:.1%}, declining "
                  f"{words.count('declining') / T.SIMS:.1%}, task interval covers the truth {cov / T.SIMS:.1%} "
                  f"(mean ±{np.mean(widths):.3f}), family interval covers {fcov / T.SIMS:.1%}")


if __name__ == "__main__":
    main()
