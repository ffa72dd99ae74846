"""Runs a fully convolutional function over a large tensor in overlapping tiles, keeping only tile cores.

With an overlap at least the function's receptive field, the result matches the untiled one (up to
padding effects at tile borders, which the overlap discards), while memory is bounded by the tile size.
"""
from __future__ import annotations

import torch
from tqdm import tqdm


def run_tiled(fn, x: torch.Tensor, scale: float, tile: int, overlap: int, out_channels: int,
              progress: bool = False, desc: str = "tiles", align: int = 8) -> torch.Tensor:
    """Apply fn to tiles of x (N, C, H, W); fn maps an (h, w) tile to (h*scale, w*scale).

    Tiles are `tile` px with `overlap` px of context on each side; starts are multiples of `align`
    so pooling grids line up with the whole-image computation.
    """
    n, _, h, w = x.shape
    oh, ow = round(h * scale), round(w * scale)
    out = torch.empty(n, out_channels, oh, ow)
    core = max(align, (tile - 2 * overlap) // align * align)
    ys = list(range(0, h, core))
    xs = list(range(0, w, core))
    bar = tqdm(total=len(ys) * len(xs), desc=desc, disable=not progress, leave=False)
    for y0 in ys:
        for x0 in xs:
            y1, x1 = min(h, y0 + core), min(w, x0 + core)
            # context window, aligned
            cy0 = max(0, (y0 - overlap) // align * align)
            cx0 = max(0, (x0 - overlap) // align * align)
            cy1, cx1 = min(h, y1 + overlap), min(w, x1 + overlap)
            res = fn(x[..., cy0:cy1, cx0:cx1])
            oy0, ox0 = round((y0 - cy0) * scale), round((x0 - cx0) * scale)
            hh, ww = round(y1 * scale) - round(y0 * scale), round(x1 * scale) - round(x0 * scale)
            out[..., round(y0 * scale):round(y0 * scale) + hh, round(x0 * scale):round(x0 * scale) + ww] = \
                res[..., oy0:oy0 + hh, ox0:ox0 + ww].to(out.dtype)
            bar.update(1)
    bar.close()
    return out
