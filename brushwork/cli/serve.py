"""CLI command `brushwork serve`: the web page and HTTP API (FastAPI under uvicorn), loopback by default."""
from __future__ import annotations

import logging
import socket
import sys
from typing import List, Optional

import typer

from ..errors import BrushworkError


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind; anything but loopback needs a token."),
    port: int = typer.Option(8000, help="Port to listen on."),
    token: Optional[str] = typer.Option(None, help="Require this token on /v1 (or set BRUSHWORK_TOKEN)."),
    workers: int = typer.Option(2, help="Stylizations running at once."),
    queue_size: int = typer.Option(8, help="Requests waiting beyond those; more get 503 + Retry-After."),
    timeout: float = typer.Option(120.0, help="Seconds a synchronous request may take (then 504)."),
    job_ttl: float = typer.Option(3600.0, help="Seconds a finished job and its files are kept."),
    read_timeout: float = typer.Option(30.0, help="Seconds a client may stall while uploading (then 408)."),
    allow_origin: Optional[List[str]] = typer.Option(
        None, "--allow-origin", metavar="URL",
        help="Also accept requests from pages of this site (e.g. https://example.org), to embed the page or call "
             "the API from it; repeatable. Other sites are refused."),
    limit: Optional[List[str]] = typer.Option(
        None, "--limit", metavar="NAME=VALUE",
        help="Change one of the server's limits, e.g. max_iterations=500 or job_time_limit=600; repeatable "
             "(the names are the fields of brushwork.server.Settings)."),
):
    """Serve the web page at / and the HTTP API under /v1 (OpenAPI at /docs); one line per request is logged."""
    import uvicorn

    from ..server import Settings, create_app

    settings = Settings(host=host, port=port, workers=workers, queue_size=queue_size, timeout=timeout,
                        job_ttl=job_ttl, read_timeout=read_timeout, allow_origins=tuple(allow_origin or ()),
                        **({"token": token} if token else {}))
    for item in limit or ():
        settings.set_limit(item)
    settings.check()
    sock = listen(host, port)  # before anything is printed: a busy port is one line, not a traceback
    app = create_app(settings)
    _log_to_terminal()
    typer.echo(f"brushwork: serving http://{host}:{port}/ (API docs at /docs)", err=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_keep_alive=5, limit_concurrency=256)
    uvicorn.Server(config).run(sockets=[sock])


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port; a port in use or an address this machine lacks is a one-line error."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise BrushworkError(f"cannot listen on {host}:{port} ({exc.strerror}); check --host") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        if sys.platform != "win32":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart at once after a stop
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        why = "the port is in use; stop the other server or pick another --port" if exc.errno in (98, 48, 10048) \
            else f"{exc.strerror}; try another --host or --port"
        raise BrushworkError(f"cannot listen on {host}:{port}: {why}") from None
    sock.set_inheritable(True)
    return sock


def _log_to_terminal() -> None:
    """The server's request lines and job failures go to stderr, one line each (tracebacks for failures)."""
    logger = logging.getLogger("brushwork.server")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
