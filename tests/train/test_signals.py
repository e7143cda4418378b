"""Signals in a real (tiny) run: eval suite metrics, probe samples, internal measures, and the CLI."""

import pytest
from typer.testing import CliRunner

import handhold
from handhold.cli import app
from handhold.config import load_config
from handhold.runstore.db import RunStore
from handhold.train.runner import start

SIGNALS = {
    "evals": {"every": 8, "at_stage_end": True,
              "tasks": [{"name": "gen", "source": "general", "examples": 6, "max_new_tokens": 40,
                         "metrics": ["answer_acc", "step_validity", "coherence", "format", "exact_match", "mc_acc"]},
                        {"name": "phys", "source": "physics", "examples": 4, "max_new_tokens": 40}]},
    "probes": {"every": 6, "max_new_tokens": 12,
               "prompts": [{"id": "mood", "text": "How is your training going?"},
                           {"id": "sum", "text": "Q: What is 2 + 2?\nA:"}]},
    "measures": {"every": 5},
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from conftest import write_config

    tmp = tmp_path_factory.mktemp("signals")
    config = write_config(tmp / "cfg.yaml", SIGNALS)
    start(load_config(config), tmp / "run", progress=False)
    return tmp / "run"


def test_suite_metrics_per_task_and_family_at_cadence_and_stage_ends(run_dir):
    s = RunStore.reader(run_dir)
    steps, values = s.series("eval/gen/answer_acc")
    assert steps == [8, 12, 16, 24]  # every 8, plus both stage ends (12, 24)
    assert all(0.0 <= v <= 1.0 for v in values)
    # (step validity and coherence are undefined, hence absent, while a model writes no steps)
    for key in ("eval/gen/format", "eval/gen/exact_match", "eval/phys/answer_acc",
                "eval/family/reasoning", "eval/family/standard", "eval/suite_time_s"):
        assert s.series(key)[0] == [8, 12, 16, 24], key
    samples = [x for x in s.samples("eval/gen") if x.step == 24]
    assert len(samples) == 6 and all(x.prompt.startswith("Q: ") for x in samples)


def test_probes_are_stored_by_step_and_prompt(run_dir):
    s = RunStore.reader(run_dir)
    probes = list(s.samples("probe"))
    assert sorted({p.step for p in probes}) == [6, 12, 18, 24]
    assert {p.prompt for p in probes} == {"How is your training going?", "Q: What is 2 + 2?\nA:"}
    assert all(len(p.text) <= 12 for p in probes)


def test_internal_measures(run_dir):
    s = RunStore.reader(run_dir)
    steps, norms = s.series("internal/weight_norm")
    assert steps == [5, 10, 15, 20]
    keys = s.metric_keys("internal/")
    assert "internal/weight_norm/layer0" in keys and "internal/grad_norm/layer0" in keys
    assert "internal/weight_norm/wte" in keys
    _, ratios = s.series("internal/update_ratio")
    assert all(0 < r < 0.5 for r in ratios)  # an AdamW step moves weights a little, not a lot
    assert norms[-1] != norms[0]


def test_samples_command_filters_by_prompt_id(run_dir):
    out = CliRunner().invoke(app, ["samples", str(run_dir), "--prompt", "mood"], env={"COLUMNS": "200"})
    assert out.exit_code == 0
    assert "How is your training going?" in out.output and "2 + 2" not in out.output
    assert out.output.count("probe") == 4  # steps 6, 12, 18, 24


def test_samples_command_greps_text(tmp_path):
    with handhold.init(tmp_path) as run:
        run.sample("probe", "How is it going?", "I feel so overwhelmed with the information", step=52500)
        run.sample("probe", "How is it going?", "what you're doing is all too much to do", step=61500)
        run.sample("probe", "How is it going?", "I would like broader data now", step=90000)
    with handhold.amend(tmp_path) as later:
        later.sample("chat", "hello", "Overwhelmed? no", step=90000)
    runner = CliRunner()
    out = runner.invoke(app, ["samples", str(tmp_path), "--grep", "OVERWHELMED"], env={"COLUMNS": "200"})
    assert out.exit_code == 0
    assert "52500" in out.output and "61500" not in out.output and "90000" not in out.output
    out = runner.invoke(app, ["samples", str(tmp_path), "--grep", "overwhelmed", "--kind", "all"],
                        env={"COLUMNS": "200"})
    assert "52500" in out.output and "90000" in out.output
    out = runner.invoke(app, ["samples", str(tmp_path), "--grep", "zzz-not-there-zzz"])
    assert out.exit_code == 1 and "no samples match" in out.output


def test_audit_command_reads_stored_generations(run_dir):
    out = CliRunner().invoke(app, ["audit", str(run_dir), "--task", "gen", "--examples", "1"],
                             env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "gen @ step 24" in out.output and "Wrong-answer audit: 6 answers" in out.output
