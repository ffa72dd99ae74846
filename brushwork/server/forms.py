"""The multipart forms of POST /v1/stylize and /v1/jobs (fields named as the CLI's options) and of /v1/explain, and
their checks.

Styles are built-in names (`style`) or uploaded files (`style_image`), never paths; masks follow the styles'
order (names first, then files). Everything is checked here and turned into a `work.Request`.
"""
from __future__ import annotations

from dataclasses import dataclass

from fastapi import File, Form, HTTPException, UploadFile

from .. import api
from ..errors import BrushworkError
from ..loaders import gallery
from ..core.color import check_mode
from .settings import Settings
from .uploads import read_image
from .work import FORMATS, ExplainRequest, Request

METHOD_ONLY = {"draft_size": "lapstyle", "iterations": "optimize"}
DEFAULT_SIZE = 512


@dataclass
class StylizeForm:
    """The raw form fields, as FastAPI parsed them."""
    content: UploadFile | None
    style: list[str]
    style_image: list[UploadFile]
    mask: list[UploadFile]
    keep_mask: UploadFile | None
    method: str | None
    size: int | None
    strength: float | None
    style_weights: str | None
    preserve_color: str | None
    style_scale: float | None
    draft_size: int | None
    iterations: int | None
    seed: int
    format: str
    quality: str | None = None


def stylize_form(
    content: UploadFile | None = File(None, description="The photo to paint (PNG, JPEG, WebP, GIF, BMP, TIFF)."),
    style: list[str] = Form([], description="A built-in style name (GET /v1/styles); repeat to blend."),
    style_image: list[UploadFile] = File([], description="A painting to take the style of; repeatable."),
    mask: list[UploadFile] = File([], description="Region mask per style, in style order (white = that style)."),
    keep_mask: UploadFile | None = File(None, description="White where the photo is kept as it is."),
    method: str | None = Form(None, description="lapstyle (fast; the default), attention, adain or optimize (slow)."),
    size: int | None = Form(None, description="Long side of the output in pixels (512 unless a quality says)."),
    strength: float | None = Form(None, description="0 = the photo, 1 = all style."),
    style_weights: str | None = Form(None, description="Blend weights, one per style, e.g. 0.7,0.3."),
    preserve_color: str | None = Form(None, description="luminance or histogram: keep the photo's colours."),
    style_scale: float | None = Form(None, description="Scale of the style's strokes (1 = as is)."),
    draft_size: int | None = Form(None, description="[lapstyle] 256 (default) or 128 (faster)."),
    iterations: int | None = Form(None, description="[optimize] Iterations at the first scale."),
    seed: int = Form(0, description="Same seed, same picture."),
    format: str = Form("png", description="png, jpeg or webp."),
    quality: str | None = Form(None, description="A preset (GET /healthz lists them) that picks the method and "
                                                 "size for you, e.g. fast, balanced or best."),
) -> StylizeForm:
    """FastAPI dependency: the form fields (documented in the OpenAPI schema at /docs)."""
    return StylizeForm(content, style, style_image, mask, keep_mask, method, size, strength, style_weights,
                       preserve_color, style_scale, draft_size, iterations, seed, format, quality)


def qualities() -> list[dict]:
    """The API's quality presets as [{"name", "label", "method"}] for the page."""
    return [{"name": name, "label": f"{name}: {about}", "method": method}
            for name, (method, _, about) in getattr(api, "QUALITY", {}).items()]


def apply_quality(f: StylizeForm) -> None:
    """Fill the method and options a `quality` preset stands for into the form (fields the client sent win, as
    in the Python API), then the defaults; 400 for an unknown preset."""
    named = {k: getattr(f, k) for k in ("size", "draft_size", "iterations", "style_scale", "strength")}
    try:
        f.method, options = api.apply_quality(f.quality, f.method, {k: v for k, v in named.items() if v is not None})
    except BrushworkError as exc:
        raise HTTPException(400, str(exc)) from None
    for name, value in options.items():
        if name in named:
            setattr(f, name, value)
    f.size = DEFAULT_SIZE if f.size is None else f.size


def _weights(text: str | None, n: int) -> list[float] | None:
    if not text:
        return None
    try:
        weights = [float(v) for v in text.split(",")]
    except ValueError:
        raise HTTPException(400, f"style_weights must be numbers separated by commas, got {text!r}") from None
    if len(weights) != n:
        raise HTTPException(400, f"{len(weights)} style_weights for {n} styles; give one per style")
    return weights


def check_form(f: StylizeForm, settings: Settings, max_size: int, need_content: bool = True) -> None:
    """Cheap checks of the fields (no decoding): 400 with what is wrong."""
    if need_content and f.content is None:
        raise HTTPException(400, "send the photo as the file field 'content'")
    apply_quality(f)
    if f.method not in api.METHODS:
        raise HTTPException(400, f"unknown method {f.method!r}; choose one of {', '.join(api.METHODS)}")
    n = len(f.style) + len(f.style_image)
    if n == 0:
        raise HTTPException(400, "give a style: 'style' (a built-in name) or 'style_image' (a file)")
    if n > settings.max_styles:
        raise HTTPException(400, f"{n} styles; at most {settings.max_styles}")
    unknown = [s for s in f.style if s not in gallery.styles()]
    if unknown:
        raise HTTPException(400, f"unknown style {unknown[0]!r}; see GET /v1/styles (files go in 'style_image')")
    if f.mask and len(f.mask) != n:
        raise HTTPException(400, f"{len(f.mask)} masks for {n} styles; give one mask per style")
    if not 16 <= f.size <= max_size:
        raise HTTPException(400, f"size must be between 16 and {max_size} px here, got {f.size}")
    if f.iterations is not None and not 1 <= f.iterations <= settings.max_iterations:
        raise HTTPException(400, f"iterations must be between 1 and {settings.max_iterations} here, got {f.iterations}")
    top = settings.max_style_scale
    if f.style_scale is not None and not 1 / top <= f.style_scale <= top:
        raise HTTPException(400, f"style_scale must be between {1 / top:g} and {top:g} here, got {f.style_scale:g}")
    if f.strength is not None and not 0.0 <= f.strength <= 1.0:
        raise HTTPException(400, f"strength must be between 0 and 1, got {f.strength}")
    if f.format.lower() not in FORMATS:
        raise HTTPException(400, f"unknown format {f.format!r}; choose png, jpeg or webp")
    for name, owner in METHOD_ONLY.items():
        if getattr(f, name) is not None and f.method != owner:
            raise HTTPException(400, f"{name} only applies to method {owner} (this request uses {f.method})")
    try:
        check_mode(f.preserve_color)
    except Exception as exc:
        raise HTTPException(400, str(exc)) from None
    _weights(f.style_weights, n)


def build_request(f: StylizeForm, settings: Settings, max_size: int) -> Request:
    """Decode the uploads (checked by content and size) into a work.Request; raises HTTPException."""
    check_form(f, settings, max_size)
    limit = settings.max_image_bytes
    content = read_image(f.content, limit, "content", long_side=f.size)
    styles = list(f.style) + [read_image(u, limit, f"style_image {i + 1}", long_side=api.MAX_STYLE_SIDE)
                              for i, u in enumerate(f.style_image)]
    masks = [read_image(u, limit, f"mask {i + 1}", long_side=f.size) for i, u in enumerate(f.mask)] or None
    keep = read_image(f.keep_mask, limit, "keep_mask", long_side=f.size) if f.keep_mask else None
    options = {"size": f.size, "strength": f.strength, "style_scale": f.style_scale, "draft_size": f.draft_size,
               "iterations": f.iterations, "seed": f.seed}
    return Request(content=content, styles=styles, method=f.method, masks=masks, keep=keep,
                   style_weights=_weights(f.style_weights, len(styles)), preserve_color=f.preserve_color,
                   format=f.format.lower(), options={k: v for k, v in options.items() if v is not None})


EXPLAIN_CONTENT_SIDE, EXPLAIN_STYLE_SIDE = 512, 512  # the attention map reads the photo at 256 px, the painting at 512


@dataclass
class ExplainForm:
    """The raw fields of POST /v1/explain."""
    content: UploadFile | None
    style: list[str]
    style_image: list[UploadFile]
    x: float
    y: float
    format: str


def explain_form(
    content: UploadFile | None = File(None, description="The photo (PNG, JPEG, WebP, GIF, BMP, TIFF)."),
    style: list[str] = Form([], description="A built-in style name (GET /v1/styles)."),
    style_image: list[UploadFile] = File([], description="Or a painting to take the style of."),
    x: float = Form(..., description="The point across the photo, as a fraction of its width: 0 = left, 1 = right."),
    y: float = Form(..., description="The point down the photo, as a fraction of its height: 0 = top, 1 = bottom."),
    format: str = Form("png", description="png, jpeg or webp."),
) -> ExplainForm:
    """FastAPI dependency: the fields of an explain request (documented in the OpenAPI schema at /docs)."""
    return ExplainForm(content, style, style_image, x, y, format)


def build_explain(f: ExplainForm, settings: Settings) -> ExplainRequest:
    """Check the fields (400 for a missing photo or style, 422 for a point outside the photo) and decode the
    uploads into an ExplainRequest; raises HTTPException."""
    if f.content is None:
        raise HTTPException(400, "send the photo as the file field 'content'")
    n = len(f.style) + len(f.style_image)
    if n != 1:
        raise HTTPException(400, f"{n} styles; give exactly one: 'style' (a built-in name) or 'style_image' (a file)")
    if f.style and f.style[0] not in gallery.styles():
        raise HTTPException(400, f"unknown style {f.style[0]!r}; see GET /v1/styles (files go in 'style_image')")
    if not (0.0 <= f.x <= 1.0 and 0.0 <= f.y <= 1.0):
        raise HTTPException(422, f"the point x={f.x:g}, y={f.y:g} is outside the photo; x and y are fractions of its "
                                 "width and height, from 0 to 1")
    if f.format.lower() not in FORMATS:
        raise HTTPException(400, f"unknown format {f.format!r}; choose png, jpeg or webp")
    limit = settings.max_image_bytes
    content = read_image(f.content, limit, "content", long_side=EXPLAIN_CONTENT_SIDE)
    style = f.style[0] if f.style else read_image(f.style_image[0], limit, "style_image",
                                                  long_side=EXPLAIN_STYLE_SIDE)
    return ExplainRequest(content=content, style=style, at=(f.x, f.y), format=f.format.lower())
