"""A curriculum run and its baseline for the comparison tests, written through the Run API: the
curriculum in two stages (general, then physics), the baseline in one mixed stage, both logging
the token and sample counters, a held-out physics loss, and a benchmark score with its document
count (``eval/arc_easy/acc`` beside ``eval/arc_easy/docs``)."""

from __future__ import annotations

from pathlib import Path

import handhold


def write_pair(root: Path, *, steps: int = 40) -> tuple[Path, Path]:
    cur, base = root / "curriculum", root / "baseline"
    cfg = {"seed": 0, "optim": {"lr": 3e-3, "warmup_steps": 2}, "train": {"batch_size": 8, "seq_len": 96}}
    with handhold.init(cur, config={**cfg, "stages": [{"name": "general"}, {"name": "physics"}]}) as run:
        run.stage("general", step=0)
        for step in range(1, steps + 1):
            if step == steps // 2 + 1:
                run.stage_end("plateau", step=step - 1, window=5)
                run.stage("physics", step=step - 1)
            _log(run, step, physics=2.5 - 1.5 * step / steps, tokens_per_step=768, acc=0.75)
    with handhold.init(base, config={**cfg, "optim": {"lr": 1e-3, "warmup_steps": 2},
                                     "stages": [{"name": "mixed"}]}) as run:
        run.stage("mixed", step=0)
        for step in range(1, steps + 1):
            _log(run, step, physics=2.5 - 0.8 * step / steps, tokens_per_step=512, acc=0.5)
        run.stage_end("budget", step=steps)
    return cur, base


def _log(run, step: int, *, physics: float, tokens_per_step: int, acc: float) -> None:
    values = {"train/loss": physics + 0.3, "train/tokens": tokens_per_step * step, "train/samples": 8 * step}
    if step % 5 == 0:
        values["eval/loss/physics"] = physics
    if step % 20 == 0:
        values |= {"eval/arc_easy/acc": acc, "eval/arc_easy/docs": 32, "eval/boolq/acc": acc / 2}
    run.log(values, step=step)
