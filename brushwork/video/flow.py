"""Optical flow between consecutive input frames (OpenCV DIS, CPU), the forward-backward occlusion mask, warping.

Flow is computed on the *input* frames (stylized frames have no stable texture to track) at up to
`FLOW_SIDE` px and scaled up. `backward[y, x]` points from a pixel of the current frame to where it was in
the previous one, so `warp(prev, backward)` brings the previous frame onto the current one.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FLOW_SIDE = 320  # flow is smooth: computing it at <= 320 px and scaling up costs little accuracy, saves time


@dataclass
class Motion:
    """Backward flow (current -> previous, in current-frame pixels) and where it can be trusted (HxW bool)."""
    backward: np.ndarray
    valid: np.ndarray


def gray(rgb: np.ndarray) -> np.ndarray:
    """HxW uint8 luminance of an HxWx3 uint8 RGB frame."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


class FlowEstimator:
    """DIS optical flow (Kroeger et al. 2016) at a reduced size, forward and backward, plus the validity mask."""

    def __init__(self, preset: int = cv2.DISOPTICAL_FLOW_PRESET_FAST, side: int = FLOW_SIDE):
        self.dis = cv2.DISOpticalFlow_create(preset)
        self.side = side

    def _flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.dis.calc(a, b, None)

    def motion(self, prev_gray: np.ndarray, cur_gray: np.ndarray) -> Motion:
        """Flow from the current frame back to the previous one, and its forward-backward consistency mask."""
        h, w = cur_gray.shape
        s = min(1.0, self.side / max(h, w))
        if s < 1.0:
            size = (max(8, round(w * s)), max(8, round(h * s)))
            a = cv2.resize(prev_gray, size, interpolation=cv2.INTER_AREA)
            b = cv2.resize(cur_gray, size, interpolation=cv2.INTER_AREA)
        else:
            a, b = prev_gray, cur_gray
        bwd = self._flow(b, a)  # current -> previous
        fwd = self._flow(a, b)  # previous -> current
        valid = consistent(fwd, bwd)
        if s < 1.0:
            bwd = cv2.resize(bwd, (w, h), interpolation=cv2.INTER_LINEAR) * np.array(
                [w / a.shape[1], h / a.shape[0]], np.float32)
            valid = cv2.resize(valid.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
        return Motion(bwd, valid)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))


def warp(img: np.ndarray, backward: np.ndarray, border: int = cv2.BORDER_REPLICATE,
         interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """`img` (the previous frame, HxW or HxWxC) resampled onto the current frame along the backward flow."""
    h, w = backward.shape[:2]
    gx, gy = _grid(h, w)
    return cv2.remap(img, gx + backward[..., 0], gy + backward[..., 1], interpolation, borderMode=border)


def consistent(fwd: np.ndarray, bwd: np.ndarray, alpha: float = 0.01, beta: float = 0.5) -> np.ndarray:
    """Forward-backward check (Sundaram et al. 2010, as in Ruder et al. 2016): HxW bool, False where occluded.

    A pixel of the current frame is valid when following the backward flow and then the forward flow comes
    back to it: |f(x + b(x)) + b(x)|^2 <= alpha (|f|^2 + |b|^2) + beta, and the backward flow lands inside.
    """
    h, w = bwd.shape[:2]
    gx, gy = _grid(h, w)
    fx, fy = gx + bwd[..., 0], gy + bwd[..., 1]
    f_at = cv2.remap(fwd, fx, fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    back = f_at + bwd
    # per-channel products: numpy's sum over a last axis of 2 is ~20x slower (it was a third of live mode's flow step)
    round_trip = back[..., 0] ** 2 + back[..., 1] ** 2
    scale = f_at[..., 0] ** 2 + f_at[..., 1] ** 2 + bwd[..., 0] ** 2 + bwd[..., 1] ** 2
    inside = (fx >= 0) & (fx <= w - 1) & (fy >= 0) & (fy <= h - 1)
    return (round_trip <= alpha * scale + beta) & inside


def scene_cut(prev_gray: np.ndarray, cur_gray: np.ndarray, motion: Motion, threshold: float = 0.5) -> bool:
    """A new shot: most of the frame cannot be followed from the previous one, or the histograms differ a lot."""
    if motion.valid.mean() < threshold:
        return True
    hp = cv2.calcHist([prev_gray], [0], None, [32], [0, 256]).ravel()
    hc = cv2.calcHist([cur_gray], [0], None, [32], [0, 256]).ravel()
    hp, hc = hp / hp.sum(), hc / hc.sum()
    return 0.5 * float(np.abs(hp - hc).sum()) > threshold


def warping_error(prev_out: np.ndarray, cur_out: np.ndarray, prev_in: np.ndarray, cur_in: np.ndarray,
                  estimator=None) -> float:
    """Short-term flicker of a video: mean |warp(prev_out) - cur_out| over non-occluded pixels, 0-255 scale.

    Flow is computed on the *input* frames (HxWx3 uint8) with OpenCV DIS (medium preset, full resolution)
    and checked forward-backward; the previous output frame is warped onto the current one along it and the
    absolute difference is averaged over the pixels the check keeps and the three channels. Lower = steadier;
    passing the input as its own output gives the clip's own error (its noise and flow's misses), the floor.
    """
    import cv2

    est = estimator or FlowEstimator(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, side=max(cur_in.shape[:2]))
    motion = est.motion(gray(prev_in), gray(cur_in))
    if not motion.valid.any():
        return float("nan")
    warped = warp(prev_out.astype(np.float32), motion.backward)
    diff = np.abs(warped - cur_out.astype(np.float32))
    return float(diff[motion.valid].mean())
