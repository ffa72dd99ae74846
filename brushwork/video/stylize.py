"""The video frame loop: decode, stylize each frame through the Python API, keep it temporally consistent, encode.

Consistency (Ruder et al. 2016, feed-forward form): the previous *output* frame is warped onto the current
one along optical flow computed on the input, and blended into the freshly stylized frame only where the
forward-backward check says the warp is valid (so disoccluded regions and moving edges take the new frame
and do not ghost). `consistency` is the weight of the warped frame's low frequencies and DETAIL_WEIGHT times
that of its finer detail, so the fresh frame keeps its brush texture instead of averaging it away; 0 is plain
frame by frame. With LapStyle the draft itself is steadied first (blended at `consistency` with the previous
draft, warped), and so is every revision level below the last; the last level paints this frame's texture on
them, and the output blend is lighter. The style's
statistics are computed once per clip (the Stylizer's cache; colour-matched styles once, on the first
frame), and the blend restarts at scene cuts.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from ..api import DEFAULT_METHOD, Stylizer
from ..loaders import gallery
from ..loaders.brush import is_brush
from ..core import color
from ..core.images import load_image, resize_long_side
from ..errors import BrushworkError
from . import flow as F
from .io import Reader, Writer, check_output

DEFAULT_CONSISTENCY = 0.9
DEFAULT_SIZE = 640
DETAIL_SIGMA = 0.01  # the warped frame's low frequencies: below a Gaussian of this sigma (fraction of the long side)
DETAIL_WEIGHT = 0.5  # its finer detail is blended at this fraction of `consistency`: the new frame keeps its texture
# LapStyle: the draft (and every revision level below the last) is blended with the previous frame's at
# `consistency` (warped bicubically), so the output blend can be lighter (this fraction of it). Big Buck Bunny,
# 640x360, 132 frames, starry-night, the networks of 2026-11-30, draft only: warping error 0.60x of frame by frame,
# content loss -7.4%, Gram style loss +9.4% (detail weight 0.55: 0.58x and +11.2%; 0.45: 0.61x and +7.7%); with
# the 320 px level steadied too (2026-12-04): 0.47x and +5.1% (benchmarks/bench_video.py, BENCHMARKS.md).
OUTPUT_SHARE_WITH_DRAFT = 0.67
DRAFT_WARP = cv2.INTER_CUBIC  # bilinear warps, repeated frame after frame, blur a 160 px draft into the photo's look


@dataclass
class VideoResult:
    """What a run did: frames written, frames skipped (failed to decode), scene cuts, time, how the sound went."""
    path: Path
    frames: int
    skipped: int
    cuts: int
    seconds: float
    width: int
    height: int
    audio: str  # "copied", "re-encoded" or "none"

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def frame_size(width: int, height: int, size: int | None, source=None) -> tuple[int, int]:
    """(w, h) with the long side at `size` (the input's when None), both even as H.264/VP9 with 4:2:0 need.
    A clip without a frame size (FFmpeg opens a text file named .jpg as a 0x0 image) is a one-line error."""
    if width < 1 or height < 1:
        raise BrushworkError(f"{source or 'the input'}: not a readable video or image (its frames are "
                             f"{width}x{height} px)")
    s = (size or max(width, height)) / max(width, height)
    return max(2, round(width * s / 2) * 2), max(2, round(height * s / 2) * 2)


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 (0-255) or float ([0, 1]) -> (1, 3, H, W) float in [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float()
    return t.div_(255.0) if rgb.dtype == np.uint8 else t


def to_float(t: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] -> HxWx3 float32."""
    return t[0].permute(1, 2, 0).clamp(0, 1).numpy()


class TemporalBlender:
    """Keeps the previous output and input frame; blends the warped previous output into each new frame."""

    def __init__(self, consistency: float, estimator: F.FlowEstimator | None = None,
                 detail_sigma: float = DETAIL_SIGMA, detail_weight: float = DETAIL_WEIGHT):
        self.consistency = consistency
        self.detail_sigma, self.detail_weight = detail_sigma, detail_weight
        self.flow = estimator or F.FlowEstimator()
        self.prev_gray = self.prev_out = None
        self.cuts = 0

    def __call__(self, frame_rgb: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        """The output frame (HxWx3 float) for this input frame and its frame-by-frame stylization."""
        return self.blend(stylized, self.track(frame_rgb))

    def track(self, frame_rgb: np.ndarray) -> F.Motion | None:
        """Motion from this input frame back to the previous one; None at the first frame, a scene cut, or off."""
        g, prev = F.gray(frame_rgb), self.prev_gray
        self.prev_gray = g
        if self.consistency <= 0 or prev is None or self.prev_out is None:
            return None
        motion = self.flow.motion(prev, g)
        if F.scene_cut(prev, g, motion):
            self.cuts += 1
            return None
        return motion

    def blend(self, stylized: np.ndarray, motion: F.Motion | None) -> np.ndarray:
        """The stylized frame with the previous output, warped along `motion`, blended in where it is valid."""
        out = stylized
        if motion is not None:
            warped = F.warp(self.prev_out, motion.backward)
            w = (self.consistency * motion.valid.astype(np.float32))[..., None]
            diff = warped - stylized
            low = self._low_pass(diff)
            out = stylized + w * (low + self.detail_weight * (diff - low))
        self.prev_out = out
        return out

    def _low_pass(self, diff: np.ndarray) -> np.ndarray:
        """The difference's coarse part (Gaussian, sigma a fraction of the long side); 0 sigma keeps all of it."""
        sigma = self.detail_sigma * max(diff.shape[:2])
        return cv2.GaussianBlur(diff, (0, 0), sigma) if sigma > 0 else diff


class PyramidSteadier:
    """LapStyle's draft (the global colours and shapes, at low resolution), and each revision level below the last,
    blended with the previous frame's, warped along the same motion, before the finer levels add this frame's own
    brush texture on top (with a small draft there are several levels, each adding texture that would shimmer)."""

    def __init__(self, weight: float):
        self.weight = weight
        self.prev: dict[tuple[str, int], np.ndarray] = {}  # (stage, level) -> that stage's last picture

    def callback(self, motion: F.Motion | None):
        """The Progress callback for one frame: it returns the steadied picture (a tensor) at the "draft" stage
        and at every "revise" level but the last."""
        def on_progress(event):
            if event.image is None or not (event.stage == "draft" or
                                           (event.stage == "revise" and event.step < event.total)):
                return None
            key, pic = (event.stage, event.step), to_float(event.image)
            h, w = pic.shape[:2]
            prev = self.prev.get(key)
            if motion is not None and prev is not None and prev.shape == pic.shape:
                big_h, big_w = motion.valid.shape
                flow = cv2.resize(motion.backward, (w, h), interpolation=cv2.INTER_AREA) * np.array(
                    [w / big_w, h / big_h], np.float32)
                valid = cv2.resize(motion.valid.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
                warped = F.warp(prev, flow, interpolation=DRAFT_WARP)  # the draft is small: keep it sharp
                pic = pic + (self.weight * valid)[..., None] * (warped - pic)
            self.prev[key] = pic
            return to_tensor(pic)
        return on_progress


def _prepare_styles(styles: list, preserve_color: str | None, first: torch.Tensor, size: int):
    """Style references fixed for the whole clip: meancov colour matching (old name "histogram") is done once, on
    the first frame, so frames share one recoloured style and one cache entry."""
    if color.canonical(preserve_color) != "meancov":
        return styles, preserve_color
    out = []
    for s in styles:
        ref = gallery.resolve(s)
        if is_brush(ref):
            raise BrushworkError(f"preserve_color={preserve_color!r} does not apply to a .brush style; use 'luminance'")
        out.append(color.match_color(resize_long_side(load_image(ref), max(size, 512)), first))
    return out, None


class FrameStepper:
    """The frame loop's body, one frame at a time (for clips and for live streams): an RGB frame in, its painted
    frame out, steadied along the motion from the frame before (LapStyle's draft and lower levels first, then the
    output blend)."""

    def __init__(self, style, *, size: int, consistency: float = DEFAULT_CONSISTENCY, method: str = DEFAULT_METHOD,
                 style_weights=None, preserve_color: str | None = None, color_from=None,
                 stylizer: Stylizer | None = None, **options):
        self.styles = list(style) if isinstance(style, (list, tuple)) else [style]
        if method in ("lapstyle", "attention"):  # frames keep the draft's own edges unless asked: with clean edges
            options.setdefault("clean_edges", 0.0)  # the steadied clip lost 24% Gram style against frame by frame (5%)
            # and their own colours: with clean colours the steadied clip's Gram style loss was 54% above frame by
            # frame's (that fell 25%, the steadied one's rose 10%; bound 10%)
            options.setdefault("clean_colors", 0.0)
        self.size, self.method, self.style_weights, self.options = size, method, style_weights, options
        self.preserve_color = color.check_mode(preserve_color)
        self.stylizer = stylizer or Stylizer(method, progress=False)
        self.color_ref = load_image(gallery.resolve(color_from), size=512) if color_from is not None else None
        self.steadier = PyramidSteadier(consistency) if method in ("lapstyle", "attention") and consistency > 0 else None
        self.blender = TemporalBlender(consistency * (OUTPUT_SHARE_WITH_DRAFT if self.steadier else 1.0))
        self.fixed = None  # the styles as fixed on the first frame (meancov colour matching happens once)
        self.shape: tuple[int, int] | None = None

    def restart(self, style=None) -> None:
        """Paint the next frame as a first one (no blend with the frames before), in `style` when given."""
        if style is not None:
            self.styles = list(style) if isinstance(style, (list, tuple)) else [style]
        self.blender.prev_gray = self.blender.prev_out = None
        if self.steadier is not None:
            self.steadier.prev = {}
        self.fixed = None

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """The painted frame (HxWx3 uint8) of an HxWx3 uint8 RGB frame, its long side brought to `size`."""
        h, w = rgb.shape[:2]
        w2, h2 = frame_size(w, h, self.size)
        if (w2, h2) != (w, h):
            rgb = cv2.resize(rgb, (w2, h2), interpolation=cv2.INTER_AREA)
            w, h = w2, h2
        if self.shape != (h, w):  # a stream whose frames change size starts over
            self.restart()
            self.shape = (h, w)
        x = to_tensor(rgb)
        if self.fixed is None:
            self.fixed = _prepare_styles(self.styles, self.preserve_color, x, max(w, h))
        motion = self.blender.track(rgb)
        out = self.stylizer.stylize_tensor(x, self.fixed[0], method=self.method, style_weights=self.style_weights,
                                           preserve_color=self.fixed[1], size=max(w, h),
                                           callback=self.steadier.callback(motion) if self.steadier else None,
                                           **self.options)
        if self.color_ref is not None:
            out = color.match_color(out, self.color_ref)
        if out.shape[-2:] != (h, w):
            out = torch.nn.functional.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
        frame = self.blender.blend(to_float(out), motion)
        return (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8)


def stylize_video(input, output, style, *, size: int | None = DEFAULT_SIZE,
                  consistency: float = DEFAULT_CONSISTENCY, method: str = DEFAULT_METHOD, style_weights=None,
                  preserve_color: str | None = None, color_from=None, overwrite: bool = False,
                  progress: bool = True, stylizer: Stylizer | None = None, on_frame=None, crf: int = 20,
                  max_frames: int | None = None,
                  **options) -> VideoResult:
    """Stylize a clip into `output` (.mp4 H.264 or .webm VP9) keeping frame rate, frame count, rotation and sound.

    `style` is a path, built-in name or .brush file, or a list of them blended by `style_weights`;
    `size` is the output's long side in px (None: the input's); `consistency` in [0, 1] (0 = frame by frame);
    `preserve_color` ('luminance' or 'meancov') and `color_from` as for images; other options go to the
    method (strength, draft_size, ...). `on_frame(input_rgb, output_rgb)` sees each pair (uint8 HxWx3; its
    time is not counted in the result's fps); `max_frames` stops after that many frames (a preview).
    Returns a VideoResult.
    """
    if not 0.0 <= consistency <= 1.0:
        raise BrushworkError(f"consistency must be between 0 and 1, got {consistency}")
    if size is not None and size < 16:
        raise BrushworkError(f"size must be at least 16 px, got {size}")
    preserve_color = color.check_mode(preserve_color)
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    check_output(output, overwrite)
    reader = Reader(input)
    info = reader.info
    w, h = frame_size(info.width, info.height, size, input)
    step = FrameStepper(styles, size=max(w, h), consistency=consistency, method=method,
                        style_weights=style_weights, preserve_color=preserve_color, color_from=color_from,
                        stylizer=stylizer, **options)
    spent = 0.0
    with reader, Writer(output, w, h, info.rate, reader.c.streams.video[0].time_base, info.rotation,
                        reader.audio_stream, overwrite, crf) as writer:
        reader.on_audio = writer.audio
        total = min(info.frames or max_frames or 0, max_frames or info.frames or 0) or None
        bar = tqdm(total=total, unit="frame", desc="stylize video", disable=not progress,
                   dynamic_ncols=True)
        t0 = time.perf_counter()
        for rgb, pts, tb in reader:
            if rgb.shape[1] != w or rgb.shape[0] != h:
                rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
            frame8 = step(rgb)
            writer.write(frame8, pts, tb)
            if on_frame is not None:
                t1 = time.perf_counter()
                on_frame(rgb, frame8)
                t0 += time.perf_counter() - t1
            bar.update(1)
            if max_frames and writer.frames >= max_frames:
                break
        bar.close()
        spent = time.perf_counter() - t0
        path = writer.commit()
        audio = "none" if writer.a is None else ("copied" if writer.audio_copied else "re-encoded")
    if reader.skipped:
        warnings.warn(f"{reader.skipped} frame(s) of {input} failed to decode and were skipped")
    return VideoResult(path, writer.frames, reader.skipped, step.blender.cuts, spent, w, h, audio)
