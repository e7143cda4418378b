"""Metric roles: names say what the common bookkeeping is, the user's word wins (run API, config
of the trainer, ``--role`` on analyze and import), and only signals are read for phases."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import handhold
from handhold.cli import app
from handhold.phases import analyze_store
from handhold.roles import parse_flags, role_by_name, role_of, stored_roles
from handhold.runstore.db import RunStore


@pytest.mark.parametrize("key, role", [
    ("eval/general/runtime", "system"), ("eval/physics/samples_per_second", "system"),
    ("eval/physics/steps_per_second", "system"), ("trainer/total_flos", "system"), ("train/tokens_per_s", "system"),
    ("eval/benchmarks_time_s", "system"), ("gpu/memory_allocated", "system"),
    ("train/epoch", "schedule"), ("train/lr", "schedule"), ("train/weight_decay", "schedule"),
    ("train/stage_index", "schedule"), ("train/tokens", "schedule"),
    ("eval/loss/general", "signal"), ("eval/family/reasoning", "signal"), ("probe/self_report/readiness", "signal"),
    ("train/grad_norm", "signal"), ("eval/arc_easy/acc_raw", "signal")])
def test_role_by_name(key, role):
    assert role_by_name(key) == role


def test_the_users_word_wins_and_is_stored(tmp_path):
    run = handhold.init(tmp_path / "r", roles={"eval/*/runtime": "signal"})
    run.set_roles({"train/grad_norm": "system"})
    run.set_roles({"eval/*/runtime": "system", "eval/special/runtime": "signal"})  # later word, and an exact key
    for step in range(40):
        run.log({"eval/loss/a": 2.0 - step / 40, "eval/special/runtime": 10.0 + (step > 20) * 30.0,
                 "eval/a/runtime": 1.0 + (step > 20) * 5, "train/grad_norm": 1.0}, step=step)
    with pytest.raises(ValueError, match="role must be one of signal, schedule, system"):
        run.set_roles({"x": "noise"})
    run.finish()
    with RunStore.reader(tmp_path / "r") as store:
        roles = stored_roles(store.meta())
        assert role_of("eval/a/runtime", roles) == "system" and role_of("eval/special/runtime", roles) == "signal"
        doc = analyze_store(store)
        assert set(doc["metrics"]) == {"eval/loss/a", "eval/special/runtime"}
        again = analyze_store(store, roles={"train/grad_norm": "signal"})  # an override at read time
        assert "train/grad_norm" in again["metrics"]


def test_role_flags_on_analyze_and_import(tmp_path):
    csv = tmp_path / "m.csv"
    csv.write_text("step,loss,eval_runtime,throughput\n" + "".join(
        f"{s},{2 - s / 50},{1 + (s > 25) * 4},{100 + s}\n" for s in range(50)))
    runner = CliRunner()
    out = runner.invoke(app, ["analyze", str(csv), "--json"])
    assert out.exit_code == 0, out.output
    assert set(json.loads(out.output)["metrics"]) == {"loss"}  # the runtime and throughput are system
    out = runner.invoke(app, ["analyze", str(csv), "--json", "--role", "eval_*=signal"])
    assert set(json.loads(out.output)["metrics"]) == {"loss", "eval_runtime"}
    bad = runner.invoke(app, ["analyze", str(csv), "--role", "loss=chart"])
    assert bad.exit_code == 2 and "role must be one of" in bad.output
    imported = runner.invoke(app, ["import", str(csv), "--out", str(tmp_path / "imp"), "--role", "throughput=signal"])
    assert imported.exit_code == 0, imported.output
    with RunStore.reader(tmp_path / "imp") as store:
        assert role_of("throughput", stored_roles(store.meta())) == "signal"
        assert set(analyze_store(store)["metrics"]) == {"loss", "throughput"}
    assert parse_flags(["a/*=system"]) == {"a/*": "system"}
    with pytest.raises(ValueError, match="expected KEY=ROLE"):
        parse_flags(["nokey"])
