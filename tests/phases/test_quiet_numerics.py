"""handhold's numerics raise no RuntimeWarning: a warning in a phase fit leaks into the output of
every command that analyses a run (train, analyze, report), so the suite treats one as an error."""

import warnings

import numpy as np
import pytest

from handhold.phases.analyze import analyze, analyze_metric
from handhold.phases.segment import DeceleratingCost


def test_a_runtime_warning_raised_from_a_handhold_module_fails_the_suite():
    # pyproject's filterwarnings: error::RuntimeWarning:handhold
    with pytest.raises(RuntimeWarning):
        warnings.warn_explicit("0/0", RuntimeWarning, "segment.py", 1, module="handhold.phases.segment")


@pytest.mark.parametrize("n", [1, 2, 3])
def test_the_cost_of_a_few_points_has_only_finite_shapes(n):
    cost = DeceleratingCost().fit(np.arange(n, dtype=float))
    assert np.isfinite(cost.table).all()
    assert cost.error(0, n) == pytest.approx(0.0, abs=1e-12)  # a straight line: no misfit


@pytest.mark.parametrize("values", [[0.7], [1.0, 1.0], [0.0] * 5, [2.0, 1.0, 0.5, 0.25]])
def test_a_metric_logged_once_or_flat_is_analysed_without_a_warning(values):
    steps = [10 * (i + 1) for i in range(len(values))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning at all, from any module
        result = analyze_metric("eval/loss/physics", steps, values)
        doc = analyze({"eval/loss/physics": (steps, values), "train/acc": (steps, [0.5] * len(values)),
                       "val/acc": (steps, [0.1] * len(values))}, stage_switches=steps[:1])
    assert result.segments and doc
