"""Every recipe as published: optimizers (Adam's decay is L2, Muon on hidden matrices only),
Grokfast's task (x*y, y != 0, 5-token equations), Power's decoder, passes that keep the last batch."""

import pytest
import torch

from handhold.config import ConfigError
from handhold.grok.config import OptimSpec, load_grok_config
from handhold.grok.curricula import Stage
from handhold.grok.decoder import PowerDecoder
from handhold.grok.model import GrokTransformer
from handhold.grok.optim import build_optimizer, muon_split
from handhold.grok.presets import preset
from handhold.grok.tasks import make_task
from handhold.grok.train import _Batches, build_model


def _one_step(name, wd, lr=0.1):
    p = torch.nn.Parameter(torch.ones(3))
    opt, _ = build_optimizer(OptimSpec(name=name, lr=lr, weight_decay=wd, warmup_steps=0), [p])
    p.grad = torch.zeros(3)
    opt.step()
    return p.detach()


def test_adam_decay_is_l2_in_the_gradient_and_adamw_decouples_it():
    # zero loss gradient: Adam sees g = wd * p and takes a full normalised step of lr;
    # AdamW shrinks p by lr * wd and takes no Adam step
    assert torch.allclose(_one_step("adam", 0.01), torch.full((3,), 0.9), atol=1e-5)
    assert torch.allclose(_one_step("adamw", 0.01), torch.full((3,), 1 - 0.1 * 0.01))
    assert torch.allclose(_one_step("sgd", 0.01), torch.full((3,), 1 - 0.1 * 0.01))  # plain SGD: lr * wd * p


@pytest.mark.parametrize("arch", ["fast", "decoder"])
def test_muon_takes_the_hidden_matrices_and_adamw_the_rest(arch):
    torch.manual_seed(0)
    model = (PowerDecoder(9, n_layers=1, d_model=16, n_heads=2, d_mlp=32) if arch == "decoder" else
             GrokTransformer(9, 7, d_model=16, n_heads=2, d_mlp=32))
    hidden, rest = muon_split(model)
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(p.ndim == 2 for p in hidden) and len(hidden) >= 3
    assert {"W_E", "W_U", "token_embeddings.weight", "head.weight"} & {names[id(p)] for p in rest}
    assert not {"W_E", "W_U", "token_embeddings.weight", "head.weight"} & {names[id(p)] for p in hidden}
    opt, sched = build_optimizer(OptimSpec(name="muon", weight_decay=0.0, warmup_steps=0), model)
    before = [p.detach().clone() for p in hidden]
    tokens = torch.randint(0, 7, (32, 4 if arch == "decoder" else 3))
    model(tokens).logsumexp(-1).mean().backward()
    grad = hidden[0].grad.clone()
    opt.step()
    sched.step()
    # Muon's update is an orthogonalised gradient: its leading singular values are flattened
    s = torch.linalg.svdvals(hidden[0].detach() - before[0])[:6]
    g = torch.linalg.svdvals(grad)[:6]
    assert s.max() / s.min() < 1.6 and s.max() / s.min() < g.max() / g.min() / 2
    assert len(sched.get_last_lr()) == 2


def test_grokfast_task_is_x_times_y_with_y_nonzero_as_five_token_equations():
    t = make_task("mul", 97, 0.5, seed=0, format="a op b =", nonzero_b=True)
    assert t.tokens.shape == (97 * 96, 4) and int(t.is_train.sum()) == 97 * 96 // 2
    assert bool((t.b != 0).all()) and bool((t.labels == t.a * t.b % 97).all())
    assert t.vocab == 99 and bool((t.tokens[:, 1] == 98).all()) and bool((t.tokens[:, 3] == 97).all())
    assert torch.equal(t.tokens[:, 0], t.a) and torch.equal(t.tokens[:, 2], t.b)
    three = make_task(["add", "mul"], 5, 0.5, seed=0)  # the lab's own layout is unchanged
    assert three.tokens.shape[1] == 3 and three.vocab == 7 and int(three.tokens[:, 2].max()) == 6


def test_power_decoder_is_grokfasts_size_and_its_fast_path_matches_the_textbook_one():
    torch.manual_seed(0)
    m = PowerDecoder(99)  # 2 layers, width 128, 4 heads, d_mlp 512, five positions
    per_layer = 4 * 128 + (3 * 128 * 128 + 3 * 128) + (128 * 128 + 128) + (128 * 512 + 512) + (512 * 128 + 128)
    assert sum(p.numel() for p in m.parameters()) == 99 * 128 + 5 * 128 + 2 * per_layer + 2 * 128 + 128 * 99
    tokens = make_task("mul", 97, 0.5, seed=0, format="a op b =", nonzero_b=True).tokens[:64]
    torch.testing.assert_close(m(tokens), m.forward_full(tokens)[:, -1], atol=1e-5, rtol=1e-5)
    assert m(tokens).shape == (64, 99)


def test_presets_carry_the_published_flags():
    gf = load_grok_config(data=preset("grokfast"))
    runs = {r.variant: r for r in gf.runs()}
    assert set(runs) == {"baseline", "grokfast-ema", "grokfast-ma"}
    ema, ma, base = runs["grokfast-ema"], runs["grokfast-ma"], runs["baseline"]
    assert (ema.optim.name, ema.optim.weight_decay, ema.grokfast.alpha, ema.grokfast.amplification) == \
        ("adam", 0.005, 0.98, 2.0)
    assert (ma.optim.weight_decay, ma.grokfast.window, ma.grokfast.amplification) == (0.01, 100, 5.0)
    assert base.grokfast is None and base.optim.weight_decay == 0.0 and base.train.batch == 512
    assert ema.task.ops == ["mul"] and ema.task.format == "a op b =" and ema.task.nonzero_b
    task = make_task("mul", 97, 0.5, 0, format="a op b =", nonzero_b=True)
    assert isinstance(build_model(ema, task), PowerDecoder)
    power = load_grok_config(data=preset("power")).runs()[0]
    assert (power.model.arch, power.model.layers, power.optim.name, power.optim.weight_decay) == \
        ("decoder", 2, "adamw", 1.0)


def test_three_token_model_refuses_five_token_equations():
    with pytest.raises(ConfigError, match="arch 'fast' reads 3-token inputs"):
        load_grok_config(data={"task": {"format": "a op b ="}})


def test_grokfast_warmup_starts_at_zero():
    _, sched = build_optimizer(OptimSpec(warmup_steps=10, warmup_from_zero=True), [torch.nn.Parameter(torch.ones(1))])
    assert sched.get_last_lr()[0] == 0.0
    _, sched = build_optimizer(OptimSpec(warmup_steps=10), [torch.nn.Parameter(torch.ones(1))])
    assert sched.get_last_lr()[0] == pytest.approx(1e-4)


def test_passes_keep_the_smaller_last_batch_when_asked():
    task = make_task("add", 5, 0.4, seed=0)  # 10 training pairs
    stage = Stage("all", 0, task.train_idx, {})
    for keep, sizes in ((True, [4, 4, 2, 4, 4, 2]), (False, [4, 4, 4, 4])):
        b = _Batches(task, stage, 4, torch.Generator().manual_seed(0), keep_last=keep)
        got = [len(b.next()[1]) for _ in sizes]
        assert got == sizes
    b = _Batches(task, stage, 4, torch.Generator().manual_seed(0), keep_last=True)
    seen = torch.cat([b.next()[0] for _ in range(3)])
    assert len({tuple(r) for r in seen.tolist()}) == 10  # one pass: every pair once
