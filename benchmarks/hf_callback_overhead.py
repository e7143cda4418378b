"""Cost of handhold inside a Hugging Face ``Trainer`` (target: throughput ratio >= 0.97).

    PYTHONPATH=src python benchmarks/hf_callback_overhead.py [--steps 200] [--repeat 2]

The same tiny GPT-2 trains ``--steps`` steps twice, timed in the same run: once on handhold's
``CurriculumDataset`` (two stages, rows drawn and tokenized on the fly) with ``HandholdTrainerCallback``
(metrics into the run store, per-source losses on logging steps, stage rules after every step),
once on a plain iterable dataset of the same rows (drawn beforehand, the stage switch included),
pre-tokenized, with no callback. Throughput is steps per second of ``trainer.train()``; the best
of ``--repeat`` runs of each is compared.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

STAGES = [{"name": "general", "mix": {"general": 1.0}, "until": {"steps": 100}},
          {"name": "mixed", "mix": {"general": 0.5, "physics": 0.5}, "until": {"steps": 100000}}]


def setup(steps: int):
    import torch

    from handhold.config import ModelConfig
    from handhold.integrations.hf import CurriculumDataset
    from handhold.models import build_model, char_tokenizer

    torch.set_num_threads(1)
    tok = char_tokenizer()

    def dataset() -> CurriculumDataset:
        return CurriculumDataset({"name": "bench", "stages": STAGES, "train": {"seq_len": 64}}, tok)

    def model():
        return build_model(ModelConfig(arch="gpt2", config={"n_layer": 2, "n_head": 2, "n_embd": 64}), tok, 64, seed=0)

    return dataset, model


def train(steps: int, out: Path, dataset, model, handhold: bool) -> float:
    from torch.utils.data import IterableDataset
    from transformers import Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    from handhold.integrations.hf import HandholdTrainerCallback

    class Plain(IterableDataset):
        def __init__(self, rows):
            self.rows = rows

        def __iter__(self):
            return iter(self.rows)

    ds = dataset()
    args = TrainingArguments(output_dir=str(out / "trainer"), max_steps=steps, per_device_train_batch_size=8,
                             learning_rate=1e-3, logging_steps=10, save_strategy="no", report_to="none",
                             use_cpu=True, seed=0, dataloader_num_workers=0, disable_tqdm=True)
    if handhold:
        trainer = Trainer(model=model(), args=args, train_dataset=ds, data_collator=ds.collate,
                          callbacks=[HandholdTrainerCallback(out / "run", curriculum=ds)])
    else:
        stream = iter(ds)  # the same rows, drawn beforehand: the first stage's 100 steps, then the second
        rows = [next(stream) for _ in range(100 * 8)]
        ds.advance()
        rows += [next(stream) for _ in range((steps - 100) * 8 + 64)]
        plain = Plain([{"input_ids": r["input_ids"]} for r in rows])
        trainer = Trainer(model=model(), args=args, train_dataset=plain, data_collator=ds.collate)
    trainer.remove_callback(PrinterCallback)
    t0 = time.perf_counter()
    trainer.train()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    dataset, model = setup(a.steps)
    best = {True: float("inf"), False: float("inf")}
    with tempfile.TemporaryDirectory() as tmp:
        train(20, Path(tmp) / "warm", dataset, model, False)  # imports, allocator warm-up
        for r in range(a.repeat):
            for handhold in (False, True):
                t = train(a.steps, Path(tmp) / f"{r}-{handhold}", dataset, model, handhold)
                best[handhold] = min(best[handhold], t)
    plain, hh = a.steps / best[False], a.steps / best[True]
    ratio = hh / plain
    print(f"{a.steps} steps, batch 8 x seq <= 64, tiny GPT-2 (2 layers, d 64), best of {a.repeat}")
    print(f"plain dataset, no callback:                  {plain:7.1f} steps/s")
    print(f"CurriculumDataset + HandholdTrainerCallback: {hh:7.1f} steps/s")
    print(f"throughput ratio = {ratio:.3f}  (target >= 0.97: {'met' if ratio >= 0.97 else 'MISSED'})")


if __name__ == "__main__":
    main()
