"""What a hostile web page must not do to the dashboard, refused before any route runs.

- **DNS rebinding**: a page on ``evil.example`` whose name is re-pointed at 127.0.0.1 reaches
  the server with ``Host: evil.example``. Only loopback names (and those given with
  ``handhold serve --allow-host NAME``) are served: anything else is a 400.
- **Cross-site writes**: a form or ``fetch`` POST from another origin carries its ``Origin``;
  a write (any method but GET/HEAD/OPTIONS) whose Origin is not this server's is a 403.
  Clients that send no Origin (curl, scripts) are not browsers acting for a page.
- **Size**: request bodies over MAX_BODY (counted as they arrive, with or without a
  Content-Length) are a 413, query strings over MAX_QUERY a 414.

A plain ASGI middleware (added with ``app.add_middleware``): it sees every request, the
static files and pages included.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException

LOOPBACK = ("127.0.0.1", "localhost", "::1")
ANY = "*"  # --allow-host '*': serve every Host (behind a proxy that checks it)
MAX_BODY = 256 * 1024
MAX_QUERY = 16 * 1024
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def hostname(value: str) -> str | None:
    """``localhost:8765`` -> ``localhost``, ``[::1]:8765`` -> ``::1``; ``None`` if malformed."""
    try:
        parts = urlsplit("//" + value)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return None
    return parts.hostname


class Guard:
    """ASGI middleware: allowed hosts, same-origin writes, bounded bodies and query strings."""

    def __init__(self, app: Any, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.hosts = {h.lower().strip("[]") for h in (*LOOPBACK, *allowed_hosts)}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host_header = headers.get("host", "")
        host = hostname(host_header)
        if ANY not in self.hosts and (host is None or host.lower() not in self.hosts):
            return await _refuse(send, 400, f"Host {host_header[:100]!r} is not served here (DNS rebinding "
                                 "guard); start the server with `handhold serve --allow-host NAME` to allow it")
        origin = headers.get("origin")
        if scope["method"] not in SAFE_METHODS and origin is not None:
            parts = urlsplit(origin) if origin != "null" else None
            if parts is None or parts.netloc.lower() != host_header.lower():
                return await _refuse(send, 403, f"a write from origin {origin[:100]!r} is refused: only "
                                     "the dashboard's own pages may write")
        if len(scope.get("query_string", b"")) > MAX_QUERY:
            return await _refuse(send, 414, f"query string over {MAX_QUERY} bytes")
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return await _refuse(send, 413, f"request body over {MAX_BODY} bytes")
        seen = 0

        async def bounded_receive() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > MAX_BODY:  # FastAPI passes an HTTPException from here on as it is
                    raise HTTPException(413, f"request body over {MAX_BODY} bytes")
            return message

        await self.app(scope, bounded_receive, send)


async def _refuse(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
