"""Build docs/video_strip.jpg: input | frame by frame | consistent at one frame, and below each its flicker map.

The flicker map is |frame t - frame t-1 warped onto t| (flow on the input, occluded pixels black), the
quantity the warping error averages. Usage: python tools/video_strip.py INPUT C0.mp4 CONSISTENT.mp4 [--frame 60]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import av
import cv2
import numpy as np

from brushwork.video import flow as F


def pair(path: Path, index: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Frames index-1 and index of a clip as RGB uint8 at (w, h)."""
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == index - 1:
                prev = cv2.resize(f.to_ndarray(format="rgb24"), size, interpolation=cv2.INTER_AREA)
            if i == index:
                return prev, cv2.resize(f.to_ndarray(format="rgb24"), size, interpolation=cv2.INTER_AREA)
    raise SystemExit(f"{path} has fewer than {index + 1} frames")


def label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.putText(out, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(out, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input", type=Path)
    ap.add_argument("plain", type=Path)
    ap.add_argument("steady", type=Path)
    ap.add_argument("--frame", type=int, default=60)
    ap.add_argument("-o", "--output", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "video_strip.jpg")
    args = ap.parse_args()
    with av.open(str(args.plain)) as c:
        size = (c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height)
    pi, ci = pair(args.input, args.frame, size)
    motion = F.FlowEstimator(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, side=4096).motion(F.gray(pi), F.gray(ci))
    top, bottom = [], []
    for name, path in [("input", args.input), ("frame by frame", args.plain), ("consistent", args.steady)]:
        p, c = pair(path, args.frame, size)
        diff = np.abs(F.warp(p.astype(np.float32), motion.backward) - c).mean(-1) * motion.valid
        err = float(diff[motion.valid].mean())
        heat = cv2.applyColorMap(np.clip(diff * 4, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1]
        top.append(label(c, name))
        bottom.append(label(heat, f"flicker {err:.1f}"))
    strip = np.vstack([np.hstack(top), np.hstack(bottom)])
    cv2.imwrite(str(args.output), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.output} ({strip.shape[1]}x{strip.shape[0]})")


if __name__ == "__main__":
    main()
