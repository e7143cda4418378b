"""Results that know where they came from: code version and resolved config in every run store;
a finished run of other code is retrained (or, when asked, reused and flagged), never mixed silently."""

import yaml
from typer.testing import CliRunner

import handhold
from handhold.cli import app
from handhold.grok.config import load_grok_config
from handhold.grok.experiment import run_experiment
from handhold.grok.lineage import code_label, reuse_verdict, versions_label
from handhold.provenance import code_version, same_code
from handhold.runstore.db import RunStore

runner = CliRunner()

TINY = {
    "name": "tiny", "seeds": 2,
    "task": {"ops": ["add"], "p": 7, "train_frac": 0.5},
    "model": {"d_model": 8, "heads": 2, "d_mlp": 16},
    "train": {"budget": {"steps": 6}, "stop_at_val": None},
    "eval": {"every": 3, "per_decade": 0},
    "measure": {"enabled": False},
    "variants": [{"name": "baseline"}],
}


def _retag(run_dir, **code):
    """Mark a finished run as made by other code (its ``code_version`` changed)."""
    with RunStore.reader(run_dir) as store:
        old = store.get_meta("code_version")
    with handhold.init(run_dir, resume=True) as run:
        run.set_meta(code_version={**old, **code})


def test_runs_record_code_and_resolved_config_and_other_code_is_not_reused(tmp_path):
    cfg = load_grok_config(data=TINY)
    run_experiment(cfg, tmp_path / "exp", jobs=1)
    d = tmp_path / "exp" / "baseline-s0"
    with RunStore.reader(d) as store:
        meta = store.meta()
    assert meta["code_version"] == code_version() and meta["code_version"]["source"]
    assert meta["grok_spec"] == cfg.runs()[0].model_dump(mode="json")  # the resolved config
    assert reuse_verdict(d, meta["grok_spec"], 0, code_version()).reuse

    _retag(d, handhold="0.0.1", source="0" * 16)  # as if an older handhold made seed 0
    old = (d / "run.db").stat().st_mtime_ns
    lines = []
    summary = run_experiment(cfg, tmp_path / "exp", log=lines.append)
    assert any("baseline s0: made by code 0.0.1" in line and "retrained" in line for line in lines), lines
    assert any("baseline s1: finished earlier, reused" in line for line in lines), lines
    assert (d / "run.db").stat().st_mtime_ns != old
    with RunStore.reader(d) as store:
        assert store.get_meta("code_version") == code_version()
    assert summary["variants"][0]["code"] == code_label(code_version()) and "mixed" not in summary["code"]


def test_reuse_other_code_flags_the_row_in_table_and_report(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "exp"
    first = runner.invoke(app, ["grok", str(path), "--out", str(out), "--jobs", "1", "--no-report"])
    assert first.exit_code == 0, first.output
    _retag(out / "baseline-s1", handhold="0.0.1", commit="abc", source="1" * 16)
    again = runner.invoke(app, ["grok", str(path), "--out", str(out), "--jobs", "1", "--reuse-other-code"])
    assert again.exit_code == 0, again.output
    assert again.output.count("reused") == 2 and "made by code 0.0.1@abc" in again.output
    assert "mixed: 0.0.1@abc" in again.stdout  # the table names both versions behind the row
    page = (out / "report.html").read_text()
    assert "mixed: 0.0.1@abc" in page


def test_another_config_is_never_reused(tmp_path):
    cfg = load_grok_config(data=TINY)
    run_experiment(cfg, tmp_path / "exp")
    other = load_grok_config(data=TINY, overrides=["optim.lr=0.01"]).runs()[0].model_dump(mode="json")
    v = reuse_verdict(tmp_path / "exp" / "baseline-s0", other, 0, code_version(), allow_other_code=True)
    assert not v.reuse and v.reason == "made with another config"


def test_same_code_compares_source_digests_and_labels():
    a = {"handhold": "0.1.0", "commit": "abc+dirty", "source": "s1"}
    assert same_code(a, dict(a)) and not same_code(a, {**a, "source": "s2"})
    assert not same_code({"handhold": "0.1.0", "commit": "abc+dirty"}, {"handhold": "0.1.0", "commit": "abc+dirty"})
    assert same_code({"handhold": "0.1.0", "commit": "abc"}, {"handhold": "0.1.0", "commit": "abc"})
    assert code_label(None) == "unknown" and code_label({"handhold": "0.1.0", "commit": "abc"}) == "0.1.0@abc"
    assert code_label(a) == "0.1.0@abc+dirty/src:s1"
    assert versions_label([a, a]) == code_label(a)
    assert versions_label([a, None]) == "mixed: 0.1.0@abc+dirty/src:s1, unknown"
