"""The loop on a tiny model: learning, stage switches, NaN handling, capped runs and resume."""

from pathlib import Path

import pytest

import torch

from handhold.config import load_config
from handhold.runstore.db import RunStore
from handhold.train import checkpoint as ckpt
from handhold.train.events import Callback
from handhold.train.runner import resume, start


def run(config: Path, out: Path, overrides=(), **kw):
    return start(load_config(config, list(overrides)), out, progress=False, **kw)


def test_losses_fall_per_domain_and_stages_switch_on_budget(tiny_config, tmp_path):
    state = run(tiny_config(), tmp_path / "r", ["stages.0.until.steps=16", "stages.1.until.steps=16"])
    assert (state.status, state.step) == ("finished", 32)
    s = RunStore.reader(tmp_path / "r")
    for domain in ("general", "physics"):
        steps, values = s.series(f"eval/loss/{domain}")
        assert steps == [4, 8, 12, 16, 20, 24, 28, 32]
        assert values[-1] < values[0] - 0.5, (domain, values)
    # train loss per domain is logged only where the batch held that domain
    assert s.series("train/loss/physics")[0][0] == 17
    assert s.series("train/loss/general")[0][:16] == list(range(1, 17))
    starts = [(e.step, e.data["stage"]) for e in s.events("stage_start")]
    ends = [(e.step, e.data["stage"], e.data["reason"]) for e in s.events("stage_end")]
    assert starts == [(0, "general"), (16, "physics")]
    assert ends == [(16, "general", "budget"), (32, "physics", "budget")]
    assert s.get_meta("status") == "finished"
    assert [st for st, _ in ckpt.list_checkpoints(tmp_path / "r")] == [30, 32]  # keep=2
    assert (tmp_path / "r" / "config.yaml").is_file()


class PoisonAt(Callback):
    """Turns the weights to NaN before a given step, as a diverging run would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_batch_start(self, state):
        if state.step + 1 == self.step:
            with torch.no_grad():
                for p in state.model.parameters():
                    p.fill_(float("nan"))


def test_nan_loss_stops_cleanly_and_keeps_the_last_good_checkpoint(tiny_config, tmp_path):
    state = run(tiny_config(), tmp_path / "r", callbacks=[PoisonAt(8)])
    assert state.status == "failed" and "non-finite loss" in state.stop_reason
    s = RunStore.reader(tmp_path / "r")
    (nan,) = s.events("nan")
    assert nan.step == 8
    assert s.get_meta("status") == "failed"
    assert s.series("train/loss")[0] == list(range(1, 8))  # nothing logged for the bad step
    assert [st for st, _ in ckpt.list_checkpoints(tmp_path / "r")] == [5]
    assert s.events("fit_end")[-1].data["status"] == "failed"


@pytest.mark.parametrize("dropout", [0.0, 0.2])  # with dropout, the RNG state must resume too
def test_capped_run_resumed_equals_uninterrupted_run_bit_for_bit(tiny_config, tmp_path, dropout):
    model = {"arch": "gpt2", "config": {"n_layer": 1, "n_head": 2, "n_embd": 32, "resid_pdrop": dropout}}
    cfg = tiny_config(model=model)
    run(cfg, tmp_path / "full")
    capped = run(cfg, tmp_path / "part", ["train.max_steps=7"])
    assert capped.step == 7 and capped.status == "finished"
    resumed = resume(tmp_path / "part", progress=False, overrides=["train.max_steps=null"])
    assert resumed.step == 24
    full, part = RunStore.reader(tmp_path / "full"), RunStore.reader(tmp_path / "part")
    for key in ("train/loss", "train/loss/general", "train/loss/physics", "train/lr"):
        assert part.series(key) == full.series(key), key  # exact floats, each step once
    # the capped run also evaluated where the cap fell (step 7); otherwise identical
    steps, values = part.series("eval/loss/physics")
    assert steps[:2] == [4, 7]
    assert (steps[:1] + steps[2:], values[:1] + values[2:]) == full.series("eval/loss/physics")
    a = ckpt.checkpoint_dir(tmp_path / "full", 24) / "model.safetensors"
    b = ckpt.checkpoint_dir(tmp_path / "part", 24) / "model.safetensors"
    from safetensors.torch import load_file

    wa, wb = load_file(a), load_file(b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    kinds = [e.kind for e in part.events()]
    assert kinds.count("stage_start") == 2 and kinds.count("resume") == 1


def test_refuses_to_overwrite_a_run(tiny_config, tmp_path):
    import pytest

    from handhold.train.runner import RunDirError

    run(tiny_config(), tmp_path / "r", ["train.max_steps=2"])
    with pytest.raises(RunDirError, match="already holds a run"):
        run(tiny_config(), tmp_path / "r", ["train.max_steps=2"])


def test_gradient_accumulation_computes_the_same_steps(tiny_config, tmp_path):
    one = run(tiny_config(), tmp_path / "a", ["train.max_steps=8"])
    four = run(tiny_config(), tmp_path / "b", ["train.max_steps=8", "train.grad_accum=4"])
    assert one.step == four.step == 8
    a, b = RunStore.reader(tmp_path / "a"), RunStore.reader(tmp_path / "b")
    for key in ("train/loss", "train/loss/general", "train/grad_norm", "eval/loss/physics"):
        (sa, va), (sb, vb) = a.series(key), b.series(key)
        assert sa == sb
        assert va == pytest.approx(vb, rel=1e-5), key


def test_batch_must_split_over_micro_batches(tiny_config, tmp_path):
    with pytest.raises(ValueError, match="not divisible by 1 processes x train.grad_accum=3"):
        run(tiny_config(), tmp_path / "a", ["train.grad_accum=3"])


class AdvanceAt(Callback):
    """Asks for the stage to end at a given step, as a readiness rule would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_batch_end(self, state):
        if state.step == self.step:
            state.request_advance("manual", why="test")


def test_a_requested_advance_ends_the_stage_and_runs_stage_end_evals(tiny_config, tmp_path):
    evals = {"every": 1000, "at_stage_end": True,
             "tasks": [{"name": "gen", "source": "general", "examples": 2, "max_new_tokens": 8,
                        "metrics": ["format"]}]}
    state = run(tiny_config(evals=evals), tmp_path / "r", callbacks=[AdvanceAt(5)])
    s = RunStore.reader(tmp_path / "r")
    ends = [(e.step, e.data["stage"], e.data["reason"], e.data["evidence"]) for e in s.events("stage_end")]
    assert ends == [(5, "general", "requested", {"request": "manual", "why": "test"}),
                    (17, "physics", "budget", {"steps": 12})]
    assert s.series("eval/gen/format")[0] == [5, 17]  # both stage ends, once each
    assert s.series("eval/loss/general")[0] == [4, 5, 8, 12, 16, 17]
    assert state.step == 17


class FailAtStart(Callback):
    def on_fit_start(self, state):
        raise RuntimeError("callback broke")


def test_an_error_at_fit_start_marks_the_run_failed(tiny_config, tmp_path):
    with pytest.raises(RuntimeError, match="callback broke"):
        run(tiny_config(), tmp_path / "r", callbacks=[FailAtStart()])
    from handhold.runstore.listing import run_info

    info = run_info(tmp_path / "r")
    assert info.status == "failed" and "callback broke" in info.reason


def test_a_token_budget_is_planned_from_measured_row_lengths(tiny_config, tmp_path):
    state = run(tiny_config(), tmp_path / "r", ["stages.0.until={tokens: 6000}", "train.seq_len=168",
                                                "stages.1.until.steps=2"])
    taken = state.curriculum.progress.start_step  # steps the token stage actually took
    planned = state.total_steps - 2
    assert abs(planned - taken) <= max(2, 0.2 * taken), (planned, taken)
