"""Numbers that describe a stylized picture: how much content it kept, how much style it took, what it cost.

Inputs are (1, 3, H, W) float tensors in [0, 1] (as `brushwork.core.images.load_image` gives). Directions:

- content loss (HED-VGG relu4_2 features vs the photo's)     lower = closer to the photo's content
- style loss, Gram or mean/std (relu1_1 ... relu5_1, and mean) lower = closer to the style's textures
- lite content / lite style: the same two on EfficientNet-Lite1 lower = closer to the photo / to the style
  (proj10, and Gram distance averaged over stem, dw1, dw3, dw6, dw10, dw14): a second judge, so no method
  is scored only by the network it was trained on
- SSIM with the photo                                          higher = more of the photo's structure (1 = same)
- colour distance to the style (sliced Wasserstein, Lab)       lower = colours closer to the painting's
- wall time and peak memory of a run                           lower = cheaper

Content and style pull in opposite directions: a result is judged by where it sits on that trade-off,
not by one number. The photo is resized to the output's height and width; the style image to the output's
long side with its own aspect ratio kept (squashing it to the output's shape would distort its strokes and
bias the style losses: Gram and mean/std statistics are averages over positions, so sizes need not match).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..core import losses as L
from ..core.images import resize, resize_long_side, to_array

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
STYLE_KINDS = ("gram", "meanstd")

# name -> (short label, direction) for reports: +1 = higher is better, -1 = lower is better
DIRECTIONS = {"content_loss": ("content loss", -1), "style_gram": ("style loss (Gram)", -1),
              "style_meanstd": ("style loss (mean/std)", -1), "ssim": ("SSIM vs photo", +1),
              "lite_content": ("content loss (Lite1)", -1), "lite_style": ("style loss (Lite1 Gram)", -1),
              "color_swd": ("colour distance", -1), "seconds": ("time (s)", -1),
              "peak_rss_mb": ("peak memory (MB)", -1)}


def _encoder(encoder):
    if encoder is None:
        from ..core.encoder import shared_encoder

        encoder = shared_encoder()
    return encoder


def _same_size(img: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`img` resized to the height and width of `like` (no-op when they already match)."""
    return resize(img.float(), tuple(like.shape[-2:]))


def style_at_output_scale(style: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The style image at the long side of `like`, aspect ratio kept (its strokes at the output's scale)."""
    return resize_long_side(style.float(), max(like.shape[-2:]))


def features(img: torch.Tensor, encoder=None, taps=(*STYLE_LAYERS, CONTENT_LAYER)) -> dict[str, torch.Tensor]:
    """Encoder activations of `img` (fp32, no gradients) at the taps the metrics use."""
    with torch.no_grad():
        return _encoder(encoder)(img.float(), taps)


def content_from_features(fo: dict, fc: dict) -> float:
    return float(L.content_loss(fo[CONTENT_LAYER], fc[CONTENT_LAYER]))


def style_from_features(fo: dict, fs: dict, kind: str) -> dict[str, float]:
    out = {name: float(L.style_loss(kind, fo[name], L.style_stats(kind, fs[name]))) for name in STYLE_LAYERS}
    out["total"] = float(np.mean([out[n] for n in STYLE_LAYERS]))
    return out


def content_loss(output: torch.Tensor, content: torch.Tensor, encoder=None) -> float:
    """Relative MSE of relu4_2 features between output and photo. 0 = same content; lower is better."""
    enc = _encoder(encoder)
    fo = features(output, enc, (CONTENT_LAYER,))
    fc = features(_same_size(content, output), enc, (CONTENT_LAYER,))
    return content_from_features(fo, fc)


def style_losses(output: torch.Tensor, style: torch.Tensor, kind: str = "gram", encoder=None) -> dict[str, float]:
    """Per-layer style loss (relu1_1 ... relu5_1) and their mean under "total"; lower = closer to the style.

    kind "gram" compares Gram matrices (textures and their correlations), "meanstd" only channel means and
    standard deviations (what AdaIN matches). Relative MSEs, so layers are comparable; 0 = same statistics.
    The style is taken at the output's long side, aspect ratio kept.
    """
    if kind not in STYLE_KINDS:
        raise ValueError(f"unknown style loss kind {kind!r}; choose one of {', '.join(STYLE_KINDS)}")
    enc = _encoder(encoder)
    fo = features(output, enc, STYLE_LAYERS)
    fs = features(style_at_output_scale(style, output), enc, STYLE_LAYERS)
    return style_from_features(fo, fs, kind)


def ssim(output: torch.Tensor, content: torch.Tensor) -> float:
    """Structural similarity (scikit-image, over RGB) of output and photo: 1 = identical; higher keeps more."""
    from skimage.metrics import structural_similarity

    a, b = to_array(output), to_array(_same_size(content, output))
    win = min(7, *a.shape[:2])
    win -= 1 - win % 2  # an odd window no larger than the picture
    return float(structural_similarity(a, b, channel_axis=2, data_range=1.0, win_size=max(win, 1)))


def _lab_pixels(img: torch.Tensor, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to n random pixels of img in CIE Lab, as an (n, 3) array."""
    from skimage.color import rgb2lab

    px = to_array(img).reshape(-1, 3)
    if len(px) > n:
        px = px[rng.choice(len(px), n, replace=False)]
    return rgb2lab(px[:, None, :])[:, 0, :]


def color_distance(output: torch.Tensor, style: torch.Tensor, projections: int = 64, samples: int = 8192,
                   seed: int = 0) -> float:
    """Sliced Wasserstein-2 distance between the colour distributions of output and style, in Lab units.

    Pixels are projected on random directions of Lab space; each projection's 1-D W2 distance (from
    matched quantiles) is averaged. Roughly "how far, in Delta-E, the palette is off"; 0 = same palette,
    lower is better. Sizes need not match; a fixed seed makes it deterministic.
    """
    # the same pixel draw for both images, so identical pictures are exactly 0 apart
    a = _lab_pixels(output, samples, np.random.default_rng(seed))
    b = _lab_pixels(style, samples, np.random.default_rng(seed))
    dirs = np.random.default_rng(seed + 1).normal(size=(projections, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    q = (np.arange(256) + 0.5) / 256
    qa, qb = np.quantile(a @ dirs.T, q, axis=0), np.quantile(b @ dirs.T, q, axis=0)
    return float(np.sqrt(((qa - qb) ** 2).mean(0)).mean())


def lite_losses(output: torch.Tensor, content: torch.Tensor, style: torch.Tensor) -> dict[str, float]:
    """Content and Gram style distances on EfficientNet-Lite1 (lower = closer to the photo / to the style).

    lite_content: relative MSE of proj10 features vs the photo's; lite_style: relative Gram error averaged
    over the style taps, the style taken at the output's long side (aspect kept)."""
    from ..core import lossnet

    spec = lossnet.loss_net("efficientnet-lite1")
    net = lossnet.load(spec.name, "reflect")
    with torch.no_grad():
        fo = net(output.float(), (*spec.style_taps, spec.content_tap))
        fc = net(_same_size(content, output), spec.content_tap)
        fs = net(style_at_output_scale(style, output), spec.style_taps)
    style_d = [float(L.gram_distance_to(fo[k], fs[k])) for k in spec.style_taps]
    return {"lite_content": float(L.content_loss(fo[spec.content_tap], fc[spec.content_tap])),
            "lite_style": float(np.mean(style_d))}


def all_metrics(output: torch.Tensor, content: torch.Tensor, style: torch.Tensor, encoder=None) -> dict[str, float]:
    """Every quality metric of one result as a flat dict (one encoder pass per image).

    Keys: content_loss, style_gram, style_meanstd (means over layers), style_gram_<layer>,
    style_meanstd_<layer>, lite_content, lite_style, ssim, color_swd. See the module docstring for directions.
    """
    enc = _encoder(encoder)
    fo = features(output, enc)
    fc = features(_same_size(content, output), enc, (CONTENT_LAYER,))
    fs = features(style_at_output_scale(style, output), enc, STYLE_LAYERS)
    out = {"content_loss": content_from_features(fo, fc)}
    for kind in STYLE_KINDS:
        per = style_from_features(fo, fs, kind)
        out[f"style_{kind}"] = per.pop("total")
        out.update({f"style_{kind}_{k}": v for k, v in per.items()})
    out.update(lite_losses(output, content, style))
    out["ssim"] = ssim(output, content)
    out["color_swd"] = color_distance(output, style)
    return out


# ---- cost of a run ----------------------------------------------------------------------------------------

@dataclass
class Cost:
    """Wall time of a call and how far its resident memory rose above where it started (lower is better)."""
    seconds: float
    peak_rss_mb: float


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _vm_hwm() -> int | None:
    """This process's peak RSS so far in bytes (Linux VmHWM), or None where unavailable."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_hwm() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0), so VmHWM afterwards is this call's peak."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _release_free_memory() -> None:
    """Hand memory freed by earlier work back to the OS (glibc malloc_trim), so it can't hide this call's peak."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def measure(fn, *args, interval: float = 0.005, **kwargs):
    """Call fn(*args, **kwargs); return (its result, Cost).

    Peak memory is the highest RSS seen during the call minus the RSS before it: from the kernel's peak
    mark when it can be reset (exact), else from a background thread sampling RSS every `interval` s.
    Freed heap memory is returned to the OS first; memory still held by caches (models, allocator pools)
    is not counted, so this is the call's extra memory, not the process's total (see benchmarks/run.py).
    """
    _release_free_memory()
    start_rss = _rss()
    exact = _reset_hwm() and _vm_hwm() is not None
    peak = [start_rss]
    stop = threading.Event()

    def sample():
        while not stop.wait(interval):
            peak[0] = max(peak[0], _rss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    try:
        result = fn(*args, **kwargs)
    finally:
        seconds = time.perf_counter() - t0
        stop.set()
        sampler.join()
    top = max(peak[0], _rss(), (_vm_hwm() or 0) if exact else 0)
    return result, Cost(seconds=seconds, peak_rss_mb=max(0, top - start_rss) / 2**20)
