from pathlib import Path

import pytest
import yaml

from handhold.config import ConfigError
from handhold.grok.config import load_grok_config
from handhold.grok.presets import PRESETS, preset

ROOT = Path(__file__).resolve().parents[2]


def problems(tmp_path: Path, text: str, overrides=None) -> list[str]:
    path = tmp_path / "g.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_grok_config(path, overrides)
    return [p.replace(str(path), "FILE") for p in info.value.problems]


def test_errors_name_file_line_key_and_suggest(tmp_path):
    text = ("name: x\ntask:\n  p: 12\nvariants:\n  - name: a\n  - name: b\n    curriculum:\n"
            "      knd: operand_subset\n      switch: {steps: [5]}\n")
    got = problems(tmp_path, text)
    assert "FILE:3: task.p: p must be prime (got 12)" in got
    assert any(p.startswith("FILE:8: variants[1].curriculum.knd: unknown key 'knd'; did you mean 'kind'?")
               for p in got)


def test_cross_field_problems(tmp_path):
    text = ("variants:\n  - name: a\n  - name: a\n  - name: one\n    curriculum: {kind: one_op_first, "
            "switch: {steps: [5]}}\n")
    got = problems(tmp_path, text)
    assert "FILE:3: variants[1].name: duplicate variant name 'a'" in got
    assert any("variants[2].curriculum.kind: one_op_first needs a task with two or more ops" in p for p in got)


def test_variant_sections_merge_onto_the_base(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("optim: {lr: 0.005, weight_decay: 0.5}\nvariants:\n  - name: base\n    baseline: true\n"
                    "  - name: wd\n    optim: {weight_decay: 0.1}\n")
    cfg = load_grok_config(path, ["variants.0.model.init_scale=2"])
    base, wd = cfg.runs()
    assert (base.optim.lr, base.optim.weight_decay, base.model.init_scale) == (0.005, 0.5, 2.0)
    assert (wd.optim.lr, wd.optim.weight_decay, wd.model.init_scale) == (0.005, 0.1, 1.0)
    (msg,) = problems(tmp_path, "optim: {lr: -1}\n", None)
    assert msg.startswith("FILE:1: optim.lr: Input should be greater than 0")


def test_override_errors_point_at_the_flag(tmp_path):
    got = problems(tmp_path, "name: x\n", ["train.budget.samples=lots"])
    assert got == ["FILE (--set train.budget.samples): train.budget.samples: expected a count such as "
                   "2000 or '2M' (got 'lots')"]


@pytest.mark.parametrize("name, file", [("literature", "grok.yaml"), ("quick", "grok_quick.yaml")])
def test_config_files_equal_the_presets(name, file):
    assert yaml.safe_load((ROOT / "configs" / file).read_text()) == PRESETS[name]
    load_grok_config(ROOT / "configs" / file)


def test_every_preset_validates_and_the_literature_one_is_nanda():
    for name in PRESETS:
        load_grok_config(data=preset(name), source=name)
    lit = load_grok_config(data=preset("literature")).runs()[0]
    assert (lit.task.p, lit.task.train_frac, lit.model.layers, lit.model.d_model, lit.model.d_mlp) == (113, 0.3, 1, 128, 512)
    assert (lit.optim.lr, lit.optim.betas, lit.optim.weight_decay, lit.optim.warmup_steps) == (1e-3, (0.9, 0.98), 1.0, 10)
    assert lit.train.batch == "full" and not lit.model.layernorm


def test_the_grokfast_task_file_runs_grokfasts_own_recipes():
    """configs/grok_grokfast_task.yaml: the grokfast preset's task, model and loop; its EMA and MA
    variants carry the preset's flags, and the curricula are stacked on the EMA recipe."""
    ref = {r.variant: r for r in load_grok_config(data=preset("grokfast")).runs()}
    runs = {r.variant: r for r in load_grok_config(ROOT / "configs" / "grok_grokfast_task.yaml").runs()}
    for name in ("grokfast-ema", "grokfast-ma"):
        a, b = runs[name], ref[name]
        assert (a.task, a.model, a.optim, a.grokfast) == (b.task, b.model, b.optim, b.grokfast), name
        assert (a.train.batch, a.train.keep_last, a.eval.every) == (b.train.batch, b.train.keep_last, b.eval.every)
    for name in ("subset-first-ready+ema", "random-first-ready+ema"):
        assert runs[name].grokfast == ref["grokfast-ema"].grokfast and runs[name].curriculum is not None
        assert runs[name].optim == ref["grokfast-ema"].optim
