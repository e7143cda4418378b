"""Grokfast filters against the formulas computed by hand (Lee et al. 2024, Algorithms 1 and 2)."""

from collections import deque

import pytest
import torch

from handhold.grok.grokfast import EMAFilter, MAFilter


def param_with_grads():
    p = torch.nn.Parameter(torch.zeros(2))
    return p


def test_ema_filter_matches_hand_computation():
    p = param_with_grads()
    f = EMAFilter([p], alpha=0.5, lamb=2.0)
    out = []
    for g in ([1.0, 2.0], [3.0, 0.0], [0.0, 4.0]):
        p.grad = torch.tensor(g)
        f()
        out.append(p.grad.tolist())
    # slow_1 = g1 = [1, 2]           -> g1 + 2 * [1, 2]   = [3, 6]
    # slow_2 = .5[1, 2] + .5[3, 0] = [2, 1]   -> [3, 0] + [4, 2] = [7, 2]
    # slow_3 = .5[2, 1] + .5[0, 4] = [1, 2.5] -> [0, 4] + [2, 5] = [2, 9]
    assert out == [[3.0, 6.0], [7.0, 2.0], [2.0, 9.0]]


def test_ma_filter_waits_for_a_full_window_then_adds_the_mean():
    p = param_with_grads()
    f = MAFilter([p], window=2, lamb=5.0)
    out = []
    for g in ([1.0, 0.0], [3.0, 2.0], [5.0, -2.0]):
        p.grad = torch.tensor(g)
        f()
        out.append(p.grad.tolist())
    # step 1: window not full -> unchanged; step 2: mean([1,0],[3,2]) = [2,1] -> [3,2] + 5[2,1] = [13, 7]
    # step 3: mean([3,2],[5,-2]) = [4,0] -> [5,-2] + [20, 0] = [25, -2]
    assert out == [[1.0, 0.0], [13.0, 7.0], [25.0, -2.0]]


def test_ma_filter_equals_a_naive_window_over_many_steps():
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.zeros(3, 4)), torch.nn.Parameter(torch.zeros(5))]
    f = MAFilter(params, window=7, lamb=5.0)
    windows = [deque(maxlen=7) for _ in params]
    for step in range(40):
        raw = [torch.randn_like(p) for p in params]
        for p, g in zip(params, raw):
            p.grad = g.clone()
        f()
        for p, g, w in zip(params, raw, windows):
            w.append(g)
            expected = g + 5.0 * sum(w) / len(w) if len(w) == 7 else g
            torch.testing.assert_close(p.grad, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind, lamb", [("ema", 2.0), ("ma", 5.0)])
def test_default_amplification_is_the_papers(kind, lamb):
    from handhold.grok.grokfast import GrokfastSpec

    assert GrokfastSpec(kind=kind).amplification == lamb
