"""Property-based tests (hypothesis) of the readers of user input: the config loader, the ``--set``
parser and the CSV/TensorBoard readers of ``analyze``. Whatever the input, the answer is a
value or the module's own one-line error (ConfigError, SourceError), never another exception.

Bounded by a number of examples (a few seconds); HANDHOLD_FUZZ_EXAMPLES raises it for a hunt.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from handhold.config import ConfigError, apply_override, load_config
from handhold.phases.sources import SourceError, load_source

N = int(os.environ.get("HANDHOLD_FUZZ_EXAMPLES", "40"))
# `make test` draws the same examples every time (no flaky CI); a hunt (the variable set) draws new ones
PROPS = settings(max_examples=N, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                 derandomize="HANDHOLD_FUZZ_EXAMPLES" not in os.environ)
BASE = {"name": "t", "stages": [{"name": "a", "mix": {"general": 1.0}, "until": {"steps": 10}}]}
KEYS = ["name", "seed", "model.arch", "model.config.n_embd", "model.config.n_head", "stages.0.until.steps",
        "stages.0.until.tokens", "stages.0.until.plateau", "stages.0.mix.general", "stages.0.mix.nope",
        "train.batch_size", "train.seq_len", "optim.lr", "optim.betas", "eval.every", "evals.suite",
        "checkpoint.keep", "sources.x", "probes.prompts", "stages", "stages.0", "stages.1.name"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
                    st.sampled_from(["9" * 400, "1e400", "2M", ".inf", "-1", "0", "[1", "!!python/name:os.system",
                                     "{type: text, path: nowhere.txt}", "{a: 1}"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=6)


def _write(data: bytes) -> Path:
    fd, name = tempfile.mkstemp(suffix=".yaml", dir=_TMP)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return Path(name)


_TMP = tempfile.mkdtemp(prefix="handhold-props-")


@PROPS
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_any_bytes_as_a_config_file(data):
    path = _write(data)
    try:
        load_config(path)
    except ConfigError as exc:
        assert all(p.startswith(str(path)) for p in exc.problems), exc.problems


@PROPS
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, min_size=1, max_size=4))
def test_any_values_at_known_keys(changes):
    """A valid config with keys replaced by odd values (as a file and as --set): valid, or
    ConfigError lines that name the file; never a traceback."""
    data = yaml.safe_load(yaml.safe_dump(BASE))
    for key, value in changes.items():
        try:
            apply_override(data, f"{key}={yaml.safe_dump(value, default_flow_style=True).strip()}")
        except ConfigError:
            return
        except yaml.representer.RepresenterError:
            assume(False)
    path = _write(yaml.safe_dump(data, allow_unicode=True).encode())
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        assert all(p.startswith(str(path)) for p in exc.problems), exc.problems
        return
    assert math.isfinite(cfg.optim.lr) and cfg.schedule_steps() > 0


@PROPS
@given(st.text(max_size=80))
def test_any_set_argument(item):
    data = yaml.safe_load(yaml.safe_dump(BASE))
    try:
        keypath = apply_override(data, item)
    except ConfigError as exc:
        assert str(exc).startswith("--set ")
        return
    assert isinstance(keypath, tuple) and keypath


# ------------------------------------------------------------------------------ CSV
NAMES = st.text(alphabet=st.characters(codec="utf-8", exclude_characters=",\r\n\"\ufeff"), min_size=1, max_size=12
                ).map(str.strip).filter(lambda s: s and s.lower() not in ("step", "stage"))


@PROPS
@given(st.binary(max_size=400))
def test_any_bytes_as_a_csv(data):
    path = Path(_TMP) / "any.csv"
    path.write_bytes(data)
    try:
        loaded = load_source(path)
    except SourceError as exc:
        assert str(exc).startswith(str(path)), exc
        return
    for steps, values in loaded.series.values():
        assert len(steps) == len(values)


@PROPS
@given(names=st.lists(NAMES, min_size=1, max_size=4, unique=True),
       rows=st.integers(min_value=1, max_value=30), seed=st.integers(0, 2**32 - 1),
       bom=st.booleans(), crlf=st.booleans(), step_first=st.booleans())
def test_a_numeric_csv_round_trips(names, rows, seed, bom, crlf, step_first):
    """Whatever the column names, the Excel BOM or the line ends: every value read is the value written."""
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(rows, len(names))) * 10.0 ** rng.integers(-5, 5)
    steps = np.cumsum(rng.integers(1, 5, size=rows))
    header = ["step", *names] if step_first else [*names, "step"]
    lines = [",".join(header)]
    for s, row in zip(steps, table):
        cells = [repr(float(v)) for v in row]
        lines.append(",".join([str(s), *cells] if step_first else [*cells, str(s)]))
    text = ("\r\n" if crlf else "\n").join(lines) + "\n"
    path = Path(_TMP) / "round.csv"
    path.write_bytes((("\ufeff" if bom else "") + text).encode("utf-8"))
    loaded = load_source(path)
    assert list(loaded.series) == names
    for j, name in enumerate(names):
        got_steps, got = loaded.series[name]
        assert np.array_equal(got_steps, steps) and np.array_equal(got, table[:, j])


# ------------------------------------------------------------------------------ TensorBoard
@pytest.fixture(scope="module")
def tb_file(tmp_path_factory) -> bytes:
    pytest.importorskip("tensorboard", reason="TensorBoard logs need the [tensorboard] extra")
    from torch.utils.tensorboard import SummaryWriter

    folder = tmp_path_factory.mktemp("tb")
    with SummaryWriter(str(folder)) as w:
        for i in range(60):
            w.add_scalar("loss", 1 / (i + 1), i)
    (f,) = folder.glob("*tfevents*")
    return f.read_bytes()


@PROPS
@given(data=st.data())
def test_a_damaged_tensorboard_file_is_named_or_read_whole(tb_file, data):
    """Bytes flipped, cut or appended anywhere: either every scalar is read (damage that no
    record covers, a cut tail) or a SourceError names the file; never a quiet partial read."""
    raw = bytearray(tb_file)
    kind = data.draw(st.sampled_from(["flip", "cut", "append"]))
    if kind == "flip":
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] ^= data.draw(st.integers(1, 255))
    elif kind == "cut":
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    else:
        raw += data.draw(st.binary(min_size=1, max_size=40))
    folder = Path(tempfile.mkdtemp(dir=_TMP))
    path = folder / "events.out.tfevents.1.host"
    path.write_bytes(bytes(raw))
    try:
        loaded = load_source(folder)
    except SourceError as exc:
        assert str(folder) in str(exc) or str(path) in str(exc), exc
        return
    steps, values = loaded.series["loss"]
    if kind == "flip":
        assert len(steps) == 60  # a flipped byte is caught by a checksum, or it changed nothing we read
    assert np.array_equal(steps, np.arange(len(steps)))
