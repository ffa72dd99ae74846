"""Multi-level AdaIN in one pass at the output resolution.

The content's relu2_1, relu3_1 and relu4_1 features (HED-VGG16) each take the style's channel mean/std
(AdaIN, Huang & Belongie 2017, at three depths), and LapStyle's Drafting network (the AdaIN decoder with
relu3_1 / relu2_1 skips; the very weights `method="lapstyle"` drafts with) decodes them at full resolution:
one encoder pass, one decoder pass, no pyramid and no revision networks. As in LapStyle, the colours are then
moved part of the way onto the painting's whole palette (`palette`).

Any size and aspect: the content is reflect-padded by a margin (the encoder's zero padding would show as a
frame up to ~40 px in) and to a multiple of 8, then cropped back. Above `tile_above` pixels it works in overlapping tiles: a
first pass gathers the whole picture's feature statistics tile by tile, a second paints each tile with
them, so the tiles agree with the whole picture and memory stays bounded.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..core.encoder import shared_encoder
from ..core.images import resize_long_side
from ..core.stats import EPS
from ..core.tiling import run_tiled
from ..nets.adain import mean_std, transfer
from ..nets.lapstyle import DRAFT_LAYERS
from .common import (blend_weights, cached, check_basics, check_precision, check_share, emit,
                     pad_to_multiple)
from .lapstyle import features, load_nets, toward_palette

WEIGHTS = Path(__file__).resolve().parent.parent / "assets" / "models" / "lapstyle_draft.safetensors"
MARGIN = 48  # px reflected around the content, cut away after: the encoder's zero padding shows as a frame ~40 px in
OVERLAP = 80  # px of context around a tile: the reach of encoder + decoder is under 64 px (48 px leaves seams)
STRIDE = {"relu2_1": 2, "relu3_1": 4, "relu4_1": 8}  # of each DRAFT_LAYERS map


@dataclass
class Options:
    """Knobs of the AdaIN method."""
    size: int = 512
    strength: float = 1.0
    style_size: int = 512
    style_scale: float = 1.0
    precision: str = "auto"
    tile: int = 1024
    tile_above: int = 2048 * 2048
    seed: int = 0  # accepted like every method's; AdaIN draws no random numbers: any seed, the same picture
    palette: float = 0.6  # as LapStyle's: how far the colours move onto the painting's whole palette (0: the network's)

    def check(self) -> None:
        check_basics(self)
        check_share("palette", self.palette)
        self.precision = check_precision(self.precision)


def load_net(dtype: torch.dtype = torch.bfloat16) -> torch.nn.Module:
    """LapStyle's Drafting network (lapstyle_draft.safetensors) in `dtype`, channels_last, eval mode: the very
    object lapstyle paints with (one load per process)."""
    return load_nets(None, dtype)[0]


def _feats(enc, x: torch.Tensor) -> dict:
    return features(enc, x, DRAFT_LAYERS)


def style_stats(enc, style: torch.Tensor, opts: Options, cache: dict | None, key) -> dict:
    """Per-layer channel mean/std of a style image at style_size * style_scale (cached per style key)."""
    side = max(32, round(opts.style_size * opts.style_scale))

    def compute():
        with torch.no_grad():
            return {k: mean_std(v) for k, v in _feats(enc, resize_long_side(style, side)).items()}

    return cached(cache, ("adain", key, side, opts.precision), compute)


def _rebase(style, here, whole):
    """Style (mean, std) for transfer() on one tile: transfer normalises by the tile's own statistics `here`,
    so shift and scale the style's to give exactly what the whole picture's statistics `whole` would."""
    (sm, ss), (hm, hs), (wm, ws) = style, here, whole
    return sm + (hm - wm) / ws * ss, ss * hs / ws


def _paint(enc, net, x, masks, sstats, weights, strength, whole=None):
    """Paint padded content x (1, 3, H, W), masks at its size; `whole`: the picture's statistics when x is a tile."""
    dtype = next(net.parameters()).dtype
    f = _feats(enc, x)

    def decode(t):
        return net({k: v.to(dtype).contiguous(memory_format=torch.channels_last) for k, v in t.items()},
                   x.shape[-2:]).float()

    def target(k):
        st = [s[k] for s in sstats]
        if whole is not None:
            here = [mean_std(f[k], m) for m in masks] if masks else [mean_std(f[k])] * len(st)
            st = [_rebase(s, h, w) for s, h, w in zip(st, here, whole[k])]
        return transfer(f[k], st, weights, masks, strength)

    out = decode({k: target(k) for k in DRAFT_LAYERS})
    if strength < 1:  # give back what the network loses of the photo, in proportion: strength 0 = the photo
        out = out + (1 - strength) * (x - decode(f))
    return out


def _tiles(h: int, w: int, tile: int):
    """(core box, context box) of each tile, as core.tiling.run_tiled cuts them (multiples of 8)."""
    core = max(8, (tile - 2 * OVERLAP) // 8 * 8)
    for y0 in range(0, h, core):
        for x0 in range(0, w, core):
            y1, x1 = min(h, y0 + core), min(w, x0 + core)
            yield (y0, y1, x0, x1), (max(0, y0 - OVERLAP), min(h, y1 + OVERLAP),
                                     max(0, x0 - OVERLAP), min(w, x1 + OVERLAP))


def _whole_stats(enc, x, masks, n_styles, tile) -> dict:
    """Per layer, one (mean, std) per style (per region with masks) of the whole picture's features, as
    mean_std gives them, gathered tile by tile (tile sums added up in float64)."""
    h, w = x.shape[-2:]
    regions = {k: [F.interpolate(m, size=(h // s, w // s), mode="bilinear", align_corners=False) for m in masks]
               if masks else [None] for k, s in STRIDE.items()}
    sums = {k: [[0.0, 0.0, 0.0] for _ in regions[k]] for k in STRIDE}
    for (y0, y1, x0, x1), (cy0, cy1, cx0, cx1) in _tiles(h, w, tile):
        for k, v in _feats(enc, x[..., cy0:cy1, cx0:cx1]).items():
            s = STRIDE[k]
            v = v[..., (y0 - cy0) // s:(y1 - cy0) // s, (x0 - cx0) // s:(x1 - cx0) // s]
            for acc, m in zip(sums[k], regions[k]):
                m = torch.ones_like(v[:, :1]) if m is None else m[..., y0 // s:y1 // s, x0 // s:x1 // s]
                mv = m * v
                for i, p in enumerate((m, mv, mv * v)):
                    acc[i] = acc[i] + p.sum((2, 3), keepdim=True).double()
    out = {}
    for k in STRIDE:
        stats = []
        for n, s1, s2 in sums[k]:
            mean = s1 / n
            stats.append((mean.float(), ((s2 / n - mean ** 2).clamp(min=0) + EPS).sqrt().float()))
        out[k] = stats if masks else stats * n_styles
    return out


def stylize(content: torch.Tensor, styles: list[torch.Tensor], style_weights=None, masks=None,
            options: Options | None = None, cache: dict | None = None, style_keys=None, progress: bool = False,
            callback=None) -> torch.Tensor:
    """Stylize (1, 3, H, W) content with one or more styles; returns (1, 3, H, W) in [0, 1].
    callback receives one `Progress("decode", 1, 1, image)` when the picture is done."""
    opts = options or Options()
    dtype = torch.bfloat16 if opts.precision == "bf16" else torch.float32
    weights, keys = blend_weights(styles, style_weights, style_keys)
    enc = shared_encoder("max", "zeros", dtype)
    net = load_net(dtype)
    sstats = [style_stats(enc, s, opts, cache, k) for s, k in zip(styles, keys)]
    h, w = content.shape[-2:]
    m = min(MARGIN, h - 1, w - 1)

    def pad(t):  # painted beyond the borders, then cut away: no streaks along the edges
        return pad_to_multiple(F.pad(t, (m, m, m, m), mode="reflect"), 8)

    x = pad(content)
    ms = [pad(F.interpolate(k.float(), size=(h, w), mode="bilinear", align_corners=False)) for k in masks or []]
    with torch.no_grad():
        if h * w <= opts.tile_above:
            out = _paint(enc, net, x, ms, sstats, weights, opts.strength)
        else:  # masks travel with the tiles as extra channels
            whole = _whole_stats(enc, x, ms, len(styles), opts.tile)

            def tile(t):
                return _paint(enc, net, t[:, :3], list(t[:, 3:].split(1, 1)) if ms else [], sstats, weights,
                              opts.strength, whole)

            out = run_tiled(tile, torch.cat([x, *ms], 1), scale=1, tile=opts.tile, overlap=OVERLAP, out_channels=3,
                            progress=progress, desc="paint tiles")
        out = out[..., m:m + h, m:m + w]
        if opts.palette > 0:  # the network keeps much of the photo's hues: move them onto the painting's palette
            out = toward_palette(out, opts.palette * opts.strength, styles, weights, masks, cache, keys)
        out = out.clamp(0, 1)
    emit(callback, "decode", 1, 1, out)
    return out
