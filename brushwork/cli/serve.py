"""CLI command `brushwork serve`: the web page and HTTP API (FastAPI under uvicorn), loopback by default."""
from __future__ import annotations

from typing import Optional

import typer


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind; anything but loopback needs a token."),
    port: int = typer.Option(8000, help="Port to listen on."),
    token: Optional[str] = typer.Option(None, help="Require this token on /v1 (or set BRUSHWORK_TOKEN)."),
    workers: int = typer.Option(2, help="Stylizations running at once."),
    queue_size: int = typer.Option(8, help="Requests waiting beyond those; more get 503 + Retry-After."),
    timeout: float = typer.Option(120.0, help="Seconds a synchronous request may take (then 504)."),
    job_ttl: float = typer.Option(3600.0, help="Seconds a finished job and its files are kept."),
    read_timeout: float = typer.Option(30.0, help="Seconds a client may stall while uploading (then 408)."),
):
    """Serve the web page at / and the HTTP API under /v1 (OpenAPI at /docs)."""
    import uvicorn

    from ..server import Settings, create_app

    settings = Settings(host=host, port=port, workers=workers, queue_size=queue_size, timeout=timeout,
                        job_ttl=job_ttl, read_timeout=read_timeout, **({"token": token} if token else {}))
    app = create_app(settings)
    typer.echo(f"brushwork: serving http://{host}:{port}/ (API docs at /docs)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_keep_alive=5, limit_concurrency=256)
