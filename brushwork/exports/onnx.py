"""Write the style encoder and painter graphs as ONNX files (and, on request, an int8 painter) into a folder.

Every file is written under a temporary name in the target folder and moved into place, so an interrupted
export leaves no half-written model; a folder that is not empty is refused unless overwrite is asked for.
"""
from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import BrushworkError
from ..methods.common import check_share
from . import graphs

OPSET = 18
DRAFT_SIZE = 256  # methods.lapstyle.Options.draft_size
FILES = ("style_encoder.onnx", "painter.onnx", "painter_int8.onnx", "README.md", "brushwork.json")


def need(module: str):
    """The optional module, or a one-line error saying how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise BrushworkError(f"{module} is not installed; install the extra: pip install 'brushwork[onnx]'") from None


def size_range(levels: int, draft_size: int = DRAFT_SIZE) -> tuple[int, int]:
    """The photo long sides (px, inclusive) whose pyramid has `levels` levels: what a painter of that depth fits."""
    if levels == 0:
        return 16, draft_size
    return draft_size * 2 ** (levels - 1) + 1, draft_size * 2 ** levels


def levels_for(long_side: int, draft_size: int = DRAFT_SIZE) -> int:
    """Pyramid levels for a photo's long side (core.pyramid.levels_for)."""
    from ..core.pyramid import levels_for as levels

    return levels(long_side, draft_size)


def check_folder(out_dir: str | Path, overwrite: bool) -> Path:
    """The output folder, refused (one line) when it exists with files in it and overwrite is not given."""
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise BrushworkError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise BrushworkError(f"{out} exists and is not empty; pass --overwrite to replace its files")
    if not out.parent.is_dir():
        raise BrushworkError(f"cannot write {out}: folder {out.parent} does not exist")
    return out


def _replace_into(path: Path, write) -> None:
    """write(tmp_path), then move tmp_path onto path (same folder: an atomic rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _export(module: torch.nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str],
            dynamic: dict) -> None:
    need("onnx")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on shape-dependent Python branches: invariant here
        torch.onnx.export(module.eval(), args, str(path), dynamo=False, opset_version=OPSET, input_names=inputs,
                          output_names=outputs, dynamic_axes=dynamic, do_constant_folding=True)


def modules(levels: int, weights_dir: str | None = None, palette: float = 0.65, style_size: int = 512,
            finish: float = 0.0, clean_edges: float = 1.0):
    """(StyleEncoder, Painter) of the shipped (or weights_dir's) networks in fp32."""
    from ..core.encoder import shared_encoder
    from ..methods.lapstyle import ENCODER_PADDING, load_nets

    enc = shared_encoder("max", ENCODER_PADDING, torch.float32)
    draft, revs = load_nets(weights_dir, torch.float32)
    return graphs.StyleEncoder(enc, style_size), graphs.Painter(enc, draft, revs, levels, palette, finish, clean_edges)


def export_style_encoder(path: Path, encoder: torch.nn.Module) -> None:
    """style_encoder.onnx: painting (1, 3, H, W) -> style (1, STYLE_DIM)."""
    _replace_into(path, lambda p: _export(encoder, (torch.rand(1, 3, 300, 400),), p, ["painting"], ["style"],
                                          {"painting": {2: "height", 3: "width"}}))


def export_painter(path: Path, painter: graphs.Painter, strength: bool = False) -> None:
    """painter.onnx: photo (1, 3, H, W) + style (1, STYLE_DIM) -> picture (1, 3, H, W); with strength, a (1,)
    strength input comes last (the graph then also drafts the photo's own features, to give them back)."""
    args = _samples(painter, strength)
    names = ["photo", "style"] + (["strength"] if strength else [])
    _replace_into(path, lambda p: _export(painter, args, p, names, ["picture"],
                                          {"photo": {2: "height", 3: "width"}, "picture": {2: "height", 3: "width"}}))


def _samples(painter: graphs.Painter, strength: bool) -> tuple:
    """Example (photo, style[, strength]) for tracing: a photo at the top of the painter's size range."""
    lo, hi = size_range(painter.levels)
    args = (torch.rand(1, 3, hi, max(lo, hi * 3 // 4)), torch.rand(1, graphs.STYLE_DIM))
    return args + (torch.full((1,), 0.7),) if strength else args


def export_split_painter(drafter_path: Path, reviser_path: Path, painter: graphs.Painter,
                         strength: bool = False) -> None:
    """drafter (photo + style -> draft) and reviser (photo + draft + style -> picture): the painter in two
    halves, for a caller that edits the draft between them (video steadies it along the motion); with
    strength, each takes a (1,) strength input last."""
    photo, style, *s = _samples(painter, strength)
    with torch.no_grad():
        draft = painter.draft_of(photo, style, *s)
    photo_axes, draft_axes = {2: "height", 3: "width"}, {2: "draft_height", 3: "draft_width"}
    extra = ["strength"] if strength else []
    _replace_into(drafter_path, lambda p: _export(graphs.Drafter(painter), (photo, style, *s), p,
                                                  ["photo", "style", *extra], ["draft"],
                                                  {"photo": photo_axes, "draft": draft_axes}))
    _replace_into(reviser_path, lambda p: _export(graphs.Reviser(painter), (photo, draft, style, *s), p,
                                                  ["photo", "draft", "style", *extra], ["picture"],
                                                  {"photo": photo_axes, "draft": draft_axes, "picture": photo_axes}))


INT8_MODES = ("dynamic", "static")


def calibration_feeds(encoder: torch.nn.Module, levels: int, strength_input: bool) -> list[dict]:
    """Painter inputs for static quantization's calibration: the built-in sample photos, each at the top of
    the painter's size range and mirrored, with three built-in styles."""
    from ..loaders import gallery
    from ..core.images import load_image, resize_long_side

    _, hi = size_range(levels)
    photos = [resize_long_side(load_image(p), hi) for p in gallery.samples().values()]
    photos += [p.flip(-1) for p in photos]
    feeds = []
    with torch.no_grad():
        for k, name in enumerate(("starry-night", "great-wave", "composition-vii")):
            style = encoder(load_image(gallery.resolve(name))).numpy()
            for photo in photos[k % 2::2]:
                feed = {"photo": photo.numpy(), "style": style}
                if strength_input:
                    feed["strength"] = np.ones(1, np.float32)
                feeds.append(feed)
    return feeds


def quantize(src: Path, dst: Path, mode: str = "dynamic", feeds: list[dict] | None = None) -> None:
    """An int8 copy of a graph: the encoder's and revision networks' convolutions in 8 bits. dynamic: weights
    in 8 bits, each input quantized on the fly; static: inputs on ranges calibrated on `feeds` (QDQ format,
    weights per channel). The drafting network stays fp32 (its inputs carry the style's statistics: quantized,
    it more than doubles the error on the eval set), as do the palette step and resizing."""
    need("onnxruntime")
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static

    class Feeds(CalibrationDataReader):
        def __init__(self):
            self.rest = iter(feeds or [])

        def get_next(self):
            return next(self.rest, None)

    onnx = need("onnx")
    draft = [n.name for n in onnx.load(str(src)).graph.node if n.op_type == "Conv" and "/draft/" in n.name]

    def write(p: Path) -> None:
        if mode == "dynamic":
            quantize_dynamic(str(src), str(p), op_types_to_quantize=["Conv"], weight_type=QuantType.QUInt8,
                             nodes_to_exclude=draft)
        else:
            quantize_static(str(src), str(p), Feeds(), quant_format=QuantFormat.QDQ, op_types_to_quantize=["Conv"],
                            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            nodes_to_exclude=draft)

    logging.disable(logging.WARNING)  # its advice to run shape inference first: the graphs export with shapes
    try:
        _replace_into(dst, write)
    finally:
        logging.disable(logging.NOTSET)


def export(out_dir: str | Path, levels: int = 1, int8: bool | str = False, overwrite: bool = False,
           weights_dir: str | None = None, palette: float = 0.65, strength_input: bool = False,
           finish: float = 0.0, clean_edges: float = 1.0) -> dict:
    """Write style_encoder.onnx, painter.onnx (and painter_int8.onnx with int8: True or "dynamic", or
    "static"), brushwork.json and README.md into out_dir; returns {file name: size in bytes}. finish: lapstyle's
    option of that name, baked into the painter, as is clean_edges (lapstyle's, 1.0 by default)."""
    int8 = "dynamic" if int8 is True else (int8 or False)
    if int8 and int8 not in INT8_MODES:
        raise BrushworkError(f"unknown int8 mode {int8!r}; choose dynamic or static")
    if not 0 <= levels <= 5:
        raise BrushworkError(f"levels must be between 0 and 5, got {levels}")
    check_share("palette", palette)
    check_share("finish", finish)
    check_share("clean_edges", clean_edges)
    out = check_folder(out_dir, overwrite)
    need("onnx")
    if int8:
        need("onnxruntime")
    out.mkdir(exist_ok=True)
    encoder, painter = modules(levels, weights_dir, palette, finish=finish, clean_edges=clean_edges)
    export_style_encoder(out / "style_encoder.onnx", encoder)
    export_painter(out / "painter.onnx", painter, strength_input)
    if int8:
        feeds = calibration_feeds(encoder, levels, strength_input) if int8 == "static" else None
        quantize(out / "painter.onnx", out / "painter_int8.onnx", int8, feeds)
    elif (out / "painter_int8.onnx").exists():  # an older int8 painter would not match the new fp32 one
        (out / "painter_int8.onnx").unlink()
    meta = metadata(levels, palette, int8, strength_input, finish, clean_edges)
    _replace_into(out / "brushwork.json", lambda p: p.write_text(json.dumps(meta, indent=2) + "\n"))
    _replace_into(out / "README.md", lambda p: p.write_text(readme(meta)))
    return {f: (out / f).stat().st_size for f in FILES if (out / f).exists()}


def metadata(levels: int, palette: float, int8: str | bool, strength_input: bool = False, finish: float = 0.0,
             clean_edges: float = 1.0) -> dict:
    """What an app needs to know about the exported graphs (written as brushwork.json)."""
    from .. import __version__

    lo, hi = size_range(levels)
    at, layout = 0, []
    for name, shape in graphs.style_layout():
        n = 1
        for d in shape:
            n *= d
        layout.append({"name": name, "offset": at, "length": n, "shape": list(shape)})
        at += n
    return {"brushwork": __version__, "opset": OPSET, "levels": levels, "long_side": [lo, hi],
            "draft_size": DRAFT_SIZE, "palette": palette, "finish": finish, "clean_edges": clean_edges,
            "clean_colors": 0.0,
            "strength_input": strength_input, "style_dim": graphs.STYLE_DIM,
            "style_layout": layout, "int8": int8}


def readme(meta: dict) -> str:
    """DIR/README.md: inputs, outputs, value ranges, limits and an onnxruntime example."""
    lo, hi = meta["long_side"]
    layout = "\n".join(f"| `{p['name']}` | {p['offset']} | {p['length']} | {tuple(p['shape'])} |"
                       for p in meta["style_layout"])
    strength = ("; `strength`: float32 (1,) in [0, 1]" if meta["strength_input"] else "")
    at_strength = ("at the strength given (0: the photo, 1: all style; below 1 it drafts twice)"
                   if meta["strength_input"] else "at strength 1 (all style; export with --strength-input for a "
                                                   "strength input)")
    int8 = (f"\n`painter_int8.onnx` is the same painter with its encoder and revision convolutions quantized to "
            f"8 bits (onnxruntime {meta['int8']} quantization; the drafting network stays fp32); it takes and "
            "returns the same tensors.\n" if meta["int8"] else "")
    feed = ', "strength": np.array([0.8], np.float32)' if meta["strength_input"] else ""
    finish = (f"then the finished picture's colours moved {meta['finish']} of the way onto the painting's palette"
              if meta.get("finish") else "no finish step")
    return f"""# brushwork LapStyle, exported to ONNX

Two graphs (ONNX opset {meta['opset']}, fp32, made by brushwork {meta['brushwork']}):

| file | inputs | outputs |
|---|---|---|
| `style_encoder.onnx` | `painting`: float32 (1, 3, H, W) | `style`: float32 (1, {meta['style_dim']}) |
| `painter.onnx` | `photo`: float32 (1, 3, H, W); `style`: float32 (1, {meta['style_dim']}){strength} | `picture`: float32 (1, 3, H, W) |
{int8}
Images are RGB, channels first, values in [0, 1] (divide 8-bit pixels by 255). The picture has the photo's
size and values in [0, 1].

- **style_encoder**: any painting size (it is resized inside to 512 px on the long side for the strokes
  and to 128 px for the palette, with antialiasing). Run it once per style and keep the vector: an app with
  fixed styles can ship only `painter.onnx` and the vectors (`brushwork export-style PAINTING -o style.npz`
  writes one; `numpy.load(path)["style"]`).
- **painter**: the default pipeline (drafting network at about {meta['draft_size']} px, its encoder padding
  by repeating edge pixels, its finest detail along the photo's strong edges moved {meta.get('clean_edges', 0)}
  of the way to the photo's, the palette step at {meta['palette']}, {meta['levels']} revision level(s) of the
  Laplacian pyramid, {finish}; without the last step of brushwork's own pipeline, `clean_colors`, which pulls
  colours the painting has nothing like in to its nearest: run brushwork with `backend="onnxruntime"` for it),
  {at_strength}. Height and width are dynamic, but the number of pyramid
  levels is fixed at export: the picture is the one `brushwork stylize --size PX --clean-colors 0` paints for photos whose long
  side is **{lo} to {hi} px**. Resize the photo into that range first (or export again with
  `brushwork export --levels N`: each level doubles the range). Aspect ratios up to about 16:1.

The style vector is the concatenation, in this order, of:

| part | offset | length | shape |
|---|---|---|---|
{layout}

(mean/std: the painting's channel statistics at VGG16 relu2_1/3_1/4_1; code: the revision networks' style
code; palette: the painting's colour quantiles along the palette step's fixed axes.) `brushwork.json` holds the
same facts in machine-readable form.

## onnxruntime example (Python)

```python
import numpy as np
import onnxruntime as ort
from PIL import Image

def load(path, long_side=None):  # float32 (1, 3, H, W) in [0, 1], resized to a long side if given
    img = Image.open(path).convert("RGB")
    if long_side:
        scale = long_side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.LANCZOS)
    return np.asarray(img, np.float32).transpose(2, 0, 1)[None] / 255

encoder = ort.InferenceSession("style_encoder.onnx")
painter = ort.InferenceSession("painter.onnx")
style = encoder.run(None, {{"painting": load("painting.jpg")}})[0]
picture = painter.run(None, {{"photo": load("photo.jpg", {hi}), "style": style{feed}}})[0]
Image.fromarray((picture[0].transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)).save("picture.png")
```
"""
