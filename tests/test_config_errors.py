"""Every bad config is one line naming the file (and line/field), exit 2."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from handhold.cli import app
from handhold.config import ConfigError, load_config

BASE = """\
name: t
stages:
  - name: a
    mix: {general: 1.0}
    until: {steps: 10}
"""
runner = CliRunner()


def problems(path: Path, overrides=None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return info.value.problems


@pytest.mark.parametrize("content, expect", [
    (b"\x00\x01\xff\xfe binary", "not a UTF-8 text file"),
    (b"name: caf\xe9\nstages: []\n", "not a UTF-8 text file"),
])
def test_binary_or_non_utf8_config_is_named(tmp_path, content, expect):
    p = tmp_path / "c.yaml"
    p.write_bytes(content)
    (msg,) = problems(p)
    assert msg.startswith(f"{p}") and expect in msg


@pytest.mark.parametrize("budget", ['"' + "9" * 400 + '"', "9" * 400, "1e400", '"1e400"'])
def test_absurd_token_budget_is_a_config_error(tmp_path, budget):
    p = tmp_path / "c.yaml"
    p.write_text(BASE.replace("{steps: 10}", "{tokens: " + budget + "}"))
    (msg,) = problems(p)
    assert msg.startswith(f"{p}:5: stages[0].until.tokens") or msg.startswith(f"{p}:5: stages[0].until")


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
def test_non_finite_numbers_are_refused(tmp_path, value):
    p = tmp_path / "c.yaml"
    p.write_text(BASE + f"optim: {{lr: {value}}}\n")
    (msg,) = problems(p)
    assert msg.startswith(f"{p}:6: optim.lr:") and "finite" in msg


@pytest.mark.parametrize("item, expect", [
    ("key=[1", "--set key=[1: invalid YAML value"),
    ("name=!!python/object/apply:os.system [echo hi]", "invalid YAML value"),
    ("name=!!python/name:os.system", "invalid YAML value"),
])
def test_set_values_that_are_not_plain_yaml(tmp_path, item, expect):
    p = tmp_path / "c.yaml"
    p.write_text(BASE)
    (msg,) = problems(p, [item])
    assert expect in msg


def test_missing_file_source_names_the_config_line(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("sources:\n  notes: {type: text, path: missing.txt}\n"
                 + BASE.replace("{general: 1.0}", "{notes: 1.0}"))
    (msg,) = problems(p)
    assert msg.startswith(f"{p}:2: sources.notes.path: no such file") and "missing.txt" in msg


@pytest.mark.parametrize("override, field", [
    ("model.config.n_embd=30", "model.config"),     # not divisible by n_head
    ("model.arch=notamodel", "model.arch"),
])
def test_models_that_cannot_be_built_are_one_line_at_exit_2(tmp_path, override, field):
    p = tmp_path / "c.yaml"
    p.write_text(BASE + "model: {config: {n_layer: 1, n_head: 4, n_embd: 32}}\n")
    result = runner.invoke(app, ["train", str(p), "--out", str(tmp_path / "r"), "-q", "--set", override,
                                 "--max-steps", "1"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and field in result.output
    assert len(result.output.strip().splitlines()) <= 3  # one message (rich may wrap it)


@pytest.mark.parametrize("content", [b"\xff\xfe\x00", "stages: [{name: a, mix: {general: 1}, until: {tokens: '" + "9" * 400 + "'}}]"])
def test_cli_exit_2_without_traceback(tmp_path, content):
    p = tmp_path / "c.yaml"
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = runner.invoke(app, ["train", str(p), "--out", str(tmp_path / "r"), "-q"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert str(p) in result.output.replace("\n", "")


def test_a_suite_that_is_not_a_path(tmp_path):
    """Found by tests/test_properties.py: `evals.suite: [1]` was a TypeError traceback."""
    p = tmp_path / "c.yaml"
    p.write_text(BASE + "evals: {suite: [1, 2]}\n")
    (msg,) = problems(p)
    assert msg.startswith(f"{p}:6: evals.suite:")


def test_set_through_an_empty_or_scalar_list_item(tmp_path):
    """Found by tests/test_properties.py: `--set stages.0=null --set stages.0.name=x` was an AttributeError."""
    p = tmp_path / "c.yaml"
    p.write_text(BASE)
    (msg,) = problems(p, ["stages.0=null", "stages.0.name=x"])
    assert msg == "--set stages.0.name=x: stages[0] is not a mapping"
    p.write_text(BASE + "model:\n")  # an empty mapping written as `model:`
    assert load_config(p, ["model.arch=gpt2"]).model.arch == "gpt2"
