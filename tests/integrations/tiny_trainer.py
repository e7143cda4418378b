"""A real, tiny ``transformers.Trainer`` on handhold's curriculum (shared by the HF tests; run as a
script it trains and, with ``--kill-at N``, kills itself with SIGKILL at step N)."""

from __future__ import annotations

import os
import signal
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

STAGES_READY = [
    # loss <= 10 holds from the first eval (a char model starts near ln(100) ~ 4.6): the rule fires
    # at the second eval, step 8, mid-train()
    {"name": "general", "mix": {"general": 1.0},
     "until": {"threshold": "eval_general_loss", "value": 10.0, "evals": 2, "max_steps": 30}},
    {"name": "physics", "mix": {"physics": 0.75, "general": 0.25}, "until": {"steps": 8}},
]


def build(out: str, *, stages=None, max_steps: int = 40, save_steps: int = 5, extra_callbacks=(), **args):
    import torch
    from transformers import Trainer, TrainingArguments

    from handhold.config import ModelConfig
    from handhold.integrations.hf import CurriculumDataset, HandholdTrainerCallback
    from handhold.models import build_model, char_tokenizer

    torch.set_num_threads(1)
    tok = char_tokenizer()
    dataset = CurriculumDataset({"name": "hf-tiny", "seed": 0, "stages": stages or STAGES_READY,
                                 "train": {"batch_size": 4, "seq_len": 64}}, tok)
    model = build_model(ModelConfig(arch="gpt2", config={"n_layer": 1, "n_head": 2, "n_embd": 32}), tok, 64, seed=0)
    targs = TrainingArguments(
        output_dir=f"{out}/trainer", max_steps=max_steps, per_device_train_batch_size=4, learning_rate=3e-3,
        logging_steps=2, eval_strategy="steps", eval_steps=4, save_strategy="steps", save_steps=save_steps,
        per_device_eval_batch_size=16, report_to="none", use_cpu=True, seed=0, dataloader_num_workers=0,
        disable_tqdm=True, **args)
    callback = HandholdTrainerCallback(f"{out}/run", curriculum=dataset)
    trainer = Trainer(model=model, args=targs, train_dataset=dataset, data_collator=dataset.collate,
                      eval_dataset=dataset.eval_datasets(8), callbacks=[callback, *extra_callbacks])
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    return trainer, callback


def main() -> None:
    from transformers import TrainerCallback

    out, kill_at = sys.argv[1], int(sys.argv[3]) if sys.argv[2:3] == ["--kill-at"] else None

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    trainer, _ = build(out, extra_callbacks=[Kill()] if kill_at else [])
    trainer.train()


if __name__ == "__main__":
    main()
