"""ms per training step of handhold's grok model against a plain PyTorch reference of the same model.

The reference is the textbook decoder (nn.Embedding, nn.Linear, scaled_dot_product_attention,
the MLP at every position, the unembedding at the last one) holding the *same weights*; its logits
are checked against handhold's before timing. One step = forward, float64 cross-entropy, backward,
AdamW step, on the full training set (minibatch 512 for the Power model). Both are timed in this
process, alternating blocks of steps, and the median block is reported: the ratio is what counts
on a shared machine.

    OMP_NUM_THREADS=1 python benchmarks/grok_step.py [--steps 20] [--repeats 5] [--settings quick,nanda,power]

Target: handhold / reference <= 1.05 (the last-position path makes it well below 1).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn

from handhold.grok.config import load_grok_config
from handhold.grok.model import GrokTransformer, loss_fn
from handhold.grok.presets import preset
from handhold.grok.tasks import make_task
from handhold.grok.train import train_run

SETTINGS = {  # name: (preset, batch)
    "quick": ("quick", None),
    "nanda": ("literature", None),
    "power": ("power", 512),
}


class Reference(nn.Module):
    """The plain every-position implementation, weights copied from a GrokTransformer."""

    def __init__(self, src: GrokTransformer) -> None:
        super().__init__()
        d = src.W_E.shape[1]
        self.tok = nn.Embedding.from_pretrained(src.W_E.detach().clone(), freeze=False)
        self.pos = nn.Parameter(src.W_pos.detach().clone())
        self.layers = nn.ModuleList()
        for b in src.blocks:
            layer = nn.Module()
            layer.n_heads = b.n_heads
            layer.qkv = nn.Linear(d, 3 * d, bias=False)
            layer.proj = nn.Linear(d, d, bias=False)
            layer.fc = nn.Linear(d, b.W_in.shape[1])
            layer.out = nn.Linear(b.W_in.shape[1], d)
            layer.ln1, layer.ln2, layer.act = _copy_norm(b.ln1), _copy_norm(b.ln2), b.act
            with torch.no_grad():
                layer.qkv.weight.copy_(torch.cat([b.W_Q, b.W_K, b.W_V], 1).T)
                layer.proj.weight.copy_(b.W_O.T)
                layer.fc.weight.copy_(b.W_in.T)
                layer.fc.bias.copy_(b.b_in)
                layer.out.weight.copy_(b.W_out.T)
                layer.out.bias.copy_(b.b_out)
            self.layers.append(layer)
        self.ln_f = _copy_norm(src.ln_f)
        self.head = nn.Linear(d, src.W_U.shape[1], bias=False)
        with torch.no_grad():
            self.head.weight.copy_(src.W_U.T)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        n, t = tokens.shape
        x = self.tok(tokens) + self.pos[:t]  # (N, T, d)
        for layer in self.layers:
            q, k, v = layer.qkv(layer.ln1(x)).split(x.shape[-1], dim=-1)
            q, k, v = (z.view(n, t, layer.n_heads, -1).transpose(1, 2) for z in (q, k, v))  # (N, h, T, e)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(n, t, -1)
            x = x + layer.proj(y)
            x = x + layer.out(layer.act(layer.fc(layer.ln2(x))))
        return self.head(self.ln_f(x[:, -1]))


def _copy_norm(m: nn.Module) -> nn.Module:
    if isinstance(m, nn.LayerNorm):
        new = nn.LayerNorm(m.normalized_shape)
        new.load_state_dict(m.state_dict())
        return new
    return nn.Identity()


def time_steps(model: nn.Module, batches, steps: int, lr: float) -> float:
    """ms per step over ``steps`` steps (forward, loss, backward, AdamW)."""
    opt = getattr(model, "_bench_opt", None)
    if opt is None:
        opt = model._bench_opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98),
                                                   weight_decay=1.0, foreach=True)
    t0 = time.perf_counter()
    for i in range(steps):
        x, y = batches[i % len(batches)]
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps * 1000


def bench(name: str, steps: int, repeats: int) -> tuple[float, float]:
    preset_name, batch = SETTINGS[name]
    spec = load_grok_config(data=preset(preset_name)).runs()[0]
    task = make_task(spec.task.ops, spec.task.p, spec.task.train_frac, seed=0)
    torch.manual_seed(0)
    m = spec.model
    ours = GrokTransformer(task.vocab, task.p, n_layers=m.layers, d_model=m.d_model, n_heads=m.heads,
                           d_mlp=m.d_mlp, act=m.act, layernorm=m.layernorm)
    ref = Reference(ours)
    rows = task.train_idx
    if batch is None:
        batches = [(task.tokens[rows], task.labels[rows])]
    else:
        g = torch.Generator().manual_seed(0)
        batches = [(task.tokens[idx], task.labels[idx])
                   for idx in (rows[torch.randperm(len(rows), generator=g)[:batch]] for _ in range(8))]
    with torch.no_grad():
        torch.testing.assert_close(ours(batches[0][0]), ref(batches[0][0]), atol=1e-4, rtol=1e-4)
    for model in (ours, ref):  # warm-up
        time_steps(model, batches, 3, spec.optim.lr)
    a, b = [], []
    for _ in range(repeats):
        a.append(time_steps(ours, batches, steps, spec.optim.lr))
        b.append(time_steps(ref, batches, steps, spec.optim.lr))
    ms_ours, ms_ref = statistics.median(a), statistics.median(b)
    print(f"{name:6s} p={task.p:<3d} layers={m.layers} d_model={m.d_model:<3d} batch={len(batches[0][1]):>5d}  "
          f"handhold {ms_ours:7.2f} ms/step   reference {ms_ref:7.2f} ms/step   ratio {ms_ours / ms_ref:.3f}",
          flush=True)
    return ms_ours, ms_ref


def lab_loop(steps: int) -> None:
    """The whole lab loop (evals every 10 steps, log-spaced measures, store writes) on the quick
    preset, per step, against the bare model step above: what the bookkeeping costs."""
    spec = load_grok_config(data=preset("quick"),
                            overrides=[f"train.budget.samples={480 * steps}", "train.stop_at_val=null"]).runs()[0]
    with tempfile.TemporaryDirectory() as tmp:
        train_run(spec, 0, tmp)  # warm-up (first AdamW imports torch._dynamo)
        r = train_run(spec, 0, tmp + "/again")
    print(f"lab    quick preset, full loop with evals, measures and the run store: "
          f"{r.seconds / r.steps * 1000:.2f} ms/step over {r.steps} steps")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--settings", default="quick,nanda,power")
    ap.add_argument("--lab-steps", type=int, default=500, help="0: skip the lab-loop line")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); median of {args.repeats} "
          f"blocks of {args.steps} steps, alternating")
    ratios = []
    for name in args.settings.split(","):
        ours, ref = bench(name.strip(), args.steps, args.repeats)
        ratios.append(ours / ref)
    if args.lab_steps:
        lab_loop(args.lab_steps)
    worst = max(ratios)
    print(f"worst ratio {worst:.3f} (target <= 1.05): {'OK' if worst <= 1.05 else 'MISSED'}")


if __name__ == "__main__":
    main()
