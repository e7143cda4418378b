"""The dashboard's real-chat endpoints: streamed tokens (server-sent events) and two checkpoints
answering the same message side by side. Bounded like ``POST runs/{run}/chat``; every error is
a 4xx before the first byte of a stream (checkpoint, parameters and loading are checked first).

- ``POST runs/{run}/chat/stream``: the chat body; answers ``text/event-stream`` with one
  ``event: token`` per piece of text (``{"text": ...}``), then ``event: done`` with the reply
  (or ``event: error`` with ``{"detail": ...}`` if generation fails midway)
- ``POST runs/{run}/chat/compare``: ``{"message", "steps": [a, b], ...}``: ``{"replies": [...]}``
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Optional

from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .chat import Chat, ChatError, Reply

MAX_TURN_CHARS = 20_000  # one earlier message or reply; the chat keeps the newest 16,000 in all
Turn = Annotated[str, StringConstraints(max_length=MAX_TURN_CHARS)]


class ChatBody(BaseModel):
    """A chat request; non-finite numbers (NaN, Infinity) are refused."""

    model_config = ConfigDict(allow_inf_nan=False)

    message: str = Field(min_length=1)
    step: Optional[int] = Field(default=None, ge=0, le=10**12)
    history: list[tuple[Turn, Turn]] = Field(default_factory=list, max_length=50)
    max_new_tokens: Optional[int] = Field(default=None, ge=1, le=1024)
    temperature: Optional[float] = Field(default=None, ge=0.0, le=5.0)
    top_p: Optional[float] = Field(default=None, gt=0.0, le=1.0)


class CompareBody(ChatBody):
    step: None = None
    steps: list[Annotated[int, Field(ge=0, le=10**12)]] = Field(min_length=2, max_length=2)


def chat_status(exc: ChatError) -> int:
    """404: no such checkpoint; 409: the run's store is damaged; 422: a request that cannot be served."""
    text = str(exc)
    return 404 if "no checkpoint" in text else 409 if "run store" in text else 422


def add_chat_routes(app: FastAPI, chat: Chat, run_dir: Callable[[str], Path],
                    public: Callable[[str], str] = str) -> None:
    """Register the streaming and side-by-side chat endpoints on the dashboard app; ``public``
    takes the server's paths out of a message sent once the stream has begun."""

    @app.post("/api/runs/{run}/chat/stream")
    def chat_stream(run: str, body: ChatBody) -> StreamingResponse:
        d = run_dir(run)
        try:
            pieces = chat.start(d, body.step, body.message, body.history, max_new_tokens=body.max_new_tokens,
                                temperature=body.temperature, top_p=body.top_p)
        except ChatError as exc:
            raise HTTPException(chat_status(exc), str(exc)) from exc
        return StreamingResponse(_sse(pieces, public), media_type="text/event-stream",
                                 headers={"X-Accel-Buffering": "no"})

    @app.post("/api/runs/{run}/chat/compare")
    def chat_compare(run: str, body: CompareBody) -> dict[str, Any]:
        d = run_dir(run)
        if len(set(body.steps)) != len(body.steps):
            raise HTTPException(422, "steps: give two different checkpoints")
        try:
            replies = chat.compare(d, body.steps, body.message, body.history, max_new_tokens=body.max_new_tokens,
                                   temperature=body.temperature, top_p=body.top_p)
        except ChatError as exc:
            raise HTTPException(chat_status(exc), str(exc)) from exc
        return {"replies": [r.to_dict() for r in replies]}


def _sse(pieces: Iterator[str | Reply], public: Callable[[str], str] = str) -> Iterator[str]:
    try:
        for piece in pieces:
            if isinstance(piece, Reply):
                yield _event("done", piece.to_dict())
            else:
                yield _event("token", {"text": piece})
    except ChatError as exc:
        yield _event("error", {"detail": public(str(exc))})
    except Exception as exc:  # noqa: BLE001 - the stream has begun: it ends with an error event, never cut
        yield _event("error", {"detail": public(f"generation failed ({type(exc).__name__})")})


def _event(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n"
