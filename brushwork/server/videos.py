"""Video jobs: a thin layer over `brushwork.stylize_video`, with per-frame progress and cancellation."""
from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

import av
from fastapi import HTTPException, UploadFile

from .. import api
from ..errors import BrushworkError
from .forms import StylizeForm, check_form
from .jobs import scrub
from .settings import Settings
from .uploads import read_image, sniff_video
from . import work

SUFFIX = {"video/mp4": ".mp4", "video/webm": ".webm", "video/x-msvideo": ".avi"}


def prepare(f: StylizeForm, video: UploadFile, consistency: float | None, settings: Settings, folder: Path):
    """Check the form and the clip (length, resolution), copy the clip and any uploaded paintings into the job's
    folder; returns the job's task and the memory it is expected to need."""
    if f.mask or f.keep_mask:
        raise HTTPException(400, "masks apply to photos, not to videos")
    check_form(f, settings, settings.max_job_size, need_content=False)
    if consistency is not None and not 0.0 <= consistency <= 1.0:
        raise HTTPException(400, f"consistency must be between 0 and 1, got {consistency}")
    media = sniff_video(video, settings.max_video_bytes)
    clip = folder / ("input" + SUFFIX[media])
    with open(clip, "wb") as out:
        shutil.copyfileobj(video.file, out, 1 << 20)
    frames = check_clip(clip, settings)
    styles = list(f.style)
    for i, upload in enumerate(f.style_image):
        path = folder / f"style{i}.png"
        read_image(upload, settings.max_image_bytes, f"style_image {i + 1}", long_side=api.MAX_STYLE_SIDE).save(path)
        styles.append(str(path))
    weights = [float(v) for v in f.style_weights.split(",")] if f.style_weights else None
    options = {k: v for k, v in {"strength": f.strength, "style_scale": f.style_scale, "draft_size": f.draft_size,
                                 "iterations": f.iterations, "seed": f.seed, "consistency": consistency}.items()
               if v is not None}
    try:
        need = work.estimate_for(f.method, {**options, "size": f.size}, f.size, f.size)  # a square: the upper bound
    except BrushworkError as exc:
        raise HTTPException(400, str(exc)) from None
    return partial(_run, clip, styles, f.method, f.size, weights, f.preserve_color, options, frames,
                   settings.max_video_frames), need


def check_clip(clip: Path, settings: Settings) -> int:
    """The clip's frame count (0 if its container does not say); 413 past the server's length or resolution caps."""
    from ..video.io import probe

    try:
        info = probe(clip)
        with av.open(str(clip), metadata_errors="ignore") as c:
            seconds = float(c.duration / av.time_base) if c.duration else 0.0
    except (BrushworkError, av.error.FFmpegError, OSError) as exc:
        raise HTTPException(415, f"the video could not be read ({scrub(str(exc))})") from None
    seconds = seconds or (info.frames / float(info.rate) if info.frames and info.rate else 0.0)
    if info.width * info.height > settings.max_video_pixels:
        raise HTTPException(413, f"the video is {info.width}x{info.height}; this server takes clips of at most "
                                 f"{settings.max_video_pixels / 1e6:.1f} megapixels a frame")
    if info.frames > settings.max_video_frames:
        raise HTTPException(413, f"the video has {info.frames} frames; this server takes at most "
                                 f"{settings.max_video_frames}")
    if seconds > settings.max_video_seconds:
        raise HTTPException(413, f"the video is {seconds:.0f} s long; this server takes at most "
                                 f"{settings.max_video_seconds:g} s")
    return info.frames


def _run(clip: Path, styles, method, size, weights, preserve_color, options, frames, max_frames, job):
    """Paint the clip into result.mp4 beside it, reporting frames done / frames in the clip; a clip whose
    container hid its length is stopped at the frame cap."""
    from .. import stylize_video

    total = max(1, frames or max_frames)
    done = [0]

    def on_frame(_in, _out):
        done[0] += 1
        if done[0] > max_frames:
            raise BrushworkError(f"the video has more than {max_frames} frames, the most this server takes")
        job.report(done[0] / total)

    out = clip.with_name("result.mp4")
    stylize_video(clip, out, styles, size=size, method=method, style_weights=weights, preserve_color=preserve_color,
                  overwrite=True, progress=False, stylizer=work.stylizer(method), on_frame=on_frame, **options)
    return out, "video/mp4"
