"""The work behind the routes: one Stylizer per method for the whole process, progress fractions, encoding.

A thin layer over `brushwork.Stylizer`: requests arrive as decoded PIL images and checked options, and leave
as PNG/JPEG/WebP bytes.
"""
from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field

from PIL import Image

from .. import api
from ..core.images import load_image, resize, resize_long_side, to_pil

FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg"), "jpg": ("JPEG", "image/jpeg"),
           "webp": ("WEBP", "image/webp")}


_stylizers: dict[str, api.Stylizer] = {}
_stylizers_lock = threading.Lock()


def stylizer(method: str) -> api.Stylizer:
    """The process-wide Stylizer of a method (networks loaded once, style statistics cached and bounded)."""
    with _stylizers_lock:
        if method not in _stylizers:
            _stylizers[method] = api.Stylizer(method, progress=False)  # its style cache is a bounded LRU
        return _stylizers[method]


@dataclass
class Request:
    """A checked stylize request: images already decoded, options named as in the Python API."""
    content: Image.Image
    styles: list  # built-in names and PIL images, in that order
    method: str = api.DEFAULT_METHOD
    masks: list | None = None
    keep: Image.Image | None = None  # white = keep the photo here
    style_weights: list[float] | None = None
    preserve_color: str | None = None
    format: str = "png"
    options: dict = field(default_factory=dict)  # size, strength, seed, style_scale, draft_size


STAGE_SHARE = {"draft": (0.0, 0.3), "revise": (0.3, 1.0)}  # lapstyle's draft, then its revision levels


def progress_fn(report):
    """A callback that passes the method's Progress events on to `report` as a fraction of the whole run: the
    event's own `overall` where the method gives one, else the stage's share (draft, then revise; one stage)."""
    def on_event(p):
        if p.overall is not None:
            return report(p.overall)
        lo, hi = STAGE_SHARE.get(p.stage, (0.0, 1.0))
        return report(lo + (hi - lo) * min(1.0, p.fraction))

    return on_event


def memory_need(req: Request) -> float:
    """Bytes of memory the request is expected to need at its peak (the method's own estimate)."""
    return estimate_for(req.method, req.options, req.content.height, req.content.width)


def estimate_for(method: str, options: dict, h: int, w: int) -> float:
    """Bytes `method` with `options` is expected to need on (h, w) content beyond the networks (loaded once for the
    whole process); raises BrushworkError for bad options."""
    from ..core import budget

    opts = stylizer(method).options(method, **{k: v for k, v in options.items() if k != "consistency"})
    return budget.estimate(method, opts, h, w) - budget.BASE if method in budget.PER_PIXEL else 0.0


def run(req: Request, report=lambda f: None) -> tuple[bytes, str]:
    """Stylize one request and encode it; `report(fraction)` may raise to stop the work."""
    st = stylizer(req.method)
    out = st.stylize_tensor(req.content, req.styles, method=req.method, style_weights=req.style_weights,
                            masks=req.masks, preserve_color=req.preserve_color,
                            callback=progress_fn(report), **req.options)
    if req.keep is not None:
        photo = resize(load_image(req.content), tuple(out.shape[-2:]))
        keep = resize(load_image(req.keep).mean(1, keepdim=True), tuple(out.shape[-2:]))
        out = out * (1 - keep) + photo * keep
    return encode(to_pil(out), req.format)


@dataclass
class ExplainRequest:
    """A checked explain request: where one point of the photo takes its style from."""
    content: Image.Image
    style: object  # a built-in name or a PIL image
    at: tuple[float, float]  # (x, y) as fractions of the photo's width and height, in [0, 1]
    format: str = "png"


EXPLAIN_DRAFT = 256  # the photo's long side in the attention method's draft, where `explain` reads the attention


def explain_need(req: ExplainRequest) -> float:
    """Bytes of memory an explain request is expected to need: the attention method's draft of the photo."""
    return estimate_for("attention", {"size": EXPLAIN_DRAFT}, req.content.height, req.content.width)


def explain(req: ExplainRequest, report=lambda f: None) -> tuple[bytes, str]:
    """The painting under the heat map of where the photo's point takes its style from (`brushwork.explain`),
    encoded; `report(fraction)` may raise to stop the work before it starts."""
    from ..explain import PANEL, attention_map, heat_overlay

    report(0.0)
    photo = load_image(req.content)
    painting = load_image(api.check_source(req.style))
    h, w = photo.shape[-2:]
    at = (min(req.at[0] * w, w - 1e-3), min(req.at[1] * h, h - 1e-3))  # x = 1 is the last pixel's right edge
    heat = attention_map(photo, painting, at, draft_size=EXPLAIN_DRAFT)
    return encode(heat_overlay(resize_long_side(painting, PANEL), heat), req.format)


def encode(im: Image.Image, fmt: str) -> tuple[bytes, str]:
    """PNG, JPEG or WebP bytes and their media type."""
    pil_format, media = FORMATS[fmt]
    buf = io.BytesIO()
    im.save(buf, format=pil_format, **({"quality": 92} if pil_format != "PNG" else {}))
    return buf.getvalue(), media


def thumbnail(path, side: int = 160) -> bytes:
    """A small JPEG of a built-in style for the gallery."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((side, side))
        return encode(im, "jpeg")[0]
