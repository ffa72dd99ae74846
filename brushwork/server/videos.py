"""Video jobs: a thin layer over `brushwork.stylize_video`, with per-frame progress and cancellation."""
from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

from fastapi import HTTPException, UploadFile

from .. import api
from ..errors import BrushworkError
from .forms import StylizeForm, check_form
from .settings import Settings
from .uploads import read_image, sniff_video
from . import work

SUFFIX = {"video/mp4": ".mp4", "video/webm": ".webm", "video/x-msvideo": ".avi"}


def prepare(f: StylizeForm, video: UploadFile, consistency: float | None, settings: Settings, folder: Path):
    """Check the form, copy the clip and any uploaded paintings into the job's folder; returns the job's task."""
    if f.mask or f.keep_mask:
        raise HTTPException(400, "masks apply to photos, not to videos")
    check_form(f, settings, settings.max_job_size, need_content=False)
    media = sniff_video(video, settings.max_video_bytes)
    clip = folder / ("input" + SUFFIX[media])
    with open(clip, "wb") as out:
        shutil.copyfileobj(video.file, out, 1 << 20)
    styles = list(f.style)
    for i, upload in enumerate(f.style_image):
        path = folder / f"style{i}.png"
        read_image(upload, settings.max_image_bytes, f"style_image {i + 1}", long_side=api.MAX_STYLE_SIDE).save(path)
        styles.append(str(path))
    weights = [float(v) for v in f.style_weights.split(",")] if f.style_weights else None
    options = {k: v for k, v in {"strength": f.strength, "style_scale": f.style_scale, "draft_size": f.draft_size,
                                 "iterations": f.iterations, "seed": f.seed, "consistency": consistency}.items()
               if v is not None}
    return partial(_run, clip, styles, f.method, f.size, weights, f.preserve_color, options)


def _run(clip: Path, styles, method, size, weights, preserve_color, options, job):
    """Paint the clip into result.mp4 beside it, reporting frames done / frames in the clip."""
    from .. import stylize_video
    from ..video.io import probe

    try:
        total = max(1, probe(clip).frames or 1)
    except Exception as exc:
        raise BrushworkError(f"the video could not be read ({exc})") from None
    done = [0]

    def on_frame(_in, _out):
        done[0] += 1
        job.report(done[0] / total)

    out = clip.with_name("result.mp4")
    stylize_video(clip, out, styles, size=size, method=method, style_weights=weights, preserve_color=preserve_color,
                  overwrite=True, progress=False, stylizer=work.stylizer(method), on_frame=on_frame, **options)
    return out, "video/mp4"
