"""The exported graphs against PyTorch at 512 px: speed (PyTorch, onnxruntime fp32, onnxruntime int8), file sizes,
the int8 painters' quality loss on the eval set (dynamic and static quantization) (mean absolute difference from fp32, Lite1 losses), and
`brushwork video` frames/s with each backend.

Timings are per picture with the style's tensors already computed (a cached style, as in a server or a video),
the median of --repeats runs after one warm-up, all on the same --threads. Prints a Markdown table and a JSON
line; --write also puts the table into BENCHMARKS.md (section "onnx").
Run: python benchmarks/bench_onnx.py --threads 2  (about a minute per image on two cores)
"""
from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, write_section  # noqa: E402

EVAL = ROOT.parent / "shared" / "data" / "eval"
SIZE = 512


def median_seconds(fn, repeats: int) -> tuple[float, object]:
    """(median wall seconds of fn() over `repeats` runs after one warm-up, its last result)."""
    out = fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def video_rows(frames: int, size: int) -> dict:
    """{backend: {fps, warping_error}} of `brushwork video` on the shared clip, PyTorch (auto precision) and
    onnxruntime, one after the other in this process."""
    import numpy as np

    from brushwork import stylize_video
    from brushwork.video.flow import warping_error

    clip = ROOT.parent / "shared" / "data" / "video" / "bigbuckbunny.mp4"
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in ("torch", "onnxruntime"):
            pairs = []
            stylize_video(clip, Path(tmp) / "warm.mp4", "starry-night", size=size, progress=False,
                          backend=backend, max_frames=2, overwrite=True)  # exports and loads before the clock starts
            res = stylize_video(clip, Path(tmp) / f"{backend}.mp4", "starry-night", size=size, progress=False,
                                backend=backend, max_frames=frames, overwrite=True,
                                on_frame=lambda i, o: pairs.append((i, o)))
            err = np.mean([warping_error(po, o, pi, i) for (pi, po), (i, o) in zip(pairs, pairs[1:])])
            out[backend] = {"fps": res.fps, "warping_error": float(err)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--images", type=int, default=10, help="eval photos to use (each with the next eval style)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-lite", action="store_true", help="skip the Lite1 losses")
    ap.add_argument("--video-frames", type=int, default=60,
                    help="frames of the shared clip for the video rows (0: no video rows)")
    ap.add_argument("--video-size", type=int, default=640)
    ap.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    args = ap.parse_args()

    import onnxruntime as ort

    import brushwork
    from brushwork.core.images import load_image, resize_long_side
    from brushwork.evaluation.metrics import lite_losses

    torch.set_num_threads(args.threads)
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = args.threads, 1
    photos = sorted((EVAL / "content").iterdir())[: args.images]
    styles = sorted((EVAL / "style").iterdir())

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "onnx"
        sizes = brushwork.export(folder, levels=1, int8="dynamic")
        static = brushwork.export(Path(tmp) / "static", levels=1, int8="static")["painter_int8.onnx"]
        sessions = {name: ort.InferenceSession(str(f), so, providers=["CPUExecutionProvider"])
                    for name, f in [("encoder", folder / "style_encoder.onnx"), ("fp32", folder / "painter.onnx"),
                                    ("int8", folder / "painter_int8.onnx"),
                                    ("int8s", Path(tmp) / "static" / "painter_int8.onnx")]}

    st = brushwork.Stylizer("lapstyle", progress=False)
    rows = []
    for i, photo in enumerate(photos):
        style_file = styles[(i + 1) % len(styles)]
        content = resize_long_side(load_image(photo), SIZE)
        array = content[0].permute(1, 2, 0).numpy()
        painting = st._style(style_file, False)[0]
        vec = sessions["encoder"].run(None, {"painting": painting.numpy()})[0]
        feed = {"photo": content.numpy(), "style": vec}
        row = {"photo": photo.name, "style": style_file.name}
        for precision in ("auto", "fp32"):
            with torch.no_grad():
                row[f"torch_{precision}_s"], out = median_seconds(
                    lambda: st.stylize_tensor(array, style_file, size=SIZE, precision=precision), args.repeats)
            if precision == "fp32":
                torch_fp32 = out.numpy()
        pictures = {}
        for name in ("fp32", "int8", "int8s"):
            row[f"ort_{name}_s"], pictures[name] = median_seconds(lambda: sessions[name].run(None, feed)[0],
                                                                  args.repeats)
        row["ort_fp32_vs_torch_mad"] = float(np.abs(pictures["fp32"] - torch_fp32).mean())
        row["int8_vs_fp32_mad"] = float(np.abs(pictures["int8"] - pictures["fp32"]).mean())
        row["int8s_vs_fp32_mad"] = float(np.abs(pictures["int8s"] - pictures["fp32"]).mean())
        if not args.no_lite:
            for name in ("fp32", "int8", "int8s"):
                for k, v in lite_losses(torch.from_numpy(pictures[name]), content, painting).items():
                    row[f"{name}_{k}"] = v
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)

    video = video_rows(args.video_frames, args.video_size) if args.video_frames else {}

    def mean(key):
        return statistics.mean(r[key] for r in rows) if rows and key in rows[0] else float("nan")

    summary = {"threads": args.threads, "images": len(rows), "size": SIZE,
               "sizes_mib": {**{k: round(v / 2**20, 2) for k, v in sizes.items() if k.endswith(".onnx")},
                             "painter_int8_static.onnx": round(static / 2**20, 2)},
               **{k: mean(k) for k in rows[0] if k not in ("photo", "style")}, "video": video}
    t = summary
    lite = ("" if args.no_lite else
            f"\n| Lite1 content loss | | {t['fp32_lite_content']:.4f} | {t['int8_lite_content']:.4f} | "
            f"{t['int8s_lite_content']:.4f} |"
            f"\n| Lite1 style loss | | {t['fp32_lite_style']:.4f} | {t['int8_lite_style']:.4f} | "
            f"{t['int8s_lite_style']:.4f} |")
    table = f"""## ONNX export: PyTorch vs onnxruntime (fp32, int8) at {SIZE} px

{len(rows)} eval photos, each with an eval style (style tensors precomputed), {args.threads} thread(s),
median of {args.repeats} runs per picture; {datetime.date.today()}; {machine()}.
Command: `python benchmarks/bench_onnx.py --threads {args.threads}`

| | PyTorch (auto / fp32) | onnxruntime fp32 | onnxruntime int8 (dynamic) | onnxruntime int8 (static) |
|---|---|---|---|---|
| seconds per picture | {t['torch_auto_s']:.3f} / {t['torch_fp32_s']:.3f} | {t['ort_fp32_s']:.3f} | {t['ort_int8_s']:.3f} | {t['ort_int8s_s']:.3f} |
| painter file (MiB) | | {t['sizes_mib']['painter.onnx']} | {t['sizes_mib']['painter_int8.onnx']} | {t['sizes_mib']['painter_int8_static.onnx']} |
| mean abs difference (0-1) | vs onnxruntime fp32: {t['ort_fp32_vs_torch_mad']:.6f} | | vs fp32: {t['int8_vs_fp32_mad']:.4f} | vs fp32: {t['int8s_vs_fp32_mad']:.4f} |{lite}

style_encoder.onnx: {t['sizes_mib']['style_encoder.onnx']} MiB (run once per style).
"""
    if video:
        table += f"""
`brushwork video` at {args.video_size} px, {args.video_frames} frames of the shared clip, starry-night (frames/s,
decode to encode, warping error as `evaluate-video` measures it):

| backend | frames/s | warping error |
|---|---|---|
""" + "\n".join(f"| {name} | {v['fps']:.2f} | {v['warping_error']:.4f} |" for name, v in video.items()) + "\n"
    print(table)
    print(json.dumps(summary))
    if args.write:
        write_section("onnx", table)


if __name__ == "__main__":
    main()
