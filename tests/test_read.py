"""The notebook read API (``handhold.read``) and ``handhold export``: on runs written by the Run
API, on a run made by ``handhold import`` (a CSV), beside a live writer, and the README's three
lines run as written."""

from __future__ import annotations

import json
import re
import sys
import threading
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")

import handhold  # noqa: E402
import handhold.read as hh  # noqa: E402
from handhold.runstore.db import StoreError  # noqa: E402

README = Path(__file__).resolve().parents[1] / "README.md"


def write_run(path: Path, *, lr: float, physics: list[float], reason: str = "plateau") -> Path:
    """Two stages, a held-out physics loss every 2 steps, a probe, the token counter."""
    cfg = {"optim": {"lr": lr, "warmup_steps": 2}, "model": {"arch": "gpt2"}, "stages": ["general", "physics"]}
    with handhold.init(path, config=cfg, name=path.name) as run:
        run.stage("general", step=0, mix={"general": 1.0})
        for step in range(1, 11):
            values = {"train/loss/general": 3.0 - 0.1 * step, "train/tokens": 100 * step}
            if step % 2 == 0:
                values["eval/loss/physics"] = physics[step // 2 - 1]
            run.log(values, step=step)
            if step == 5:
                run.stage_end(reason, step=5, window=4, slope=-0.01)
                run.stage("physics", step=5, mix={"physics": 1.0})
        run.sample("probe", "F = m a; m = 2, a = 3; F =", "6", step=10)
    return path


@pytest.fixture
def two_runs(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    write_run(runs / "curriculum", lr=3e-3, physics=[2.0, 1.8, 1.5, 1.2, 1.0])
    write_run(runs / "baseline", lr=1e-3, physics=[2.0, 1.9, 1.8, 1.7, 1.6], reason="budget")
    return runs


def test_one_run_tables(two_runs):
    run = hh.open_run(two_runs / "curriculum")
    assert run.status == "finished" and run.name == "curriculum"
    assert run.config()["optim"]["lr"] == 3e-3
    assert run.config(flat=True)["optim.warmup_steps"] == 2

    long = run.metrics()
    assert list(long.columns) == ["step", "key", "value", "time"]
    assert len(long) == 10 * 2 + 5
    phys = run.metrics("eval/loss/physics")
    assert phys["step"].tolist() == [2, 4, 6, 8, 10] and phys["value"].tolist() == [2.0, 1.8, 1.5, 1.2, 1.0]
    assert run.metrics(prefix="train/")["key"].unique().tolist() == ["train/loss/general", "train/tokens"]

    wide = run.metrics_wide()
    assert wide.index.tolist() == list(range(1, 11))
    assert sorted(wide.columns) == ["eval/loss/physics", "train/loss/general", "train/tokens"]
    assert pd.isna(wide.loc[3, "eval/loss/physics"]) and wide.loc[4, "eval/loss/physics"] == 1.8

    stages = run.stages()
    assert stages[["stage", "start", "end", "steps", "reason", "open"]].to_dict("records") == [
        {"stage": "general", "start": 0, "end": 5, "steps": 5, "reason": "plateau", "open": False},
        {"stage": "physics", "start": 5, "end": 10, "steps": 5, "reason": "finished", "open": True}]
    assert stages.loc[0, "evidence"] == {"window": 4, "slope": -0.01}
    assert stages.loc[0, "tokens"] == 500  # the stage's share of the cumulative train/tokens

    events = run.events()
    assert {"fit_start", "stage_start", "stage_end", "fit_end"} <= set(events["kind"])
    assert events[events["kind"] == "stage_start"]["data"].iloc[1]["mix"] == {"physics": 1.0}
    samples = run.samples("probe")
    assert samples[["step", "prompt", "text"]].values.tolist() == [[10, "F = m a; m = 2, a = 3; F =", "6"]]

    phases = run.phases()
    assert "eval/loss/physics" in phases["metrics"]
    assert [s["reason"] for s in phases["stages"]][:1] == ["plateau"]
    assert run.last_values()["eval/loss/physics"] == 1.0


def test_runs_table_and_metric_of_two_runs(two_runs):
    table = hh.runs(two_runs)
    assert table["run"].tolist() == ["baseline", "curriculum"]
    assert table["status"].tolist() == ["finished", "finished"]
    assert table["stages"].tolist() == [["general", "physics"]] * 2
    assert table["config.optim.lr"].tolist() == [1e-3, 3e-3]
    assert table["eval/loss/physics"].tolist() == [1.6, 1.0]
    assert table["last_step"].tolist() == [10, 10]

    df = hh.metric([two_runs / "curriculum", two_runs / "baseline"], "eval/loss/physics")
    assert list(df.columns) == ["curriculum", "baseline"]  # the order asked, not alphabetical
    assert df.index.tolist() == [2, 4, 6, 8, 10]
    assert df["baseline"].tolist() == [2.0, 1.9, 1.8, 1.7, 1.6]

    long = hh.metrics([two_runs / "curriculum", two_runs / "baseline"], "eval/loss/physics")
    assert long.groupby("run")["value"].min().to_dict() == {"baseline": 1.6, "curriculum": 1.0}


def test_readme_three_lines_run_as_written(two_runs, monkeypatch):
    """The README's notebook snippet, extracted and executed against two tiny runs."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    snippet = next(b for b in blocks if "import handhold.read" in b)
    lines = [ln for ln in snippet.strip().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert len(lines) == 3, snippet
    monkeypatch.chdir(two_runs.parent)
    ns: dict = {}
    *body, last = lines
    exec("\n".join(body), ns)  # noqa: S102 - the README's own code
    fig = eval(last, ns)  # noqa: S307 - the notebook cell's value: the figure it draws
    assert sorted(t.name for t in fig.data) == ["baseline", "curriculum"]
    drawn = {t.name: [y for y in t.y if y == y] for t in fig.data}
    assert drawn["curriculum"] == [2.0, 1.8, 1.5, 1.2, 1.0] and len(drawn["baseline"]) == 5


def test_imported_csv_run(tmp_path):
    from handhold.integrations.importer import import_run

    csv = tmp_path / "old.csv"
    csv.write_text("step,stage,train/loss,eval/loss/physics\n"
                   "1,warm,3.0,\n2,warm,2.5,2.4\n3,main,2.0,\n4,main,1.5,1.4\n", encoding="utf-8")
    path = import_run(csv, tmp_path / "runs" / "old")
    run = hh.open_run(path)
    assert run.metrics("eval/loss/physics")["value"].tolist() == [2.4, 1.4]
    assert run.metrics_wide()["train/loss"].tolist() == [3.0, 2.5, 2.0, 1.5]
    stages = run.stages()
    assert stages["stage"].tolist() == ["stage 0", "stage 1"]  # the importer numbers a CSV's stages
    assert stages["start"].tolist() == [1, 2] and stages["reason"].tolist()[0] == "requested"
    table = hh.runs(tmp_path / "runs")
    assert table.loc[0, "run"] == "old" and table.loc[0, "eval/loss/physics"] == 1.4


def test_not_a_run(tmp_path):
    with pytest.raises(StoreError, match="no run store"):
        hh.open_run(tmp_path)
    assert hh.runs(tmp_path).empty


def test_safe_beside_a_live_run(tmp_path):
    """A reader polls while ``handhold.init`` writes: every table it gets is whole (both keys of
    every step: one log call is one flush), the run reads as running, and the writer never waits."""
    path = tmp_path / "runs" / "live"
    started, done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with handhold.init(path, flush_every=2, flush_seconds=0.0) as run:
                for step in range(1, 1501):
                    run.log({"a": step, "b": -step}, step=step)
                    if step == 20:
                        started.set()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            started.set()
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert started.wait(30)
    seen, statuses = [], set()
    while not done.is_set():
        wide = hh.open_run(path).metrics_wide()
        assert wide.notna().all().all(), "a step with one of its two keys: a torn read"
        assert (wide["a"] == -wide["b"]).all()
        seen.append(len(wide))
        statuses.add(hh.runs(tmp_path / "runs").loc[0, "status"])
    thread.join()
    assert not errors, errors
    assert len(seen) >= 2 and seen == sorted(seen), seen  # it grew while being read
    assert "running" in statuses
    assert len(hh.open_run(path).metrics_wide()) == 1500


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export(two_runs, tmp_path, fmt):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    from typer.testing import CliRunner

    from handhold.cli import app

    out = tmp_path / f"export-{fmt}"
    res = CliRunner().invoke(app, ["export", str(two_runs / "curriculum"), "--format", fmt, "--out", str(out)])
    assert res.exit_code == 0, res.output
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    names = {p.name for p in out.iterdir()}
    assert names == {f"{t}.{fmt}" for t in hh.TABLES} | {"config.json", "phases.json"}
    run = hh.open_run(two_runs / "curriculum")
    metrics = read(out / f"metrics.{fmt}")
    pd.testing.assert_frame_equal(metrics, run.metrics(), check_dtype=False)
    wide = read(out / f"metrics_wide.{fmt}")
    assert wide["eval/loss/physics"].dropna().tolist() == [2.0, 1.8, 1.5, 1.2, 1.0]
    stages = read(out / f"stages.{fmt}")
    assert stages["reason"].tolist() == ["plateau", "finished"]
    assert json.loads(stages["evidence"][0]) == {"slope": -0.01, "window": 4}
    assert json.loads((out / "config.json").read_text())["optim"]["lr"] == 3e-3
    assert "metrics" in json.loads((out / "phases.json").read_text())


def test_export_refuses_a_bad_format_and_a_missing_run(tmp_path):
    from typer.testing import CliRunner

    from handhold.cli import app

    res = CliRunner().invoke(app, ["export", str(tmp_path), "--format", "xlsx", "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "parquet or csv" in res.output
    res = CliRunner().invoke(app, ["export", str(tmp_path), "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "no run store" in res.output


def test_import_handhold_stays_light():
    """``handhold.read`` is reached lazily: ``import handhold`` loads no pandas."""
    import subprocess

    code = "import sys, handhold; assert 'pandas' not in sys.modules; m = handhold.read; " \
           "assert m.__name__ == 'handhold.read'; print('ok')"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr
