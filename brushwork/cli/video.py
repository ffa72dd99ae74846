"""CLI commands `brushwork video` and `brushwork evaluate-video` (registered in `brushwork.cli`)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import BrushworkError
from .stylize import _check_input, _parse_weights


def _method_options(strength, draft_size, style_scale, precision, finish=None) -> dict:
    return {k: v for k, v in {"strength": strength, "draft_size": draft_size, "style_scale": style_scale,
                              "precision": precision, "finish": finish}.items() if v is not None}


def video(
    input: Path = typer.Argument(..., metavar="INPUT", show_default=False,
                                 help="Video to paint (anything FFmpeg reads)."),
    output: Path = typer.Option(..., "--output", "-o", metavar="FILE", show_default=False,
                                help="Output video: .mp4 (H.264) or .webm (VP9)."),
    style: List[str] = typer.Option(..., "--style", "-s", metavar="FILE|NAME", show_default=False,
                                    help="Style image, built-in name or .brush; repeat to blend."),
    style_weights: Optional[str] = typer.Option(None, metavar="W1,W2,...", show_default="equal",
                                                help="Blend weights, one per --style, e.g. 0.7,0.3."),
    quality: Optional[str] = typer.Option(None, metavar="fast|balanced|best", show_default="balanced",
                                          help="A preset: fast = lapstyle with a 128 px draft; balanced = lapstyle; "
                                               "best = optimize (Gatys), about a minute a frame. --draft-size and "
                                               "other options override it."),
    size: int = typer.Option(640, metavar="PX", help="Long side of the output frames in pixels."),
    strength: Optional[float] = typer.Option(None, metavar="0..1", show_default="1.0",
                                             help="Style strength from 0 (the clip) to 1 (all style)."),
    consistency: float = typer.Option(0.9, metavar="0..1", help="Temporal consistency: weight of the previous "
                                                                 "frame, warped along optical flow (0 = frame by "
                                                                 "frame; its fine detail at 0.5x that, so texture "
                                                                 "stays)."),
    preserve_color: Optional[str] = typer.Option(None, metavar="luminance|meancov", show_default="off",
                                                 help="Keep the clip's colours: luminance, or meancov (the style "
                                                      "recoloured to the first frame's mean/covariance; "
                                                      "'histogram' is an old name for it)."),
    color_from: Optional[str] = typer.Option(None, metavar="FILE|NAME", show_default=False,
                                             help="Take the colours of this picture."),
    style_scale: Optional[float] = typer.Option(None, metavar="X", show_default="1.0",
                                                help="Scale of the style's brush strokes (2 = twice as big)."),
    draft_size: Optional[int] = typer.Option(None, metavar="PX", show_default="256",
                                             help="Resolution of LapStyle's Drafting network (128: faster)."),
    finish: Optional[float] = typer.Option(None, metavar="0..1", show_default="0",
                                           help="\\[lapstyle, attention] How far each finished frame's colours "
                                                "move onto the painting's palette (~45 ms a frame at 512 px)."),
    precision: Optional[str] = typer.Option(None, metavar="auto|bf16|fp32", show_default="auto",
                                            help="auto: bf16 where the CPU computes it natively, else fp32."),
    crf: int = typer.Option(20, metavar="N", help="Video quality: lower is better and bigger (H.264 CRF)."),
    overwrite: bool = typer.Option(False, metavar="", help="Replace the output file if it exists."),
    quiet: bool = typer.Option(False, "--quiet", "-q", metavar="", help="No progress bar."),
    backend: str = typer.Option("torch", metavar="torch|onnxruntime",
                                help="onnxruntime: the exported graphs (one style; "
                                     "pip install 'brushwork[onnx]')."),
):
    """Paint every frame of INPUT in the style of --style, steadily, keeping the sound."""
    from .. import api
    from ..video import stylize_video

    api.runtime_backend(backend, api.DEFAULT_METHOD)  # an unknown backend: refused before any work
    for s in style:
        _check_input(s, "style")
    weights = _parse_weights(style_weights)
    if weights is not None and len(weights) != len(style):
        raise BrushworkError(f"{len(weights)} --style-weights for {len(style)} styles; give one per style")
    chosen = _method_options(strength, draft_size, style_scale, precision, finish)
    method, options = api.apply_quality(quality, None, chosen)
    options.pop("size", None)  # the frames' size is --size
    res = stylize_video(input, output, list(style), size=size, consistency=consistency, style_weights=weights,
                        preserve_color=preserve_color, color_from=color_from, overwrite=overwrite,
                        progress=not quiet, crf=crf, backend=backend, method=method, **options)
    skipped = f", {res.skipped} skipped (failed to decode)" if res.skipped else ""
    typer.echo(f"wrote {res.path} ({res.width}x{res.height}, {res.frames} frames{skipped}, {res.cuts} scene cuts, "
               f"{res.fps:.2f} fps, audio {res.audio})", err=True)


def evaluate_video(
    input: Path = typer.Argument(..., metavar="INPUT", show_default=False, help="Video to measure on."),
    style: List[str] = typer.Option(..., "--style", "-s", metavar="FILE|NAME", show_default=False,
                                    help="Style image or built-in name."),
    consistency: Optional[List[float]] = typer.Option(None, metavar="0..1", show_default="0 and 0.9",
                                                      help="Consistency values to compare (repeat)."),
    size: int = typer.Option(640, metavar="PX", help="Long side of the frames in pixels."),
    strength: Optional[float] = typer.Option(None, metavar="0..1", show_default="1.0",
                                             help="Style strength from 0 to 1."),
    draft_size: Optional[int] = typer.Option(None, metavar="PX", show_default="256",
                                             help="Resolution of LapStyle's Drafting network."),
    every: int = typer.Option(1, metavar="N", help="Score content and style losses on every N-th frame."),
    max_frames: Optional[int] = typer.Option(None, metavar="N", show_default="all",
                                             help="Only the first N frames (a short, quick measurement)."),
    keep: Optional[Path] = typer.Option(None, metavar="DIR", show_default=False,
                                        help="Keep the stylized clips in this folder."),
    json_out: Optional[Path] = typer.Option(None, "--json", metavar="FILE", show_default=False,
                                            help="Also write the rows to this JSON file."),
    quiet: bool = typer.Option(False, "--quiet", "-q", metavar="", help="No progress bar."),
):
    """Warping error (flicker), per-frame content / style losses and fps of INPUT stylized at each consistency."""
    from ..video.evaluate import evaluate_video as run

    for s in style:
        _check_input(s, "style")
    if keep is not None and not keep.is_dir():
        raise BrushworkError(f"--keep {keep}: not a folder")
    rows = run(input, list(style), consistencies=tuple(consistency or (0.0, 0.9)), size=size, every=every,
               out_dir=keep, max_frames=max_frames, progress=not quiet, **_method_options(strength, draft_size, None, None))
    typer.echo(f"{'consistency':>11} {'fps':>6} {'frames':>6} {'warp err':>8} {'input err':>9} "
               f"{'content':>8} {'style':>8}")
    for r in rows:
        typer.echo(f"{r['consistency']:>11g} {r['fps']:>6.2f} {r['frames']:>6d} {r['warp_error']:>8.2f} "
                   f"{r['input_warp_error']:>9.2f} {r['content_loss']:>8.4f} {r['style_gram']:>8.4f}")
    if json_out is not None:
        json_out.write_text(json.dumps(rows, indent=2))
