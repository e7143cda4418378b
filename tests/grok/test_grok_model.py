import math

import pytest
import torch

from handhold.grok.model import GrokTransformer, loss_fn
from handhold.grok.tasks import make_task


@pytest.mark.parametrize("layers, layernorm, act", [(1, False, "relu"), (2, True, "gelu"), (3, False, "relu")])
def test_fast_path_equals_every_position_computation(layers, layernorm, act):
    torch.manual_seed(0)
    t = make_task(["add", "sub"], 13, 0.5, seed=0)
    m = GrokTransformer(t.vocab, t.p, n_layers=layers, d_model=32, n_heads=4, d_mlp=64, act=act,
                        layernorm=layernorm)
    x, y = t.tokens, t.labels
    fast = m(x)
    full = m.forward_full(x)[:, -1]
    assert fast.shape == (len(x), t.p)
    torch.testing.assert_close(fast, full, atol=1e-5, rtol=1e-5)
    g_fast = torch.autograd.grad(loss_fn(fast, y), list(m.parameters()))
    g_full = torch.autograd.grad(loss_fn(m.forward_full(x)[:, -1], y), list(m.parameters()))
    for (name, _), a, b in zip(m.named_parameters(), g_fast, g_full):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)


def test_nanda_initialisation_scale_and_knob():
    torch.manual_seed(0)
    m = GrokTransformer(115, 113)
    assert m.blocks[0].W_in.shape == (128, 512) and m.W_U.shape == (128, 113)
    assert abs(float(m.W_E.detach().std()) - 1 / math.sqrt(128)) < 0.01
    assert abs(float(m.W_U.detach().std()) - 1 / math.sqrt(113)) < 0.01
    torch.manual_seed(0)
    big = GrokTransformer(115, 113, init_scale=3.0)
    torch.testing.assert_close(big.W_E, 3 * m.W_E)


def test_weight_norms_add_up_and_cache_holds_mlp_activations():
    m = GrokTransformer(9, 7, n_layers=2, d_model=16, n_heads=2, d_mlp=24)
    norms = m.weight_norms()
    assert set(norms) == {"embed", "layer0", "layer1", "unembed", "total"}
    direct = math.sqrt(sum(float(p.detach().pow(2).sum()) for p in m.parameters()))
    assert norms["total"] == pytest.approx(direct)
    assert norms["total"] == pytest.approx(math.sqrt(sum(v * v for k, v in norms.items() if k != "total")))
    cache = {}
    m(torch.tensor([[1, 2, 7], [3, 4, 7]]), cache=cache)
    assert cache["mlp_post"].shape == (2, 24) and (cache["mlp_post"] >= 0).all()
