"""The Lightning callback with a real tiny LightningModule: metrics, a stage that ends on its
readiness rule during fit(), the fit stopped by the last stage, and a fit resumed from a
Lightning checkpoint that continues exactly (same stage ends, same losses)."""

from __future__ import annotations

import os

import pytest

from handhold.runstore.db import RunStore

os.environ.setdefault("OMP_NUM_THREADS", "1")
pl = pytest.importorskip("pytorch_lightning")

STAGES = [
    {"name": "general", "mix": {"general": 1.0},
     "until": {"threshold": "val_loss", "value": 10.0, "evals": 2, "max_steps": 30}},
    {"name": "physics", "mix": {"physics": 1.0}, "until": {"steps": 8}},
]


def fit(tmp_path, stages=STAGES, max_steps=40, ckpt_path=None, save=None):
    import torch
    from torch.utils.data import DataLoader

    from handhold.config import ModelConfig
    from handhold.integrations.hf import CurriculumDataset
    from handhold.integrations.lightning import HandholdLightningCallback
    from handhold.models import build_model, char_tokenizer

    torch.set_num_threads(1)
    tok = char_tokenizer()
    dataset = CurriculumDataset({"name": "pl-tiny", "stages": stages, "train": {"seq_len": 64}}, tok)
    net = build_model(ModelConfig(arch="gpt2", config={"n_layer": 1, "n_head": 2, "n_embd": 32}), tok, 64, seed=0)

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = net

        def training_step(self, batch, i):
            loss = self.net(**batch).loss
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch, i):
            self.log("val_loss", self.net(**batch).loss)

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=3e-3)

    callback = HandholdLightningCallback(tmp_path / "run", curriculum=dataset)
    trainer = pl.Trainer(max_steps=max_steps, val_check_interval=4, limit_val_batches=1, num_sanity_val_steps=0,
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, log_every_n_steps=2, accelerator="cpu", callbacks=[callback])
    val = DataLoader(dataset.eval_datasets(8)["general"], batch_size=8, collate_fn=dataset.collate)
    trainer.fit(Module(), DataLoader(dataset, batch_size=4, collate_fn=dataset.collate), val, ckpt_path=ckpt_path)
    if save is not None:
        trainer.save_checkpoint(save)
    return trainer, callback


def test_stages_end_on_readiness_and_the_last_one_stops_the_fit(tmp_path):
    trainer, callback = fit(tmp_path)
    s = RunStore.reader(tmp_path / "run")
    assert [(e.step, e.data["stage"], e.data["reason"]) for e in s.events("stage_end")] == [
        (8, "general", "threshold"), (16, "physics", "budget")]
    assert trainer.global_step == 16 and s.get_meta("status") == "finished"
    assert s.series("val_loss")[0] == [4, 8, 12, 16] and s.series("train_loss")[0][:2] == [2, 4]
    saved = callback.state_dict()
    assert saved["tracker"]["index"] == 2 and saved["rows"] == 16 * 4  # finished after its second (last) stage
    assert saved["dataset"]["row"] == 64  # the sampler as it was after the rows training consumed


def test_a_rule_metric_the_module_never_logs_is_a_clear_error(tmp_path):
    stages = [{**STAGES[0], "until": {"threshold": "val_acc", "value": 0.5, "max_steps": 30}}]
    with pytest.raises(ValueError, match="ends on 'val_acc', which the module did not log at validation "
                                         r"\(it logged: train_loss, val_loss\)"):
        fit(tmp_path, stages)
    assert RunStore.reader(tmp_path / "run").get_meta("status") == "failed"


def test_a_fit_resumed_from_a_checkpoint_matches_an_uninterrupted_one(tmp_path):
    fit(tmp_path / "whole")
    fit(tmp_path / "cut", max_steps=10, save=tmp_path / "cut.ckpt")  # inside the second stage
    fit(tmp_path / "cut", ckpt_path=tmp_path / "cut.ckpt")
    a, b = (RunStore.reader(tmp_path / r / "run") for r in ("whole", "cut"))
    assert [(e.step, e.data["reason"]) for e in b.events("stage_end")] == [(8, "threshold"), (16, "budget")]
    assert a.series("train_loss")[0] == b.series("train_loss")[0]
    assert a.series("train_loss")[1] == pytest.approx(b.series("train_loss")[1], rel=1e-5)
    assert [e.step for e in b.events("resume")] == [10]


def test_a_checkpoint_holding_the_callbacks_stage_numbers_still_resumes(tmp_path):
    """Lightning checkpoints whose callback state holds the stage numbers itself (``stage``,
    ``stage_step``, ``stage_tokens``, ``detector``, ``done``) resume in the same stage."""
    import torch

    fit(tmp_path, max_steps=10, save=tmp_path / "cut.ckpt")
    ckpt = torch.load(tmp_path / "cut.ckpt", weights_only=False)
    state = ckpt["callbacks"]["HandholdCallback"]
    assert (state["tracker"]["index"], state["tracker"]["start"]["steps"]) == (1, 8)
    ckpt["callbacks"]["HandholdCallback"] = {
        "dataset": state["dataset"], "stage": 1, "step": 10, "stage_step": 8,
        "stage_tokens": state["tracker"]["start"]["tokens"], "rows": state["rows"], "done": False, "detector": None}
    torch.save(ckpt, tmp_path / "old.ckpt")
    trainer, _ = fit(tmp_path, ckpt_path=tmp_path / "old.ckpt")
    s = RunStore.reader(tmp_path / "run")
    assert [(e.step, e.data["reason"]) for e in s.events("stage_end")] == [(8, "threshold"), (16, "budget")]
    assert trainer.global_step == 16


def test_the_old_callback_name_still_works_and_warns_once(monkeypatch):
    from handhold.integrations import lightning

    from handhold.integrations.stage_driver import renamed_callback

    monkeypatch.setattr(lightning, "__getattr__", renamed_callback(lightning.__name__, lightning.HandholdLightningCallback))
    with pytest.warns(DeprecationWarning, match="use HandholdLightningCallback"):
        assert lightning.HandholdCallback is lightning.HandholdLightningCallback
    assert lightning.HandholdCallback is lightning.HandholdLightningCallback  # no second warning (see the HF test)
