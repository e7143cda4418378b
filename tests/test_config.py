from pathlib import Path

import pytest

from handhold.config import ConfigError, dump_config, load_config, parse_count, validate_config

BASE = """\
name: t
stages:
  - name: a
    mix: {general: 1.0}
    until: {steps: 10}
  - name: b
    mix:
      physics: 0.5
      general: 0.5
    until: {tokens: 2k}
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def problems(path: Path, overrides=None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return info.value.problems


def test_valid_config_resolves_defaults_and_builtin_sources(tmp_path):
    cfg = load_config(write(tmp_path, BASE))
    assert [s.name for s in cfg.stages] == ["a", "b"]
    assert cfg.stages[1].until.tokens == 2000
    assert set(cfg.sources) == {"general", "physics"}
    # the resolved config round-trips through YAML unchanged
    again = validate_config(__import__("yaml").safe_load(dump_config(cfg)))
    assert again == cfg


def test_unknown_key_names_file_line_path_and_suggests(tmp_path):
    p = write(tmp_path, BASE + "optim:\n  lrr: 0.1\n")
    (msg,) = problems(p)
    assert msg.startswith(f"{p}:12: optim.lrr: unknown key 'lrr'; did you mean 'lr'?")


def test_unknown_key_inside_a_source_union(tmp_path):
    p = write(tmp_path, "sources:\n  notes: {type: jsonl, path: x.jsonl, text_feild: t}\n" + BASE)
    (msg,) = problems(p)
    assert f"{p}:2: sources.notes.text_feild: unknown key 'text_feild'; did you mean 'text_field'?" in msg


def test_bad_weight(tmp_path):
    p = write(tmp_path, BASE.replace("physics: 0.5", "physics: -1"))
    (msg,) = problems(p)
    assert msg == f"{p}:8: stages[1].mix.physics: weight must be > 0 (got -1.0)"


def test_missing_source_suggests_the_close_name(tmp_path):
    p = write(tmp_path, BASE.replace("physics: 0.5", "phys: 0.5"))
    (msg,) = problems(p)
    assert msg.startswith(f"{p}:8: stages[1].mix.phys: unknown source 'phys'; did you mean 'physics'?")


def test_until_needs_exactly_one_budget(tmp_path):
    p = write(tmp_path, BASE.replace("until: {steps: 10}", "until: {steps: 10, tokens: 5}"))
    (msg,) = problems(p)
    assert "stages[0].until: give exactly one budget" in msg


def test_set_overrides_are_validated_and_located(tmp_path):
    p = write(tmp_path, BASE)
    cfg = load_config(p, ["optim.lr=1e-4", "stages.0.until.steps=3", "train.batch_size=4"])
    assert (cfg.optim.lr, cfg.stages[0].until.steps, cfg.train.batch_size) == (1e-4, 3, 4)
    (msg,) = problems(p, ["train.batch_size=0"])
    assert msg == f"{p} (--set train.batch_size): train.batch_size: Input should be greater than 0 (got 0)"
    (msg,) = problems(p, ["stages.5.name=x"])
    assert "stages[5]: no such list item" in msg


def test_yaml_syntax_error_has_a_line(tmp_path):
    p = write(tmp_path, BASE + "optim: {lr: [1, 2\n")
    (msg,) = problems(p)
    assert msg.startswith(f"{p}:") and "invalid YAML" in msg


def test_parse_count():
    assert parse_count("2M") == 2_000_000
    assert parse_count("1.5k") == 1500
    assert parse_count(7) == 7
    with pytest.raises(ValueError):
        parse_count("lots")


def test_schedule_length_is_the_sum_of_budgets(tmp_path):
    cfg = load_config(write(tmp_path, BASE), ["train.batch_size=10", "train.seq_len=100"])
    assert cfg.schedule_steps() == 10 + 2  # 2000 tokens at <= 1000 tokens per step


def test_eval_task_needs_a_procedural_source(tmp_path):
    p = write(tmp_path, "sources:\n  notes: {type: text, path: n.txt}\n" + BASE
              + "evals:\n  tasks:\n    - {name: n, source: notes}\n")
    (msg,) = problems(p)
    assert "evals.tasks[0].source: source 'notes' is a file without worked solutions" in msg


def test_plateau_on_the_loss_of_an_unknown_source(tmp_path):
    p = write(tmp_path, BASE.replace("until: {steps: 10}",
                                     "until: {plateau: eval/loss/phsyics, max_steps: 50}"))
    (msg,) = problems(p)
    assert msg.startswith(f"{p}:5: stages[0].until.plateau: no source 'phsyics' for 'eval/loss/phsyics'; "
                          "did you mean 'physics'?")


def test_token_budgets_use_the_measured_tokens_per_row(tmp_path):
    cfg = load_config(write(tmp_path, BASE), ["train.batch_size=10", "train.seq_len=100"])
    # stage b mixes physics and general 1:1 at 80 and 40 tokens per row -> 600 per step
    assert cfg.schedule_steps({"general": 40.0, "physics": 80.0}) == 10 + 4  # ceil(2000 / 600)
