"""Ray as the lab's engine: the same runs as training them one by one, results on disk as each run
finishes, an interrupted sweep resumes with only the missing runs, and a tiny map end to end with a
Ray-backed cell. One local Ray session (loopback only) serves the whole module: Ray starts slowly."""

import json

import pytest
import yaml
from typer.testing import CliRunner

from handhold.cli import app
from handhold.grok.config import load_grok_config
from handhold.grok.experiment import run_experiment

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow  # a Ray session takes 10-30 s to start on a busy machine

runner = CliRunner()

SMALL = {
    "name": "small", "seeds": 3,
    "task": {"ops": ["add"], "p": 7, "train_frac": 0.5},
    "model": {"d_model": 8, "heads": 2, "d_mlp": 16},
    "train": {"budget": {"steps": 8}, "stop_at_val": None},
    "eval": {"every": 4, "per_decade": 0},
    "measure": {"enabled": False},
    "variants": [{"name": "baseline", "baseline": True}, {"name": "ema", "grokfast": {"kind": "ema"}},
                 {"name": "subset", "curriculum": {"kind": "operand_subset", "fraction": 0.6,
                                                   "switch": {"steps": [4]}}}],
}


@pytest.fixture(scope="module")
def engine():
    from handhold.grok.ray_engine import RayEngine

    eng = RayEngine(num_cpus=2).start()
    yield eng
    eng.close()


def _curves(exp_dir, names=("baseline", "ema", "subset"), seeds=(0, 1, 2)):
    from handhold.runstore.db import RunStore

    out = {}
    for n in names:
        for s in seeds:
            with RunStore.reader(exp_dir / f"{n}-s{s}") as store:
                out[n, s] = (store.series("grok/val/loss"), store.series("grok/batch/loss"), store.get_meta("status"))
    return out


def test_ray_trains_the_same_runs_and_streams_them(engine, tmp_path):
    cfg = load_grok_config(data=SMALL)
    run_experiment(cfg, tmp_path / "seq", jobs=1)
    lines = []
    run_experiment(cfg, tmp_path / "ray", executor=engine, log=lines.append)
    assert sum("/9]" in line for line in lines) == 9  # each run reported as its task completed
    ref = _curves(tmp_path / "seq")
    assert ref[("subset", 2)][2] == "finished"
    assert _curves(tmp_path / "ray") == ref  # one thread per task, same seeds: identical runs
    lines = []  # batched seeds as one Ray task give what the batched path gives in this process
    run_experiment(cfg, tmp_path / "seq-b", jobs=1, batched=True)
    run_experiment(cfg, tmp_path / "ray-b", executor=engine, batched=True, log=lines.append)
    assert _curves(tmp_path / "ray-b") == _curves(tmp_path / "seq-b")


class Interrupted(Exception):
    pass


def test_an_interrupted_sweep_resumes_with_only_the_missing_runs(engine, tmp_path):
    from handhold.grok.lineage import reuse_verdict
    from handhold.provenance import code_version

    cfg = load_grok_config(data={**SMALL, "train": {"budget": {"steps": 40}, "stop_at_val": None}})
    seen = []

    def stop_after_two(line):
        seen.append(line)
        if sum("/9]" in x for x in seen) == 2:
            raise Interrupted  # the driver dies here; the engine cancels the tasks still pending

    with pytest.raises(Interrupted):
        run_experiment(cfg, tmp_path / "x", executor=engine, log=stop_after_two)
    code = code_version()
    specs = {s.variant: s.model_dump(mode="json") for s in cfg.runs()}
    finished = {(v, s) for v in specs for s in range(3)
                if reuse_verdict(tmp_path / "x" / f"{v}-s{s}", specs[v], s, code).reuse}
    assert 2 <= len(finished) < 9
    lines = []
    run_experiment(cfg, tmp_path / "x", executor=engine, log=lines.append)
    reused = {(ln.split()[1], int(ln.split()[2].rstrip(":")[1:])) for ln in lines if "reused" in ln}
    trained = [ln for ln in lines if "/9]" in ln and "reused" not in ln]
    assert reused == finished and len(trained) == 9 - len(finished)  # only the missing runs ran
    run_experiment(cfg, tmp_path / "seq", jobs=1)
    names = ("baseline", "ema", "subset")
    assert _curves(tmp_path / "x", names) == _curves(tmp_path / "seq", names)


def test_a_tiny_map_runs_end_to_end_with_a_ray_backed_cell(engine, tmp_path):
    grid = yaml.safe_load(open(_bundled("grok_map_cpu")))
    grid.update(name="tiny-map", seeds=2, headline_seeds=3, epochs=20)
    grid["base"].update(model={"d_model": 16, "heads": 2, "d_mlp": 32},
                        eval={"every": 5, "per_decade": 0}, train={"batch": "full", "stop_at_val": None})
    grid["axes"].update(p=[11], train_frac=[0.5], batch=["full", 16])
    grid["headline"] = [{"batch": "full"}]
    for arm in grid["arms"]:
        if "curriculum" in arm:
            arm["curriculum"]["switch"]["until"]["max_steps"] = 10
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(grid))
    res = runner.invoke(app, ["grok", "--grid", str(path), "--json", "--out", str(tmp_path / "g"), "--ray", "local",
                              "--jobs", "2", "--batched"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [(c["id"], c["seeds"]) for c in doc["cells"]] == [("add-p11-f0.5-full-adamw", 3),
                                                              ("add-p11-f0.5-b16-adamw", 2)]
    head = doc["cells"][0]
    assert [c["arm"] for c in head["comparisons"]] == ["subset-first-ready", "random-first-ready", "grokfast-ema",
                                                       "subset-first-ready+ema"]
    assert all(c["code"] for c in doc["cells"]) and doc["prediction"]["supported"] is None  # 2 cells: not testable
    assert ray.is_initialized()  # the module's session was used, not shut down by the command
    page = (tmp_path / "g" / "grid.html").read_text()
    assert "speedup_vs_delay.html" in page and (tmp_path / "g" / "speedup_vs_delay.html").is_file()
    seq = runner.invoke(app, ["grok", "--grid", str(path), "--json", "--out", str(tmp_path / "s"), "--jobs", "1", "--batched",
                              "--no-report"])
    assert seq.exit_code == 0, seq.output
    ref = json.loads(seq.stdout)
    steps = [[a["steps_to_val99"] for a in c["arms"]] for c in doc["cells"]]
    assert steps == [[a["steps_to_val99"] for a in c["arms"]] for c in ref["cells"]]  # Ray = one process


def _bundled(name):
    from handhold.grok.grid import bundled_grids

    return bundled_grids()[name]
