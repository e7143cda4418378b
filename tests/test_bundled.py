"""Built-in configs are found by name from anywhere; `handhold init` writes one."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from handhold import bundled
from handhold.cli import app
from handhold.config import ConfigError, load_config

runner = CliRunner()


def test_the_demo_ships_in_the_package_and_is_found_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ folder here
    path = bundled.find_config("demo")
    assert path == bundled.CONFIG_DIR / "demo.yaml" and path.is_file()
    assert bundled.find_config("demo.yaml") == path == bundled.find_config("configs/demo.yaml")
    cfg = load_config(path)  # its eval suite (evals/procedural.yaml) is found beside it
    assert cfg.name == "demo" and cfg.evals.tasks
    assert {"demo", "procedural", "grok", "grok_quick"} <= set(bundled.bundled_configs())


def test_a_local_file_wins_over_a_built_in_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").write_text("x")
    assert bundled.find_config("demo").resolve() == (tmp_path / "demo").resolve()


def test_any_yaml_in_the_configs_folder_is_found_by_stem(tmp_path, monkeypatch):
    (tmp_path / "evals").mkdir()
    (tmp_path / "smollm2_physics.yaml").write_text("name: s\n")
    (tmp_path / "evals" / "reasoning_standard.yaml").write_text("version: 1\n")
    monkeypatch.setattr(bundled, "CONFIG_DIR", tmp_path)
    assert bundled.find_config("smollm2_physics") == tmp_path / "smollm2_physics.yaml"
    assert bundled.find_config("reasoning_standard") == tmp_path / "evals" / "reasoning_standard.yaml"
    with pytest.raises(ConfigError, match="no built-in config of that name.*reasoning_standard, smollm2_physics"):
        bundled.find_config("nope")


def test_unknown_name_is_one_line_at_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["train", "dmeo"])
    assert res.exit_code == 2 and "no built-in config of that name" in res.output and "demo" in res.output


def test_init_writes_a_starter_that_validates_and_refuses_to_overwrite(tmp_path):
    res = runner.invoke(app, ["init", str(tmp_path / "mine")])
    assert res.exit_code == 0, res.output
    starter = tmp_path / "mine" / "curriculum.yaml"
    assert "# The demo curriculum" in starter.read_text()  # the comments come along, to guide the edit
    cfg = load_config(starter)
    assert cfg.stages and cfg.evals.tasks  # the eval suite it names was written beside it
    before = starter.read_text()
    starter.write_text(before + "\n# my edit\n")
    res = runner.invoke(app, ["init", str(tmp_path / "mine")])
    assert res.exit_code == 2 and "exists already" in res.output
    assert starter.read_text().endswith("# my edit\n")  # nothing lost
    assert runner.invoke(app, ["init", str(tmp_path / "mine"), "--force"]).exit_code == 0
    assert starter.read_text() == before
