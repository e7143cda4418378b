"""The server's guard: a hostile web page (DNS rebinding, a cross-site
POST), absurd parameters and bodies get a 4xx with a message, never a 500, and the server
stays up."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from handhold.cli import app as cli_app  # noqa: E402
from handhold.views.dashboard import create_app  # noqa: E402

from test_dashboard_api import build_run  # noqa: E402 - a sibling test module (pytest puts its folder on the path)

HUGE = "99999999999999999999999"


@pytest.fixture
def root(tmp_path):
    build_run(tmp_path / "runs" / "demo")
    return tmp_path / "runs"


@pytest.fixture
def app(root):
    return create_app(root, phases_process=False)


def client(app, host="127.0.0.1:8765") -> TestClient:
    return TestClient(app, base_url=f"http://{host}")


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1.nip.io", "[::2]:8765"])
def test_a_foreign_host_header_is_refused(app, host):
    """DNS rebinding: a page on evil.example whose name now points at 127.0.0.1."""
    c = client(app, host)
    for path in ("/", "/api/runs", "/api/runs/demo/metrics"):
        res = c.get(path)
        assert res.status_code == 400, (path, res.text)
        assert "--allow-host" in res.json()["detail"]
    assert c.post("/api/runs/demo/chat", json={"message": "hi"}).status_code == 400


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:8765", "LOCALHOST", "[::1]:8765", "127.0.0.1"])
def test_loopback_names_are_served(app, host):
    assert client(app, host).get("/api/runs").status_code == 200


def test_allow_host_adds_a_name(root):
    app = create_app(root, phases_process=False, allowed_hosts=["box.lan"])
    assert client(app, "box.lan:8765").get("/api/runs").status_code == 200
    assert client(app, "other.lan:8765").get("/api/runs").status_code == 400
    assert client(app, "localhost:8765").get("/api/runs").status_code == 200


def test_writes_from_another_origin_are_refused(app):
    c = client(app)
    for origin in ("http://evil.example", "null", "http://localhost:3000", "http://127.0.0.1:9999"):
        res = c.post("/api/runs/demo/chat", json={"message": "hi"}, headers={"Origin": origin})
        assert res.status_code == 403, (origin, res.text)
        assert "origin" in res.json()["detail"].lower()
    # the page itself (same origin) and a client that sends no Origin (curl) get through to the API
    for headers in ({"Origin": "http://127.0.0.1:8765"}, {}):
        res = c.post("/api/runs/demo/chat", json={"message": "hi"}, headers=headers)
        assert res.status_code == 404 and "no checkpoint" in res.json()["detail"]
    # reads are not writes: a GET with a foreign Origin is answered (the browser keeps it from the page)
    assert c.get("/api/runs", headers={"Origin": "http://evil.example"}).status_code == 200


@pytest.mark.parametrize("path", [
    f"/api/runs/demo/metrics?since={HUGE}", f"/api/runs/demo/metrics?start={HUGE}",
    f"/api/runs/demo/metrics?end={HUGE}", f"/api/runs/demo/events?since={HUGE}",
    f"/api/runs/demo/samples?since={HUGE}", f"/api/runs/demo/metrics?since=-{HUGE}",
    "/api/runs/demo/metrics?max_points=" + HUGE, "/api/runs/demo/samples?limit=" + HUGE,
])
def test_huge_numbers_in_parameters_are_4xx(app, path):
    res = client(app).get(path)
    assert res.status_code == 422, res.text
    assert client(app).get("/api/runs").status_code == 200  # still up


def test_bodies_and_query_strings_are_bounded(app):
    c = client(app)
    res = c.post("/api/runs/demo/chat", content=b'{"message": "' + b"x" * 2_000_000 + b'"}',
                 headers={"Content-Type": "application/json"})
    assert res.status_code == 413 and "body" in res.json()["detail"]

    def chunks():  # no Content-Length: the bound is counted as the body arrives
        yield b'{"message": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    res = c.post("/api/runs/demo/chat", content=chunks(), headers={"Content-Type": "application/json"})
    assert res.status_code == 413
    res = c.get("/api/runs/demo/metrics?prefix=" + "a" * 20000)
    assert res.status_code == 414
    assert c.get("/api/runs").status_code == 200


def test_serve_passes_allow_host(root, monkeypatch):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    res = CliRunner().invoke(cli_app, ["serve", str(root), "--port", "0" if False else "18765",
                                       "--allow-host", "box.lan"])
    assert res.exit_code == 0, res.output
    c = client(seen["app"], "box.lan:18765")
    assert c.get("/api/runs").status_code == 200
    assert client(seen["app"], "evil.example").get("/api/runs").status_code == 400
