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
from hypothesis import HealthCheck, given, settings  # noqa: E402
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
