"""The curve readers of `analyze`: never reads wrong data without a word, never tracebacks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from handhold.cli import app
from handhold.phases.sources import SourceError, load_source

runner = CliRunner()


def analyze(*args):
    return runner.invoke(app, ["analyze", *map(str, args)])


@pytest.mark.parametrize("header, name", [("step,loss,loss", "loss"), ("step,loss,Step", "Step"),
                                          ("step,loss,step", "step")])
def test_duplicate_column_names_are_refused(tmp_path, header, name):
    p = tmp_path / "d.csv"
    p.write_text(header + "\n" + "\n".join(f"{i},{1 / (i + 1)},{i}" for i in range(50)) + "\n")
    with pytest.raises(SourceError, match=rf"^{p}:1: column '{name}' appears twice"):
        load_source(p)
    res = analyze(p)
    assert res.exit_code == 2 and "appears twice" in res.output and "Traceback" not in res.output


def test_excel_csv_with_bom_and_crlf_is_read(tmp_path):
    p = tmp_path / "excel.csv"
    rows = ["step,val/acc"] + [f"{i},{i / 100}" for i in range(100)]
    p.write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode("utf-8"))
    loaded = load_source(p)
    assert list(loaded.series) == ["val/acc"]
    steps, values = loaded.series["val/acc"]
    assert len(steps) == 100 and steps[-1] == 99 and values[50] == 0.5
    # the careful reader (a stage column) agrees
    p.write_bytes(("\ufeff" + "\r\n".join(r + (",stage" if i == 0 else ",a") for i, r in enumerate(rows))
                   + "\r\n").encode("utf-8"))
    assert len(load_source(p).series["val/acc"][0]) == 100


def test_tensorboard_file_damaged_mid_file_is_named(tmp_path):
    pytest.importorskip("tensorboard", reason="TensorBoard logs need the [tensorboard] extra")
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(tmp_path / "tb")) as w:
        for i in range(300):
            w.add_scalar("loss", 1 / (i + 1), i)
    (f,) = (tmp_path / "tb").glob("*tfevents*")
    data = bytearray(f.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 8] = b"\xde\xad\xbe\xef\x00\x11\x22\x33"
    f.write_bytes(bytes(data))
    with pytest.raises(SourceError, match="damaged") as info:
        load_source(tmp_path / "tb")
    assert str(f) in str(info.value)
    res = analyze(tmp_path / "tb")
    assert res.exit_code == 2 and "damaged" in res.output and "Traceback" not in res.output


def test_a_record_cut_short_at_the_end_is_a_live_file_not_damage(tmp_path):
    pytest.importorskip("tensorboard", reason="TensorBoard logs need the [tensorboard] extra")
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(tmp_path / "tb")) as w:
        for i in range(50):
            w.add_scalar("loss", 1 / (i + 1), i)
    (f,) = (tmp_path / "tb").glob("*tfevents*")
    f.write_bytes(f.read_bytes()[:-7])  # the writer is in the middle of its last record
    steps, _ = load_source(tmp_path / "tb").series["loss"]
    assert len(steps) == 49


@pytest.mark.parametrize("scale", [1e308, 1e200, -1e300])
def test_values_near_the_float_limit_are_one_line(tmp_path, scale):
    p = tmp_path / "big.csv"
    p.write_text("step,loss,acc\n" + "\n".join(f"{i},{scale * (0.9 + 0.1 * (i % 2))},{i / 100}"
                                              for i in range(100)) + "\n")
    res = analyze(p, "--json")
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    assert "'loss'" in res.output and "too large" in res.output


def test_large_but_workable_values_are_analysed(tmp_path):
    p = tmp_path / "ok.csv"
    p.write_text("step,loss\n" + "\n".join(f"{i},{1e100 * (2 - i / 100)}" for i in range(100)) + "\n")
    res = analyze(p, "--json")
    assert res.exit_code == 0, res.output
    (seg,) = json.loads(res.stdout)["metrics"]["loss"]["segments"]
    assert seg["trend"] == "declining" and np.isclose(seg["slope"], -1e98, rtol=1e-6)


@pytest.mark.parametrize("step", ["3e101", "nan", "inf", "-1e30"])
def test_steps_beyond_a_run_store_are_one_line_in_analyze(tmp_path, step):
    """Before: steps reaching 3e101 were analysed into 'declining, -0 +- 0'; a NaN step was
    read as a point."""
    from typer.testing import CliRunner

    from handhold.cli import app

    csv = tmp_path / "c.csv"
    csv.write_text("loss,step\n" + "".join(f"{1 / (i + 1)},{i}\n" for i in range(50)) + f"0.01,{step}\n")
    result = CliRunner().invoke(app, ["analyze", str(csv)])
    assert result.exit_code == 2 and result.output.startswith(f"error: {csv}:52: column 'step'"), result.output


def test_a_semicolon_or_tab_separated_csv_is_read(tmp_path):
    for sep in (";", "\t"):
        csv = tmp_path / "c.csv"
        csv.write_text(f"step{sep}val/acc\n0{sep}0.5\n1{sep}0.75\n")
        loaded = load_source(csv)
        assert list(loaded.series["val/acc"][1]) == [0.5, 0.75]
