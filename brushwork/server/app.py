"""The FastAPI app factory: routes, the single page at /, the guards, JSON errors, the pool and its TTL sweeper."""
from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from .. import __version__
from ..errors import BrushworkError
from . import jobs
from ..core import budget
from .middleware import Guard
from .origins import OriginRules
from .live import router as live_router
from .routes import router, style_list
from .settings import Settings
from .uploads import UploadBudget

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("brushwork.server")


def create_app(settings: Settings | None = None) -> FastAPI:
    """A ready-to-serve app; `settings` (checked) decide limits, pool sizes and the token."""
    settings = (settings or Settings()).check()
    memory = settings.memory_budget if settings.memory_budget is not None else budget.available()
    pool = jobs.Pool(settings.workers, settings.queue_size, settings.job_ttl, settings.max_jobs,
                     settings.max_job_bytes, memory, settings.job_time_limit)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        sweeper = asyncio.create_task(_sweep_forever(pool, min(30.0, max(0.2, settings.job_ttl / 4))))
        asyncio.get_running_loop().run_in_executor(None, style_list)  # the gallery's thumbnails, made once now
        try:
            yield
        finally:
            sweeper.cancel()
            await asyncio.to_thread(pool.close)

    app = FastAPI(title="brushwork", version=__version__, lifespan=lifespan,
                  description="Neural style transfer over HTTP: POST a photo and a style, get a painting.")
    app.state.settings, app.state.pool = settings, pool
    app.include_router(router)
    app.include_router(live_router)
    _error_handlers(app)
    rules = OriginRules(settings.host, settings.port, frozenset(settings.allow_origins))
    app.add_middleware(Guard, settings=settings, pool=pool, rules=rules, uploads=UploadBudget(settings.upload_budget))
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="page")
    return app


async def _sweep_forever(pool: jobs.Pool, every: float) -> None:
    """Delete expired jobs and their files every `every` seconds."""
    while True:
        await asyncio.sleep(every)
        await asyncio.to_thread(pool.sweep)


def _error_handlers(app: FastAPI) -> None:
    """Every error is JSON {"detail": "..."}; an unexpected one is logged here and never shown to the client."""

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"detail": "; ".join(parts)}, status_code=422)

    @app.exception_handler(BrushworkError)
    async def user_error(request: Request, exc: BrushworkError):
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(jobs.Full)
    async def full(request: Request, exc: jobs.Full):
        return JSONResponse({"detail": f"{exc}; try again shortly"}, status_code=503,
                            headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(jobs.Cancelled)
    async def cancelled(request: Request, exc: jobs.Cancelled):
        return JSONResponse({"detail": "the work was cancelled"}, status_code=409)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error (logged on the server)"}, status_code=500)
