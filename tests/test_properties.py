"""Property-based tests (hypothesis) of the readers of user input: the config loader, the ``--set``
parser and the CSV/TensorBoard readers of ``analyze``. Whatever the input, the answer is a
value or the module's own one-line error (ConfigError, SourceError), never another exception.

Bounded by a number of examples (a few seconds); HANDHOLD_FUZZ_EXAMPLES raises it for a hunt.
"""

from __future__ import annotations

import json
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


# ------------------------------------------------------------------------------ the Run API
GOOD_KEYS = st.from_regex(r"[a-z_][a-z0-9_.\-]{0,6}(/[a-z0-9_]{1,5}){0,2}", fullmatch=True)
ODD_KEYS = st.one_of(GOOD_KEYS, st.text(max_size=12), st.just("x" * 300), st.just("a//b"), st.integers(0, 3))
METRIC_VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**70), 2**70),
                          st.booleans(), st.just(10**400), st.none(), st.text(max_size=3),
                          st.lists(st.floats(), max_size=2), st.floats(width=32).map(np.float32),
                          st.integers(-5, 5).map(np.int64))
STEPS = st.one_of(st.none(), st.integers(-3, 40), st.integers(2**62, 2**65), st.floats(allow_nan=True),
                  st.sampled_from([2**63 - 1, 2**63, 0.5, True, "7", "x", -(2**63)]))
DATA = st.dictionaries(st.text(max_size=5), st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
                                                      st.text(max_size=5), st.none(),
                                                      st.lists(st.integers(), max_size=2)), max_size=3)
NESTED = st.one_of(METRIC_VALUES, st.dictionaries(ODD_KEYS, METRIC_VALUES, max_size=2))
CALLS = st.lists(st.one_of(
    st.tuples(st.just("log"), st.dictionaries(ODD_KEYS, NESTED, max_size=3), STEPS),
    st.tuples(st.just("event"), ODD_KEYS, STEPS, DATA),
    st.tuples(st.just("sample"), st.text(max_size=4), st.text(max_size=4), STEPS),
    st.tuples(st.just("stage"), st.text(max_size=4), STEPS)), max_size=12)


def _expected(value):
    if isinstance(value, (bool, int, float, np.number)):
        f = float(value)
        return f if math.isfinite(f) else None
    raise AssertionError(f"accepted a {type(value).__name__}")


def _flat(values, prefix=""):
    for k, v in values.items():
        key = f"{prefix}/{k}" if prefix else k
        if isinstance(v, dict):
            yield from _flat(v, key)
        else:
            yield key, v


@PROPS
@given(CALLS)
def test_run_api_calls_are_read_back_exactly_or_refused_writing_nothing(calls):
    """Arbitrary keys, values and steps: each call is accepted and read back exactly, or refused
    with the Run API's own error (TypeError, ValueError, RunError) and writes nothing; finish()
    always writes every accepted row and the status."""
    import handhold
    from handhold.runstore.db import RunStore
    from handhold.runstore.live import RunError

    folder = Path(tempfile.mkdtemp(dir=_TMP)) / "run"
    run = handhold.init(folder, flush_every=5, flush_seconds=3600)
    rows, events, samples, stages = [], [], [], []
    for call in calls:
        kind = call[0]
        try:
            if kind == "log":
                run.log(call[1], step=call[2])
            elif kind == "event":
                run.event(call[1], step=call[2], **call[3])
            elif kind == "sample":
                run.sample("probe", call[1], call[2], step=call[3])
            else:
                run.stage(call[1], step=call[2])
        except (TypeError, ValueError, RunError):
            continue
        if kind == "log":
            rows += [(run.step, k, _expected(v)) for k, v in _flat(call[1])]
        elif kind == "event":
            events.append((run.step, call[1], json.loads(json.dumps(call[3]))))
        elif kind == "sample":
            samples.append((run.step, call[1], call[2]))
        else:
            stages.append((run.step, call[1]))
    run.finish()
    with RunStore.reader(folder) as s:
        assert s.get_meta("status") == "finished"
        got = [tuple(r) for r in s.query("SELECT step, key, value FROM metrics ORDER BY rowid")]
        assert got == rows
        assert [(e.step, e.kind, e.data) for e in s.events() if e.kind not in
                ("fit_start", "fit_end", "stage_start", "stage_end")] == events
        assert [(x.step, x.prompt, x.text) for x in s.samples()] == samples
        assert [(e.step, e.data["stage"]) for e in s.events("stage_start")] == stages


# ------------------------------------------------------------------------------ the importers
STEP_CELLS = st.one_of(st.integers(0, 50), st.integers(-3, 3), st.floats(0, 20).map(lambda f: round(f, 1)),
                       st.sampled_from(["nan", "inf", str(2**63), "1e30", "", "x", "2.0"]))
VALUE_CELLS = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.just(""), st.integers().map(str))


def _import_outcome(source, out, **options):
    """Run an import: its result, or None after a one-line refusal that left nothing behind."""
    from handhold.integrations.importer import import_source
    from handhold.phases.sources import SourceError
    from handhold.runstore.live import RunError

    try:
        return import_source(source, out, **options)
    except (SourceError, RunError) as exc:
        assert "\n" not in str(exc) and not out.exists(), exc
        assert not [p for p in out.parent.iterdir() if ".importing-" in p.name]
        return None


OPTIONS = st.fixed_dictionaries({"on_duplicate": st.sampled_from(["error", "last", "first", "mean"]),
                                 "step_from": st.sampled_from(["source", "index"])})


def _stored_values(out):
    from handhold.runstore.db import RunStore

    with RunStore.reader(out) as s:
        return s.query("SELECT COUNT(*) FROM metrics WHERE key != 'import/source_step'").fetchone()[0]


@PROPS
@given(rows=st.lists(st.tuples(STEP_CELLS, VALUE_CELLS, VALUE_CELLS), min_size=1, max_size=12),
       sep=st.sampled_from([",", ";", "\t"]), options=OPTIONS)
def test_a_csv_import_keeps_every_value_or_says_why(rows, sep, options):
    """Every numeric cell is a stored value or one counted as merged (--on-duplicate), or the
    import is refused in one line and leaves nothing; never a traceback."""
    folder = Path(tempfile.mkdtemp(dir=_TMP))
    csv = folder / "in.csv"
    csv.write_text(f"step{sep}a{sep}b\n" + "".join(sep.join(map(str, r)) + "\n" for r in rows))
    result = _import_outcome(csv, folder / "run", **options)
    if result is None:
        return
    cells = sum(1 for r in rows for v in r[1:] if v.strip() and v != "nan")
    merged = sum(int(n.split()[0]) for n in result.notes if "were merged" in n)
    assert result.values + merged == cells == _stored_values(folder / "run") + merged


@PROPS
@given(points=st.lists(st.tuples(st.sampled_from(["loss", "acc/top1", "x" * 300, "odd tag!"]),
                                 st.integers(-5, 2**40), st.floats(allow_nan=True, allow_infinity=True, width=32)),
                       min_size=1, max_size=10), options=OPTIONS)
def test_a_tensorboard_import_keeps_every_value_or_says_why(points, options):
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    folder = Path(tempfile.mkdtemp(dir=_TMP))
    with SummaryWriter(str(folder / "tb")) as w:
        for tag, step, value in points:
            w.add_scalar(tag, value, step)
    result = _import_outcome(folder / "tb", folder / "run", **options)
    if result is None:
        return
    merged = sum(int(n.split()[0]) for n in result.notes if "were merged" in n)
    assert result.values + merged == len(points) and result.values == _stored_values(folder / "run")


TRACKIO_STEPS = st.one_of(st.integers(-2, 30), st.none(), st.floats(0, 5),
                          st.sampled_from(["3", "abc", 2.0**63, b"\x00"]))
TRACKIO_METRICS = st.one_of(
    st.dictionaries(st.sampled_from(["loss", "acc", "step", "val loss", "t" * 300]),
                    st.one_of(st.floats(allow_nan=True), st.integers(-(2**70), 2**70), st.text(max_size=3),
                              st.booleans(), st.none()), max_size=3).map(json.dumps),
    st.sampled_from(["[1, 2]", "{bad", "null", '"text"', ""]))


@PROPS
@given(rows=st.lists(st.tuples(st.sampled_from(["r", None]), TRACKIO_STEPS, TRACKIO_METRICS),
                     min_size=1, max_size=8),
       id_column=st.booleans(), config=st.one_of(st.none(), st.sampled_from(['{"lr": 0.1}', "[1]", "{bad", "null"])),
       options=OPTIONS)
def test_a_trackio_import_keeps_every_value_or_says_why(rows, id_column, config, options):
    import sqlite3

    folder = Path(tempfile.mkdtemp(dir=_TMP))
    db = folder / "p.db"
    conn = sqlite3.connect(db)
    conn.execute(f"CREATE TABLE metrics ({'id INTEGER PRIMARY KEY, ' if id_column else ''}run_name TEXT, step, metrics)")
    conn.executemany("INSERT INTO metrics (run_name, step, metrics) VALUES (?, ?, ?)", rows)
    if config is not None:
        conn.execute("CREATE TABLE configs (run_name TEXT, config TEXT)")
        conn.executemany("INSERT INTO configs VALUES (?, ?)", [(r, config) for r in ("r", None)])
    conn.commit()
    conn.close()
    names = {r[0] for r in rows}
    result = _import_outcome(db, folder / "run", run=None if len(names) == 1 else "r", **options)
    if result is None:
        return
    skipped = sum(int(n.split()[0]) for n in result.notes if "values not imported" in n)
    merged = sum(int(n.split()[0]) for n in result.notes if "were merged" in n)
    numbers = sum(1 for name, _, blob in rows if name == (next(iter(names)) if len(names) == 1 else "r")
                  for k, v in json.loads(blob).items() if k not in ("step", "timestamp"))
    assert result.values + merged + skipped == numbers and result.values == _stored_values(folder / "run")
