"""Progress measures on inputs whose Fourier structure is known by construction."""

import math

import pytest
import torch

from handhold.grok.measures import (fourier_basis, freq_norms, gini, key_frequencies, neuron_frequencies,
                                    progress_measures, restricted_and_excluded_loss)
from handhold.grok.model import GrokTransformer
from handhold.grok.tasks import make_task


def wave(k: int, p: int) -> torch.Tensor:
    return 2 * math.pi * k * torch.arange(p, dtype=torch.float64) / p


def test_fourier_basis_is_orthonormal():
    f = fourier_basis(13)
    torch.testing.assert_close(f @ f.T, torch.eye(13, dtype=torch.float64))


def test_freq_norms_and_gini_find_the_frequencies_of_a_known_embedding():
    p = 23
    w = torch.zeros(p, 6, dtype=torch.float64)
    w[:, 0], w[:, 1], w[:, 2] = torch.cos(wave(3, p)), torch.sin(wave(3, p)), 2 * torch.cos(wave(7, p))
    norms = freq_norms(w)
    assert norms.shape == (12,)
    assert {int(k) for k in (norms > 1e-9).nonzero().flatten()} == {3, 7}
    assert norms[7] == pytest.approx(2 * norms[3] / math.sqrt(2))  # one unit cos+sin pair vs 2 cos
    assert gini(torch.ones(11)) == pytest.approx(0.0)
    assert gini(torch.tensor([0.0] * 10 + [5.0])) == pytest.approx(10 / 11)
    assert gini(norms[1:]) > 0.8


def test_neuron_frequencies_and_key_frequencies():
    p = 17
    a, b = wave(5, p)[:, None], wave(5, p)[None, :]
    c, d = wave(2, p)[:, None], wave(2, p)[None, :]
    acts = torch.stack([torch.cos(a + b), torch.sin(a) * torch.cos(b) + 0.1, torch.cos(c) + torch.cos(d),
                        torch.cos(c + d) + 0.2 * torch.cos(wave(7, p))[:, None]], -1)  # (p, p, 4)
    freq, frac = neuron_frequencies(acts)
    assert freq.tolist() == [5, 5, 2, 2]
    assert frac[:3].tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert 0.9 < float(frac[3]) < 1.0  # 0.2 cos(w_7 a) is not frequency 2
    assert key_frequencies(freq, frac, neuron_frac=0.5, min_neurons=0.5) == [2, 5]
    assert key_frequencies(freq, frac, neuron_frac=0.99, min_neurons=0.5) == [5]


def test_restricted_and_excluded_loss_on_logits_built_from_key_frequencies():
    p = 19
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    s = (a + b).flatten()
    c = torch.arange(p)
    logits = sum(4 * torch.cos(2 * math.pi * k * (s[:, None] - c[None, :]).double() / p) for k in (3, 8))
    labels = s % p
    train = torch.rand(p * p, generator=torch.Generator().manual_seed(0)) < 0.3
    full_loss = float(torch.nn.functional.cross_entropy(logits.double(), labels))
    restricted, excluded = restricted_and_excluded_loss(logits, labels, train, [3, 8])
    assert restricted == pytest.approx(full_loss, abs=1e-9)  # the key frequencies are everything
    assert excluded == pytest.approx(math.log(p), abs=1e-9)  # nothing is left without them
    partial_r, partial_e = restricted_and_excluded_loss(logits, labels, train, [3])
    assert full_loss < partial_r < math.log(p) and full_loss < partial_e < math.log(p)
    assert restricted_and_excluded_loss(logits, labels, train, [])[0] == pytest.approx(math.log(p))


def hand_built(p: int, freqs: tuple[int, int]) -> GrokTransformer:
    """Embedding made of two frequencies; uniform attention averages a, b and '='; every MLP neuron
    reads one frequency's cos/sin directions, so it responds to that frequency only."""
    t = make_task("add", p, 0.5, seed=0)
    m = GrokTransformer(t.vocab, p, d_model=8, n_heads=2, d_mlp=64)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for prm in m.parameters():
            prm.zero_()
        for j, k in enumerate(freqs):
            m.W_E[:p, 2 * j], m.W_E[:p, 2 * j + 1] = torch.cos(wave(k, p)), torch.sin(wave(k, p))
        block = m.blocks[0]
        block.W_V.copy_(torch.eye(8))
        block.W_O.copy_(torch.eye(8))
        for i in range(64):
            angle = float(torch.rand(1, generator=g)) * 2 * math.pi
            j = 2 * (i % 2)
            block.W_in[j, i], block.W_in[j + 1, i] = math.cos(angle), math.sin(angle)
        m.W_U.copy_(torch.randn(8, p, generator=g))
    return m, t


def test_progress_measures_on_a_hand_built_model():
    m, t = hand_built(23, (4, 9))
    metrics, event = progress_measures(m, t)
    assert event["key_freqs"] == [4, 9]
    assert event["neuron_counts"] == {"4": 32, "9": 32}
    assert set(event["embed_top_freqs"][:2]) == {4, 9}
    assert metrics["grok/measure/key_freqs"] == 2 and metrics["grok/measure/neurons_in_key_freqs"] == 1.0
    assert metrics["grok/measure/gini_embed"] == pytest.approx(1 - 2 / 11, abs=1e-6)
    assert metrics["grok/measure/weight_norm"] == pytest.approx(m.weight_norms()["total"])
    # a random model of the same shape has no key frequency and a flat embedding spectrum
    torch.manual_seed(0)
    rand_metrics, rand_event = progress_measures(GrokTransformer(t.vocab, 23, d_model=8, n_heads=2, d_mlp=64), t)
    assert rand_event["key_freqs"] == [] and rand_metrics["grok/measure/gini_embed"] < 0.4
    # measures need the add grid; other tasks get weight norms only
    only_norms, none = progress_measures(m, make_task("mul", 23, 0.5, seed=0))
    assert none == {} and "grok/measure/restricted_loss" not in only_norms
