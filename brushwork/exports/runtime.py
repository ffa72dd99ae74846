"""The onnxruntime backend: the default LapStyle pipeline run by onnxruntime on the exported graphs.

The graphs are exported once per set of weights (and palette, style size, pyramid depth) into
BRUSHWORK_HOME/onnx/<hash of the weights and code>/ and reused; sessions are kept per process.
`stylize` has the methods' signature, so the API calls it in place of methods.lapstyle.stylize.
"""
from __future__ import annotations

import hashlib
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..loaders.home import home
from ..errors import BrushworkError
from ..methods.common import blend_weights, cached, emit
from . import onnx as exporter

PACKAGE = Path(__file__).resolve().parent.parent
SOURCES = ("exports/graphs.py", "exports/onnx.py", "methods/lapstyle.py", "nets/lapstyle.py", "nets/adain.py",
           "core/encoder.py", "core/stats.py", "core/color.py", "core/edges.py")  # the code that decides what the exported graphs compute
_lock = threading.Lock()


def _weight_files(weights_dir: str | None) -> list[Path]:
    from ..loaders import weights
    from ..methods.lapstyle import WEIGHTS_DIR

    folder = Path(weights_dir) if weights_dir else WEIGHTS_DIR
    return [Path(weights.ensure("hed-vgg16")), folder / "lapstyle_draft.safetensors",
            *sorted(folder.glob("lapstyle_rev[0-9]*.safetensors"))]


@lru_cache(maxsize=8)
def cache_folder(weights_dir: str | None = None) -> Path:
    """BRUSHWORK_HOME/onnx/<hash>: the hash covers the weights' bytes, the code that builds the graphs and
    torch's version, so a change to any of them exports afresh."""
    h = hashlib.sha256(torch.__version__.encode())
    for name in SOURCES:
        h.update((PACKAGE / name).read_bytes())
    for f in _weight_files(weights_dir):
        if f.is_file():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return home() / "onnx" / h.hexdigest()[:16]


def _session(path: Path):
    ort = exporter.need("onnxruntime")
    so = ort.SessionOptions()
    so.intra_op_num_threads = torch.get_num_threads()  # as PyTorch: OMP_NUM_THREADS or torch.set_num_threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _graph_names(kind: str, levels: int, palette: float, style_size: int, strength: bool,
                 clean_edges: float = 1.0) -> list[str]:
    if kind == "encoder":
        return [f"style_encoder_{style_size}.onnx"]
    tail = f"L{levels}_p{palette:g}_e{clean_edges:g}{'_strength' if strength else ''}.onnx"
    if kind in ("drafter", "reviser"):
        return [f"drafter_{tail}", f"reviser_{tail}"]
    return [f"painter_{tail}"]


@lru_cache(maxsize=16)
def session(kind: str, weights_dir: str | None, levels: int = 1, palette: float = 0.65, style_size: int = 512,
            strength: bool = False, clean_edges: float = 1.0):
    """An onnxruntime session of the style encoder ("encoder"), a painter ("painter") or its halves ("drafter",
    "reviser"), with a strength input or without (strength 1), exported into the cache folder on first use."""
    exporter.need("onnxruntime")
    exporter.need("onnx")
    folder = cache_folder(weights_dir)
    names = _graph_names(kind, levels, palette, style_size, strength, clean_edges)
    with _lock:
        if not all((folder / n).is_file() for n in names):
            folder.mkdir(parents=True, exist_ok=True)
            encoder, painter = exporter.modules(levels, weights_dir, palette, style_size, clean_edges=clean_edges)
            if kind == "encoder":
                exporter.export_style_encoder(folder / names[0], encoder)
            elif kind == "painter":
                exporter.export_painter(folder / names[0], painter, strength)
            else:
                exporter.export_split_painter(folder / names[0], folder / names[1], painter, strength)
    return _session(folder / names[1 if kind == "reviser" else 0])


def style_vector(style: torch.Tensor, weights_dir: str | None = None, style_size: int = 512) -> np.ndarray:
    """(1, STYLE_DIM) float32: a painting's style vector from the exported style encoder."""
    enc = session("encoder", weights_dir, style_size=style_size)
    return enc.run(None, {"painting": style.float().contiguous().numpy()})[0]


def paint(content: torch.Tensor, style: np.ndarray, levels: int, weights_dir: str | None = None,
          palette: float = 0.65, strength: float = 1.0, callback=None, clean_edges: float = 1.0) -> torch.Tensor:
    """The painter graph on a (1, 3, H, W) photo: (1, 3, H, W) in [0, 1] (below strength 1, the graph with a
    strength input). With a callback, the drafter and reviser graphs run in turn and callback gets
    Progress("draft", ...) between them; a tensor it returns replaces the draft (as methods.lapstyle.stylize
    does: video steadies the draft this way). The reviser graph runs all levels at once, so unlike the torch
    backend it cannot steady the levels below the last: with two or more levels (640 px video) its video
    flickers more than torch's."""
    feed = {"photo": content.float().contiguous().numpy(), "style": style}
    partial = strength != 1.0
    if partial:
        feed["strength"] = np.array([strength], np.float32)
    key = (weights_dir, levels, float(palette), 512, partial, float(clean_edges))
    if callback is None:
        return torch.from_numpy(session("painter", *key).run(None, feed)[0])
    draft = session("drafter", *key).run(None, feed)[0]
    steady = emit(callback, "draft", 1, 1, torch.from_numpy(draft).clamp(0, 1))
    if isinstance(steady, torch.Tensor):
        draft = steady.float().contiguous().numpy()
    return torch.from_numpy(session("reviser", *key).run(None, {**feed, "draft": draft})[0])


def check_supported(styles, style_weights, masks, opts) -> None:
    """A one-line error for what the exported graphs do not paint."""
    weights, _ = blend_weights(styles, style_weights)
    if sum(w > 0 for w in weights) != 1 or masks:
        raise BrushworkError("backend onnxruntime paints one style at a time, without masks; use backend torch")
    if getattr(opts, "subject", 0.0):
        raise BrushworkError("backend onnxruntime has no subject control; use backend torch")
    if opts.brush:
        raise BrushworkError("backend onnxruntime runs the shipped networks, not a .brush file's; "
                             "use backend torch")


def stylize(content: torch.Tensor, styles: list[torch.Tensor], style_weights=None, masks=None, options=None,
            cache: dict | None = None, style_keys=None, progress: bool = False, callback=None) -> torch.Tensor:
    """methods.lapstyle.stylize through onnxruntime (fp32 whatever the precision option), one style.
    callback gets Progress("draft", 1, 1, draft) (what it returns replaces the draft), then one
    Progress("revise", levels, levels, picture) at the end. `finish` and `clean_colors` run after the graphs, in
    PyTorch (the lapstyle method's own steps at the output size)."""
    from ..core.pyramid import levels_for
    from ..methods.lapstyle import Options, finish, pull_in

    opts = options or Options()
    check_supported(styles, style_weights, masks, opts)
    weights, keys = blend_weights(styles, style_weights, style_keys)
    i = next(k for k, w in enumerate(weights) if w > 0)
    side = max(32, round(opts.style_size * opts.style_scale))
    vec = cached(cache, ("onnx-style", keys[i], side, opts.weights_dir),
                 lambda: style_vector(styles[i], opts.weights_dir, side))
    levels = levels_for(max(content.shape[-2:]), opts.draft_size)
    out = paint(content, vec, levels, opts.weights_dir, opts.palette, opts.strength, callback, opts.clean_edges)
    out = finish(out, opts.finish, opts.strength, styles, weights, None, cache, keys).clamp(0, 1)
    out = pull_in(out, opts.clean_colors, opts.strength, styles, weights, None, cache, keys)
    emit(callback, "revise", max(levels, 1), max(levels, 1), out)
    return out
