"""Fuzz the dashboard API from its own OpenAPI document: no request gets a 5xx, the server stays up.

Two searches, each bounded by a number of examples (a few seconds; raise HANDHOLD_FUZZ_EXAMPLES
for a longer hunt):

- schemathesis draws valid and invalid requests for every operation from the schema;
- a hand-made strategy sends the values schemas leave out (integers past 2**64, NaN, huge
  or odd strings) to every query parameter the schema names (``since=99999999999999999999999`` was a 500).
"""

from __future__ import annotations

import os

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_dashboard_api import build_run  # noqa: E402 - a sibling test module (pytest puts its folder on the path)

from handhold.views.dashboard import create_app  # noqa: E402

EXAMPLES = int(os.environ.get("HANDHOLD_FUZZ_EXAMPLES", "25"))
BASE = "http://127.0.0.1:8765"
# `make test` draws the same examples every time (no flaky CI); a hunt (the variable set) draws new ones
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                derandomize="HANDHOLD_FUZZ_EXAMPLES" not in os.environ)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz") / "runs"
    build_run(root / "demo")
    app = create_app(root, phases_process=False)
    client = TestClient(app, base_url=BASE, raise_server_exceptions=False)
    # let the phases worker thread finish its first analysis (and its imports) before fuzzing:
    # CPython 3.11.7's ast.parse is not thread-safe ("AST constructor recursion depth mismatch"
    # when hypothesis describes a lambda while another thread parses), an error of the tools
    import time

    deadline = time.monotonic() + 60
    while client.get("/api/runs/demo/panels").json()["phases"].get("pending") and time.monotonic() < deadline:
        time.sleep(0.2)
    return app, client


def _send(client: TestClient, kwargs: dict) -> int:
    body = {k: kwargs[k] for k in ("json", "data", "content") if k in kwargs}
    if "data" in body:
        body["content"] = body.pop("data")
    res = client.request(kwargs["method"], kwargs["url"], params=kwargs.get("params"),
                         headers={k: v for k, v in kwargs.get("headers", {}).items() if k.lower() != "host"},
                         **body)
    return res.status_code


def test_schemathesis_finds_no_5xx(served):
    app, client = served
    schema = schemathesis.openapi.from_dict(app.openapi())
    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    strategy = st.one_of(*[schema.as_strategy(generation_mode=m, path_parameters={"run": "demo"}) for m in modes],
                         schema.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE))
    seen = []

    @FUZZ
    @given(case=strategy)
    def check(case):
        status = _send(client, case.as_transport_kwargs(base_url=BASE))
        seen.append(status)
        assert status < 500, f"{case.method} {case.formatted_path} {case.query} {case.body!r}: {status}"

    check()
    assert any(s == 200 for s in seen) and any(400 <= s < 500 for s in seen)  # both kinds were tried
    assert client.get("/api/runs").status_code == 200


NASTY = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.sampled_from(["99999999999999999999999", "-1", "NaN", "Infinity", "-inf", "1e309", "0x10", "",
                     " ", "%", "_", "\\", "'; DROP TABLE metrics; --", "..", "../../etc/passwd", "\x00"]),
    st.text(max_size=300),
)


def test_odd_query_values_get_4xx_not_5xx(served):
    app, client = served
    doc = app.openapi()
    gets = [(path.replace("{run}", "demo"), [p["name"] for p in op.get("parameters", []) if p["in"] == "query"])
            for path, ops in doc["paths"].items() for method, op in ops.items() if method == "get"]
    gets = [(path, names) for path, names in gets if names]
    assert gets, "the schema names no query parameters"

    @FUZZ
    @given(data=st.data())
    def check(data):
        path, names = data.draw(st.sampled_from(gets))
        params = data.draw(st.dictionaries(st.sampled_from(names), NASTY, min_size=1, max_size=3))
        status = client.get(path, params=params).status_code
        assert status < 500, f"GET {path} {params!r}: {status}"

    check()
    assert client.get("/api/runs").status_code == 200


@pytest.fixture(scope="module")
def served_answers(tmp_path_factory):
    """A run with wrong answers to review (step 10) and a checkpoint to chat with (step 10)."""
    from review_runs import answers_run
    from test_dashboard_api import tiny_checkpoint

    from handhold.views.chat import ChatLimits

    root = tmp_path_factory.mktemp("fuzz-answers") / "runs"
    answers_run(root / "demo")
    tiny_checkpoint(root / "demo", 10)
    app = create_app(root, phases_process=False, chat_limits=ChatLimits(max_new_tokens=4, timeout_s=2.0))
    return app, TestClient(app, base_url=BASE, raise_server_exceptions=False)


def test_schemathesis_on_the_review_and_chat_routes_finds_no_5xx(served_answers):
    """The writes (labels, chat exchanges) on a run that has answers and a checkpoint, so that
    requests get past "not found" into the code that writes: valid and invalid bodies, any step."""
    app, client = served_answers
    schema = schemathesis.openapi.from_dict(app.openapi()).include(path_regex="/(review|chat)")
    assert len(list(schema.get_all_operations())) >= 4  # review, label, chat, stream, compare
    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    strategy = st.one_of(*[schema.as_strategy(generation_mode=m, path_parameters={"run": "demo"}) for m in modes])
    seen = []

    @FUZZ
    @given(case=strategy)
    def check(case):
        status = _send(client, case.as_transport_kwargs(base_url=BASE))
        seen.append(status)
        assert status < 500, f"{case.method} {case.formatted_path} {case.query} {case.body!r}: {status}"

    check()
    assert any(400 <= s < 500 for s in seen)
    assert client.get("/api/runs/demo/review").status_code == 200


REVIEW_AND_CHAT_BODIES = st.fixed_dictionaries({}, optional={
    "message": st.one_of(st.text(max_size=50), st.integers(), st.none()),
    "step": st.one_of(st.sampled_from([10, 2**63, 2**64, -1, 10.5, "10"]),
                      st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True)),
    "steps": st.lists(st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.just(10)), max_size=3),
    "history": st.one_of(st.lists(st.tuples(st.text(max_size=5), st.text(max_size=5)), max_size=2), st.text()),
    "max_new_tokens": st.one_of(st.integers(min_value=-5, max_value=2**40), st.floats()),
    "temperature": st.one_of(st.floats(), st.text(max_size=3)),
    "top_p": st.floats(),
    "task": st.one_of(st.just("arc_easy"), st.text(max_size=20)),
    "doc_id": st.one_of(st.sampled_from(["1", "2", "3"]), st.text(max_size=20), st.integers()),
    "label": st.one_of(st.sampled_from(["sound", "unsound", "", None]), st.text(max_size=20)),
    "answer": st.one_of(st.none(), st.text(max_size=20)),
})


def test_odd_review_and_chat_bodies_get_4xx_not_5xx(served_answers):
    """Values the schemas leave out (steps past 2**63, NaN, wrong types) in every write body."""
    app, client = served_answers
    writes = [(method.upper(), path.replace("{run}", "demo")) for path, ops in app.openapi()["paths"].items()
              for method in ops if method in ("post", "put") and ("review" in path or "chat" in path)]
    assert len(writes) >= 4

    @FUZZ
    @given(target=st.sampled_from(writes), body=REVIEW_AND_CHAT_BODIES)
    @example(target=("PUT", "/api/runs/demo/review/label"),  # what the fuzz found: SQLite's OverflowError
             body={"step": 2**63, "task": "arc_easy", "doc_id": "1", "label": "sound"})
    def check(target, body):
        method, path = target
        status = client.request(method, path, json=body).status_code
        assert status < 500, f"{method} {path} {body!r}: {status}"

    check()
