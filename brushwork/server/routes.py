"""The HTTP API under /v1 (stylize, styles, jobs) and /healthz: thin handlers over `work` and the job pool."""
from __future__ import annotations

import asyncio
import base64
import time
from functools import lru_cache, partial

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request as HTTPRequest, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response

from .. import __version__
from ..assets import gallery
from . import jobs, videos, work
from .forms import StylizeForm, build_request, stylize_form
from .settings import MB

router = APIRouter()
IMAGE_BODY = 4 * 25 * MB + MB  # content + styles + masks (each file is also held to 25 MB); see middleware.Guard
JOB_BODY = 500 * MB + 4 * 25 * MB + MB
DEFAULT_BODY = MB
BODY_LIMITS = {"/v1/stylize": IMAGE_BODY, "/v1/jobs": JOB_BODY}


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
            "queue_size": s.queue_size, "max_image_mb": s.max_image_bytes // MB}


@router.get("/v1/styles", tags=["styles"])
def styles():
    """The built-in styles usable by name in `style`, with thumbnails."""
    return style_list()


@router.post("/v1/stylize", tags=["stylize"],
             responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}})
async def stylize(request: HTTPRequest, form: StylizeForm = Depends(stylize_form)):
    """Paint the photo in the given style(s); answers the picture (PNG, or JPEG/WebP by `format`)."""
    t0 = time.perf_counter()
    s, pool = request.app.state.settings, request.app.state.pool
    job = pool.new_job("image")

    def task(j: jobs.Job):
        return work.run(build_request(form, s, s.max_size), j.report)

    future = pool.start(job, task)
    try:
        left = max(0.1, s.timeout - (time.perf_counter() - t0))
        data, media = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), left)
    except asyncio.TimeoutError:
        job.cancel.set()
        raise HTTPException(504, f"the work took over {s.timeout:g} s; use POST /v1/jobs for long work") from None
    finally:
        if future.done():
            pool.drop(job.id)
        else:
            job.cancel.set()  # the worker drops it when it stops
    ms = (time.perf_counter() - t0) * 1000
    return Response(data, media_type=media, headers={"Server-Timing": f"stylize;dur={ms:.1f}",
                                                     "Cache-Control": "no-store"})


@router.post("/v1/jobs", tags=["jobs"], status_code=202)
async def create_job(request: HTTPRequest, form: StylizeForm = Depends(stylize_form),
                     video: UploadFile | None = File(None, description="A clip to paint (MP4/MOV, WebM, AVI) "
                                                                       "instead of a photo; the result is MP4."),
                     consistency: float | None = Form(None, description="[video] 0 = frame by frame, 1 = steadiest.")):
    """Start long work (a video; optimization at large sizes) and answer its id at once; poll GET /v1/jobs/{id}."""
    s, pool = request.app.state.settings, request.app.state.pool
    if video is not None and not video_available():
        raise HTTPException(415, "this server has no video support (brushwork.stylize_video is missing)")
    if video is None and form.content is None:
        raise HTTPException(400, "send the photo as the file field 'content' (or a clip as 'video')")
    if video is None and consistency is not None:
        raise HTTPException(400, "consistency only applies to a video")
    job = pool.new_job("video" if video is not None else "image")
    try:
        if video is not None:
            task = await run_in_threadpool(videos.prepare, form, video, consistency, s, job.folder)
        else:
            req = await run_in_threadpool(build_request, form, s, s.max_job_size)
            task = partial(_image_task, req)
    except BaseException:
        pool.abandon(job)
        raise
    pool.start(job, task).add_done_callback(lambda f: f.exception())  # errors live in the job record
    return JSONResponse(job.public(), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


def _image_task(req: work.Request, job: jobs.Job):
    """An image job: stylize and keep the result as a file in the job's folder until its TTL."""
    data, media = work.run(req, job.report)
    path = job.folder / ("result." + media.split("/")[1])
    path.write_bytes(data)
    return path, media


def _job(request: HTTPRequest, job_id: str) -> jobs.Job:
    job = request.app.state.pool.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id!r} (finished jobs are deleted after their time-to-live)")
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
    job = request.app.state.pool.cancel(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return {"id": job.id, "state": jobs.CANCELLED if job.state != jobs.DONE else "deleted"}
