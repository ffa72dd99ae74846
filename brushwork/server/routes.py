"""The HTTP API under /v1 (stylize, explain, styles, jobs) and /healthz: thin handlers over `work` and the job pool."""
from __future__ import annotations

import asyncio
import base64
import hmac
import time
from functools import lru_cache, partial
from pathlib import Path

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request as HTTPRequest, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response

from .. import __version__, api
from ..loaders import gallery
from . import jobs, videos, work
from .forms import (ExplainForm, StylizeForm, apply_quality, build_explain, build_request, explain_form, qualities,
                    stylize_form)
from .settings import MB

router = APIRouter()
STATIC = Path(__file__).parent / "static"
SECRET_HEADER = "X-Job-Secret"


def video_available() -> bool:
    """Whether this brushwork has `stylize_video` (video jobs are accepted only then)."""
    import brushwork

    return callable(getattr(brushwork, "stylize_video", None))


@lru_cache(maxsize=1)
def style_list() -> list[dict]:
    """The built-in styles with a small JPEG thumbnail each, as data URIs (no extra requests, no token needed)."""
    return [{"name": name, "title": row["title"],
             "thumbnail": "data:image/jpeg;base64," + base64.b64encode(work.thumbnail(row["path"])).decode()}
            for name, row in gallery.styles().items()]


@router.get("/healthz", tags=["meta"])
def healthz(request: HTTPRequest):
    """Liveness, version and what this server accepts."""
    s = request.app.state.settings
    return {"status": "ok", "version": __version__, "video": video_available(), "workers": s.workers,
            "queue_size": s.queue_size, "max_image_mb": s.max_image_bytes // MB, "methods": list(api.METHODS),
            "qualities": qualities()}


@router.get("/favicon.ico", include_in_schema=False)
def favicon():
    """The page's icon, for browsers that ask for it by its old name."""
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


@router.get("/v1/styles", tags=["styles"])
def styles():
    """The built-in styles usable by name in `style`, with thumbnails."""
    return style_list()


def _slot(request: HTTPRequest):
    """The pool slot the guard reserved for this request before its body was read (None if none was)."""
    return getattr(request.state, "slot", None)


def _summary(request: HTTPRequest, form: StylizeForm, kind: str = "") -> None:
    """What the request asks (a quality preset resolved into its method and size), for the one-line request log."""
    apply_quality(form)
    request.state.summary = f"{kind}{form.method} {form.size}px" + (f" ({form.quality})" if form.quality else "")


def _admit(pool: jobs.Pool, job: jobs.Job, need: float) -> None:
    """Count the job's memory with the work already admitted (503 if it must wait, 413 if it never fits)."""
    try:
        pool.admit(job, need)
    except ValueError as exc:
        raise HTTPException(413, str(exc)) from None


@router.post("/v1/stylize", tags=["stylize"],
             responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}})
async def stylize(request: HTTPRequest, form: StylizeForm = Depends(stylize_form)):
    """Paint the photo in the given style(s); answers the picture (PNG, or JPEG/WebP by `format`)."""
    t0 = time.perf_counter()
    s, pool = request.app.state.settings, request.app.state.pool
    _summary(request, form)
    job = pool.new_job("image", _slot(request))
    try:
        req = await run_in_threadpool(build_request, form, s, s.max_size)
        _admit(pool, job, await run_in_threadpool(work.memory_need, req))
    except BaseException:
        pool.abandon(job)
        raise
    return await _answer_now(request, job, lambda j: work.run(req, j.report), t0, "stylize")


async def _answer_now(request: HTTPRequest, job: jobs.Job, task, t0: float, name: str) -> Response:
    """Run an admitted job's task on the pool and answer its picture in this response (504 past the server's
    timeout); the job is forgotten once answered."""
    s, pool = request.app.state.settings, request.app.state.pool
    future = pool.start(job, task)
    try:
        left = max(0.1, s.timeout - (time.perf_counter() - t0))
        data, media = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), left)
    except asyncio.TimeoutError:
        job.cancel.set()
        raise HTTPException(504, f"the work took over {s.timeout:g} s; use POST /v1/jobs for long work") from None
    except jobs.TimeLimit:
        raise HTTPException(504, job.error or "the work ran past its time limit") from None
    finally:
        if future.done():
            pool.drop(job.id)
        else:
            job.cancel.set()  # the worker drops it when it stops
    ms = (time.perf_counter() - t0) * 1000
    return Response(data, media_type=media, headers={"Server-Timing": f"{name};dur={ms:.1f}",
                                                     "Cache-Control": "no-store"})


@router.post("/v1/explain", tags=["stylize"],
             responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}})
async def explain(request: HTTPRequest, form: ExplainForm = Depends(explain_form)):
    """Where the photo's point (x, y: fractions of its width and height) takes its style from, as the attention
    method sees it: the painting under a heat map of that point's attention (PNG, or JPEG/WebP by `format`)."""
    t0 = time.perf_counter()
    s, pool = request.app.state.settings, request.app.state.pool
    request.state.summary = f"explain at {form.x:.3g},{form.y:.3g}"
    job = pool.new_job("image", _slot(request))
    try:
        req = await run_in_threadpool(build_explain, form, s)
        _admit(pool, job, await run_in_threadpool(work.explain_need, req))
    except BaseException:
        pool.abandon(job)
        raise
    return await _answer_now(request, job, lambda j: work.explain(req, j.report), t0, "explain")


@router.post("/v1/jobs", tags=["jobs"], status_code=202)
async def create_job(request: HTTPRequest, form: StylizeForm = Depends(stylize_form),
                     video: UploadFile | None = File(None, description="A clip to paint (MP4/MOV, WebM, AVI) "
                                                                       "instead of a photo; the result is MP4."),
                     consistency: float | None = Form(None, description="[video] 0 = frame by frame, 1 = steadiest.")):
    """Start long work (a video; optimization at large sizes) and answer its id and secret at once; poll
    GET /v1/jobs/{id} (on a server with a token, send the secret as X-Job-Secret or ?secret=)."""
    s, pool = request.app.state.settings, request.app.state.pool
    _summary(request, form, "video " if video is not None else "job ")
    if video is not None and not video_available():
        raise HTTPException(415, "this server has no video support (brushwork.stylize_video is missing)")
    if video is None and form.content is None:
        raise HTTPException(400, "send the photo as the file field 'content' (or a clip as 'video')")
    if video is None and consistency is not None:
        raise HTTPException(400, "consistency only applies to a video")
    job = pool.new_job("video" if video is not None else "image", _slot(request))
    try:
        if video is not None:
            task, need = await run_in_threadpool(videos.prepare, form, video, consistency, s, job.folder)
        else:
            req = await run_in_threadpool(build_request, form, s, s.max_job_size)
            task, need = partial(_image_task, req), await run_in_threadpool(work.memory_need, req)
        _admit(pool, job, need)
    except BaseException:
        pool.abandon(job)
        raise
    pool.start(job, task).add_done_callback(lambda f: f.exception())  # errors live in the job record (and the log)
    return JSONResponse({**job.public(), "secret": job.secret}, status_code=202,
                        headers={"Location": f"/v1/jobs/{job.id}"})


def _image_task(req: work.Request, job: jobs.Job):
    """An image job: stylize and keep the result as a file in the job's folder until its TTL."""
    data, media = work.run(req, job.report)
    path = job.folder / ("result." + media.split("/")[1])
    path.write_bytes(data)
    return path, media


def _job(request: HTTPRequest, job_id: str) -> jobs.Job:
    """The job, if it exists and (on a server with a token) the request carries its secret."""
    job = request.app.state.pool.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id[:64]!r} (finished jobs are deleted after their time-to-live)")
    if request.app.state.settings.token:
        given = request.headers.get(SECRET_HEADER) or request.query_params.get("secret") or ""
        if not hmac.compare_digest(given.encode(), job.secret.encode()):
            raise HTTPException(403, f"this job belongs to whoever created it: send its secret as {SECRET_HEADER}")
    return job


@router.get("/v1/jobs/{job_id}", tags=["jobs"])
def job_status(request: HTTPRequest, job_id: str):
    """State (queued, running, done, failed, cancelled), progress in [0, 1] and ETA in seconds."""
    return _job(request, job_id).public()


@router.get("/v1/jobs/{job_id}/result", tags=["jobs"])
def job_result(request: HTTPRequest, job_id: str):
    """The finished job's file; 409 while it is still running."""
    job = _job(request, job_id)
    if job.state == jobs.FAILED:
        raise HTTPException(422, f"the job failed: {job.error}")
    if job.state != jobs.DONE or job.result is None or not job.result.exists():
        raise HTTPException(409, f"the job is {job.state}; wait until its state is done")
    return FileResponse(job.result, media_type=job.media_type, filename=f"brushwork-{job.id[:8]}{job.result.suffix}")


@router.delete("/v1/jobs/{job_id}", tags=["jobs"])
def cancel_job(request: HTTPRequest, job_id: str):
    """Cancel a queued or running job, or delete a finished one and its files."""
    job = request.app.state.pool.cancel(_job(request, job_id).id)
    if job is None:
        raise HTTPException(404, f"no job {job_id[:64]!r}")
    return {"id": job.id, "state": jobs.CANCELLED if job.state != jobs.DONE else "deleted"}
