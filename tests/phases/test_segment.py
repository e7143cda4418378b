"""Change points and trend labels, scored on labeled synthetic curves (as ruptures scores its own)."""

from __future__ import annotations

import numpy as np
import pytest

from handhold.phases.analyze import analyze_metric
from handhold.phases.segment import Segmenter
from handhold.phases.synthetic import f1, labeled_suite, match, null_curve, piecewise


@pytest.fixture(scope="module")
def scored():
    """Every family at lengths 50..10,000 and three noise levels, scored at a 3% margin."""
    counts, trends, nulls = [0, 0, 0], [0, 0], [0, 0]
    for c in labeled_suite(seed=7, lengths=(50, 200, 1000, 10_000), per_cell=1):
        res = analyze_metric(c.name, c.steps, c.values, switches=c.switches, direction=c.direction)
        found = [s for s in res.changepoints if s not in c.switches]
        tp = match(c.breaks, found, max(2.0, 0.03 * c.length))
        counts = [counts[0] + tp, counts[1] + len(found) - tp, counts[2] + len(c.breaks) - tp]
        if c.family.startswith("null"):
            nulls = [nulls[0] + (not found), nulls[1] + 1]
        for start, end, trend in c.phases:
            seg = next(s for s in res.segments if s.start <= (start + end) / 2 <= s.end)
            trends = [trends[0] + (seg.trend == trend), trends[1] + 1]
    return f1(*counts), trends[0] / trends[1], nulls[0] / nulls[1]


def test_change_point_f1_on_the_labeled_suite(scored):
    (precision, recall, score), _, _ = scored
    assert score >= 0.9, (precision, recall)


def test_trend_accuracy_on_the_labeled_suite(scored):
    assert scored[1] >= 0.9


def test_nothing_found_on_null_curves(scored):
    assert scored[2] >= 0.9


@pytest.mark.parametrize("n", [200, 5000, 100_000])
def test_power_law_learning_curve_is_one_declining_phase(n):
    t = np.arange(1, n + 1, dtype=float)
    loss = 1.5 + 4 * t ** -0.4 + 0.01 * np.random.default_rng(n).standard_normal(n)
    res = analyze_metric("train/loss", t, loss, direction="lower")
    assert res.changepoints == []
    assert [s.trend for s in res.segments] == ["declining"] and res.segments[0].slope < 0


def test_rise_then_plateau_is_two_phases_and_the_plateau_is_mastery():
    t = np.arange(0, 2000, 2, dtype=float)
    acc = np.minimum(t / 800, 1.0) * 0.9 + 0.02 * np.random.default_rng(1).standard_normal(len(t))
    res = analyze_metric("eval/acc", t, acc, direction="higher")
    (cp,) = res.changepoints
    assert abs(cp - 800) <= 60
    assert [(s.trend, s.mastery) for s in res.segments] == [("rising", False), ("plateau", True)]
    # the same shape for a metric whose direction is unknown: labels, but no judgement
    res = analyze_metric("eval/widgets", t, acc)
    assert [(s.trend, s.mastery) for s in res.segments] == [("rising", False), ("plateau", False)]


def test_known_switches_are_fixed_breaks_and_segments_are_contiguous():
    rng = np.random.default_rng(3)
    c = null_curve(rng, 3000, 0.02, "power")
    res = analyze_metric("x", c.steps, c.values, switches=[1234])
    assert 1234 in res.changepoints
    assert all(a.end == b.start for a, b in zip(res.segments, res.segments[1:]))
    assert res.segments[0].start == 0 and res.segments[-1].end == 2999


def test_segmenter_is_an_estimator_with_online_updates():
    rng = np.random.default_rng(5)
    c = piecewise(rng, 400, 0.01, jumps=True)
    batch = Segmenter().fit(c.steps, c.values).predict()
    online = Segmenter()
    for s, v in zip(c.steps, c.values):
        online.update(s, v)
    assert online.predict() == batch
    assert match(c.breaks, batch, 12) == len(c.breaks) == len(batch)
    # penalty is the knob: a much higher price finds fewer breaks
    assert len(Segmenter(penalty=1e6, floor=0.5).fit(c.steps, c.values).predict()) < len(batch)
