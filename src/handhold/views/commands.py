"""``handhold serve`` and ``handhold chat``: the dashboard server and a terminal chat with a checkpoint.

Registered in ``handhold.cli``; heavy imports (FastAPI, transformers) stay inside the functions
so that ``handhold --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

console = Console()
err = Console(stderr=True)


from ..terminal import fail as _fail  # noqa: E402 - the one error exit


GRACE_S = 3  # seconds a stopping server gives the requests in flight


def serve(
    runs_dir: Annotated[Path, typer.Argument(help="a folder of runs (or one run directory)")] = Path("runs"),
    host: Annotated[str, typer.Option(help="address to bind; the default serves this machine only")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8765,
    allow_host: Annotated[Optional[list[str]], typer.Option(
        "--allow-host", help="a Host name to serve besides the loopback ones (repeatable; '*' for any): "
                             "the name other machines use to reach this one")] = None,
) -> None:
    """Serve the live dashboard: runs, curves with stage bands and phases, probe timeline, chat."""
    if not runs_dir.is_dir():
        _fail(f"{runs_dir}: no such directory (train a run first: handhold train CONFIG --out {runs_dir}/NAME)")
    from ..extras import MissingExtraError

    try:
        import uvicorn

        from .dashboard import create_app
    except MissingExtraError as exc:
        _fail(str(exc))
    except ImportError:
        _fail("'uvicorn' is needed for this feature: pip install 'handhold[dashboard]'")
    _check_port(host, port)
    hosts = list(allow_host or [])
    if host not in ("0.0.0.0", "::", ""):  # the address bound is a name this server answers to
        hosts.append(host)
    app = create_app(runs_dir, allowed_hosts=hosts)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning:[/] serving on {host}: anyone who can reach it can read these runs "
                  "and talk to their checkpoints")
    console.print(f"handhold dashboard: http://{host}:{port}/  (runs in {runs_dir.resolve()}; Ctrl-C stops)")
    # a request still running at SIGTERM / Ctrl-C is cancelled after a few seconds, never waited out;
    # the lifespan's end then stops the phases workers
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=GRACE_S)


def _check_port(host: str, port: int) -> None:
    """Fail with one line (exit 2) when the address cannot be bound, before uvicorn tries."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            sock.bind(infos[0][4])
    except OSError as exc:  # in use, not an address of this machine, unknown name
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def chat(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    step: Annotated[Optional[int], typer.Option(help="checkpoint step (default: the latest)")] = None,
    max_new_tokens: Annotated[int, typer.Option(min=1, max=1024, help="tokens per reply at most")] = 96,
    temperature: Annotated[float, typer.Option(min=0.0, max=5.0, help="0 = greedy")] = 0.7,
    top_p: Annotated[float, typer.Option(min=0.01, max=1.0, help="nucleus sampling: keep the most likely "
                                         "tokens up to this probability mass")] = 1.0,
    timeout: Annotated[float, typer.Option(min=0.1, help="seconds per reply at most")] = 20.0,
) -> None:
    """Talk to a checkpoint of a run; every exchange is saved to the run as a `chat` sample."""
    from ..terminal import quiet_libraries as _quiet_libraries
    from ..runstore.db import db_path
    from .chat import Chat, ChatError, ChatLimits, check_store, checkpoint_path

    if not db_path(run_dir).is_file():
        _fail(f"{run_dir}: not a handhold run (no run.db)")
    try:
        check_store(run_dir)  # every exchange is saved there: a damaged store is refused first
        step, _ = checkpoint_path(run_dir, step)
    except ChatError as exc:
        _fail(str(exc))
    _quiet_libraries()
    session = Chat(ChatLimits(max_new_tokens=max_new_tokens, timeout_s=timeout, temperature=temperature,
                              top_p=top_p))
    try:
        session.load(run_dir, step)  # a damaged checkpoint is one line here, not a traceback later
    except ChatError as exc:
        _fail(str(exc))
    history: list[tuple[str, str]] = []
    interactive = sys.stdin.isatty()
    console.print(f"chatting with {run_dir} at step {step} (empty line or Ctrl-D ends)")
    while True:
        try:
            message = console.input("[bold]you>[/] ") if interactive else input()
        except (EOFError, KeyboardInterrupt):
            break
        if not message.strip():
            break
        try:
            pieces = session.start(run_dir, step, message, history)
            console.print(f"[bold cyan]step {step}>[/] ", end="")
            for piece in pieces:  # tokens as they come
                if isinstance(piece, str):
                    console.print(piece, end="", markup=False, highlight=False)
                else:
                    reply = piece
        except ChatError as exc:
            err.print(f"[red]{exc}[/]", highlight=False)
            continue
        console.print()
        history.append((message, reply.text))
        console.print(f"[dim]({reply.new_tokens} tokens, {reply.seconds:.2f} s, stopped: {reply.stopped})[/]")
