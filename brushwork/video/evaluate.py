"""Measure a stylized clip: flicker (warping error), per-frame content and style losses, and frames per second.

Runs `stylize_video` once per consistency value on the same clip and style, and scores every output frame
as it streams past (the scoring time is not counted in fps). The input clip's own warping error is the floor.
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..evaluation import metrics as M
from .flow import FlowEstimator, warping_error
from .io import probe
from .stylize import DEFAULT_CONSISTENCY, DEFAULT_SIZE, VideoResult, frame_size, stylize_video, to_tensor


class FrameScorer:
    """Accumulates warping error of output and input, and content / Gram style losses every `every` frames."""

    def __init__(self, style_tensor, every: int = 1):
        import cv2

        from ..core.encoder import shared_encoder

        self.enc = shared_encoder()
        self.style = style_tensor
        self.every = max(1, every)
        self.flow = FlowEstimator(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, side=4096)
        self.prev = None
        self.n = 0
        self.fs = None
        self.rows = {"warp_error": [], "input_warp_error": [], "content_loss": [], "style_gram": []}

    def __call__(self, rgb_in: np.ndarray, rgb_out: np.ndarray) -> None:
        if self.prev is not None:
            pin, pout = self.prev
            self.rows["warp_error"].append(warping_error(pout, rgb_out, pin, rgb_in, self.flow))
            self.rows["input_warp_error"].append(warping_error(pin, rgb_in, pin, rgb_in, self.flow))
        self.prev = (rgb_in, rgb_out)
        if self.n % self.every == 0:
            out, content = to_tensor(rgb_out), to_tensor(rgb_in)
            fo = M.features(out, self.enc)
            if self.fs is None:  # the style at the output's long side, once per clip
                self.fs = M.features(M.style_at_output_scale(self.style, out), self.enc, M.STYLE_LAYERS)
            fc = M.features(content, self.enc, (M.CONTENT_LAYER,))
            self.rows["content_loss"].append(M.content_from_features(fo, fc))
            self.rows["style_gram"].append(M.style_from_features(fo, self.fs, "gram")["total"])
        self.n += 1

    def summary(self) -> dict[str, float]:
        """Means over the clip (NaN-free: frames with no trackable pixel are left out)."""
        return {k: float(np.nanmean(v)) if v else math.nan for k, v in self.rows.items()}


def evaluate_video(input, style, consistencies=(0.0, DEFAULT_CONSISTENCY), size: int | None = DEFAULT_SIZE,
                   every: int = 1, out_dir=None, max_frames: int | None = None, progress: bool = True, **options) -> list[dict]:
    """One row per consistency: fps, frames, warping error (output and input), mean content and style losses."""
    from ..api import Stylizer
    from ..loaders import gallery
    from ..loaders.brush import is_brush, load_brush
    from ..core.images import load_image

    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    ref = gallery.resolve(styles[0])
    style_t = load_brush(ref).paintings[0] if is_brush(ref) else load_image(ref)
    st = Stylizer(options.get("method", "lapstyle"), progress=False)
    info = probe(input)
    w, h = frame_size(info.width, info.height, size)
    st.stylize_tensor(torch.rand(1, 3, h, w), styles, size=max(w, h),  # warm-up: networks, style statistics
                      **{k: v for k, v in options.items() if k not in ("preserve_color", "color_from", "crf")})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(out_dir) if out_dir else Path(tmp)
        for c in consistencies:
            scorer = FrameScorer(style_t, every)
            out = folder / f"{Path(str(input)).stem}-c{c:g}.mp4"
            res: VideoResult = stylize_video(input, out, styles, size=size, consistency=c, overwrite=True,
                                             progress=progress, stylizer=st, on_frame=scorer,
                                             max_frames=max_frames, **options)
            rows.append({"consistency": c, "frames": res.frames, "skipped": res.skipped, "cuts": res.cuts,
                         "width": res.width, "height": res.height, "seconds": res.seconds, "fps": res.fps,
                         **scorer.summary()})
    return rows
