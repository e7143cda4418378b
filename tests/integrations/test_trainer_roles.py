"""A real tiny Hugging Face Trainer run: the Trainer's bookkeeping (runtimes, samples/s, steps/s,
FLOPs, epoch, learning rate) is recorded as schedule/system, so the analysis labels none of it
and the report shows it only in the folded panel at the bottom, after the losses."""

from __future__ import annotations

import sys
from pathlib import Path

from handhold.phases import analyze_store
from handhold.roles import SIGNAL, role_of, stored_roles
from handhold.runstore.db import RunStore
from handhold.views.report import build_figures

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tiny_trainer  # noqa: E402


def test_the_trainers_bookkeeping_is_never_read_as_a_signal(tmp_path):
    trainer, _ = tiny_trainer.build(str(tmp_path), save_steps=100)
    trainer.train()
    with RunStore.reader(tmp_path / "run") as store:
        keys = store.metric_keys()
        roles = stored_roles(store.meta())
        bookkeeping = [k for k in keys if k.endswith(("runtime", "per_second", "flos", "epoch", "/lr"))]
        assert any(k.endswith("runtime") for k in bookkeeping) and "train/lr" in keys, keys
        assert all(role_of(k, roles) != SIGNAL for k in bookkeeping)
        assert role_of("eval/loss/general", roles) == SIGNAL
        doc = analyze_store(store)
        figures = build_figures(store)
    assert not set(doc["metrics"]) & set(bookkeeping)  # no trend label, shock or divergence on them
    assert "eval/loss/general" in doc["metrics"]
    titles = [f.layout.title.text for f in figures]
    assert titles[0].startswith("loss per source") and titles[-1].startswith("schedule and system")
    shown = {t.name for f in figures[:-1] for t in f.data}
    assert not any(k in shown for k in bookkeeping)
