"""Memory a stylization will need, estimated per method before any work, so sizes that cannot fit are refused up front.

Each method's peak is modelled as bytes per pixel of the pictures it works on at once (the whole output, one
tile, the draft, the style image), with coefficients measured by benchmarks/bench_memory.py and rounded up:
a guard against impossible requests (hundreds of GiB), not a prediction to the megabyte.
"""
from __future__ import annotations

import dataclasses

import psutil

from ..errors import BrushworkError
from .images import fit_size

GiB = 2 ** 30
BASE = 300 * 2 ** 20  # the networks and the interpreter's working set, when not loaded yet
# bytes per pixel, per method and picture (fp32; bf16 needs less, so the guard stays on the safe side); the style
# is counted as a square of style_size * style_scale (its real aspect is not known yet): an upper bound
PER_PIXEL = {
    "optimize": {"hed-vgg16": 3300, "efficientnet-lite1": 2900, "efficientnet-lite2": 3500, "style": 800},
    "adain": {"whole": 1100, "tile": 900, "full": 110, "style": 500},  # multi-level: 3.4 GB at 2048 px
    # full: + 12 for clean_colors' float copy of the finished picture
    "lapstyle": {"whole": 380, "tile": 380, "full": 82, "draft": 1200, "style": 700},
    "attention": {"whole": 380, "tile": 380, "full": 82, "draft": 1600, "style": 900},  # + bounded attention
}
LIMITS = {"size": 16, "style_size": 32, "draft_size": 32}  # smallest value of each sized option


def _pixels(h: int, w: int, long_side: float) -> float:
    """Pixels of an (h, w) picture scaled to `long_side` (aspect ratio kept)."""
    th, tw = fit_size(h, w, max(1, round(long_side)))
    return th * tw


def parts(method: str, opts, h: int, w: int) -> dict[str, float]:
    """Bytes the method needs for (h, w) content, by the option that drives each part (size, style_size, ...)."""
    k = PER_PIXEL[method]
    out_px = _pixels(h, w, opts.size)
    if method == "optimize":
        style_side = opts.size * opts.style_scale
        return {"size": k[opts.loss_net] * out_px, "style_scale": k["style"] * style_side ** 2}
    tiled = out_px > opts.tile_above
    work = k["tile"] * (opts.tile + 128) ** 2 if tiled else k["whole"] * out_px
    res = {"size": work + k["full"] * out_px,
           "style_size": k["style"] * (opts.style_size * opts.style_scale) ** 2}
    if method in ("lapstyle", "attention"):
        res["draft_size"] = k["draft"] * _pixels(h, w, min(opts.draft_size, opts.size))
    return res


def estimate(method: str, opts, h: int, w: int) -> float:
    """Bytes of peak memory the method is expected to need on (h, w) content at opts.size."""
    return BASE + sum(parts(method, opts, h, w).values())


def available() -> int:
    """Bytes of memory this machine can give now (free plus reclaimable cache)."""
    return psutil.virtual_memory().available


def _largest(method: str, opts, h: int, w: int, name: str, budget: float):
    """The largest value of option `name` (others unchanged) whose estimate fits in `budget`; None if none does."""
    def fits(v):
        return estimate(method, dataclasses.replace(opts, **{name: v}), h, w) <= budget

    if name == "style_scale":
        lo, hi = 0.0, float(opts.style_scale)
        if not fits(0.01):
            return None
        for _ in range(30):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        return round(lo, 2)
    lo, hi = LIMITS[name], int(getattr(opts, name))
    if not fits(lo):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def check(method: str, opts, h: int, w: int, budget: float | None = None) -> None:
    """Refuse, with the largest value that would work, a request whose memory estimate exceeds what is available.
    A method without a memory model (one registered by a user) is not checked."""
    if method not in PER_PIXEL:
        return
    budget = available() if budget is None else budget
    need = estimate(method, opts, h, w)
    if need <= budget:
        return
    part = parts(method, opts, h, w)
    head = f"needs about {need / GiB:.1f} GiB of memory with method {method}, more than the {budget / GiB:.1f} GiB available"
    for name in sorted(part, key=part.get, reverse=True):  # the option that costs most, if lowering it alone helps
        best = _largest(method, opts, h, w, name, budget)
        if best is not None:
            break
    else:
        raise BrushworkError(f"size {opts.size} {head}; lower size, style_size or draft_size, or free some memory")
    hint = ""
    if name == "size" and method == "optimize":
        hint = "; for larger pictures use method lapstyle or adain, which work in tiles"
    elif name == "size":
        hint = (f"; {method} already works in tiles above {opts.tile_above / 1e6:.1f} megapixels, but the whole "
                "picture must still fit in memory, so a larger one needs a machine with more memory")
    raise BrushworkError(f"{name} {getattr(opts, name)} {head}; the largest {name} that fits is {best}{hint}")
