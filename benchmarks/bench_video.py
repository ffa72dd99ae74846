"""Video benchmark: fps, warping error and per-frame losses on the real Big Buck Bunny clip at 640 px.

Runs brushwork at consistency 0 (frame by frame) and at the default, and styletransfer-lite's `video` command
as the peer where it is installed (never a dependency), on the same clip; prints Markdown rows for BENCHMARKS.md.
Usage: OMP_NUM_THREADS=1 python benchmarks/bench_video.py [--keep DIR] [--every 4] [--frames N]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import tempfile
import time
from itertools import islice
from pathlib import Path

import av
import cv2
import numpy as np

from brushwork.video.flow import warping_error
from brushwork.video.evaluate import evaluate_video
from brushwork.video.flow import FlowEstimator
from brushwork.video.stylize import DEFAULT_CONSISTENCY

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO.parent / "shared" / "data" / "video" / "bigbuckbunny.mp4"
PEER = Path("/tmp/stl-venv/bin/styletransfer-lite")


def frames(path, width=None):
    """Decoded RGB frames of a clip (resized to `width` when given)."""
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            a = f.to_ndarray(format="rgb24")
            if width and a.shape[1] != width:
                a = cv2.resize(a, (width, round(a.shape[0] * width / a.shape[1] / 2) * 2), interpolation=cv2.INTER_AREA)
            yield a


def clip_warping_error(inputs, outputs, limit: int | None = None) -> float:
    """Mean warping error over the first `limit` consecutive frames (flow on the input, as brushwork's scorer)."""
    inputs, outputs = islice(inputs, limit), islice(outputs, limit)
    est = FlowEstimator(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, side=4096)
    errs, prev = [], None
    for i, o in zip(inputs, outputs):
        if o.shape != i.shape:
            o = cv2.resize(o, (i.shape[1], i.shape[0]), interpolation=cv2.INTER_AREA)
        if prev is not None:
            errs.append(warping_error(prev[1], o, prev[0], i, est))
        prev = (i, o)
    return float(np.nanmean(errs))


def peer(width: int, out_dir: Path, limit: int | None = None) -> dict | None:
    """styletransfer-lite video at the same size: wall-clock fps, warping error on the same flow, audio kept?"""
    if not PEER.exists():
        return None
    out = out_dir / "peer.mp4"
    t0 = time.perf_counter()
    r = subprocess.run([str(PEER), "video", str(CLIP), "-o", str(out), "--max-size", str(width), "--device", "cpu"],
                       capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        return {"error": r.stderr.strip()[-200:]}
    with av.open(str(out)) as c:
        n, audio = c.streams.video[0].frames, bool(c.streams.audio)
    err = clip_warping_error(frames(CLIP, width), frames(out), limit)
    return {"fps_wall": n / seconds, "frames": n, "warp_error": err, "audio": audio}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", type=Path, default=None, help="keep the stylized clips here")
    ap.add_argument("--every", type=int, default=4, help="score losses on every N-th frame")
    ap.add_argument("--style", default="starry-night")
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--frames", type=int, default=None, help="only the first N frames (the peer runs all)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        keep = args.keep or Path(tmp)
        keep.mkdir(parents=True, exist_ok=True)
        rows = evaluate_video(CLIP, args.style, consistencies=(0.0, DEFAULT_CONSISTENCY), size=args.size,
                              every=args.every, out_dir=keep, progress=True,
                              max_frames=args.frames, crf=26)
        p = peer(args.size, keep, args.frames)
    base = rows[0]
    print(f"\n### Video ({datetime.date.today()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')})\n")
    print(f"Clip: {CLIP.name} at {rows[0]['width']}x{rows[0]['height']}, {rows[0]['frames']} frames, "
          f"style {args.style}; losses on every {args.every}th frame; input's own warping error "
          f"{base['input_warp_error']:.2f}.\n")
    print("| run | fps | warping error (0-255) | vs frame by frame | content loss | Gram style loss |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| brushwork lapstyle, consistency {r['consistency']:g} | {r['fps']:.2f} | {r['warp_error']:.2f} | "
              f"{r['warp_error'] / base['warp_error']:.2f}x | {r['content_loss']:.4f} "
              f"({r['content_loss'] / base['content_loss'] - 1:+.1%}) | {r['style_gram']:.4f} "
              f"({r['style_gram'] / base['style_gram'] - 1:+.1%}) |")
    if p and "error" not in p:
        print(f"| styletransfer-lite video (peer, wall clock incl. decode/encode) | {p['fps_wall']:.2f} | "
              f"{p['warp_error']:.2f} | {p['warp_error'] / base['warp_error']:.2f}x | — | — |")
    print("\n" + json.dumps({"rows": rows, "peer": p}, default=str))


if __name__ == "__main__":
    main()
