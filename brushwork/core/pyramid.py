"""Laplacian pyramids: split an image into band-pass levels plus a low-resolution residual, and fold back.

Decomposition and reconstruction use the same down/up operators, so fold(split(x)) == x exactly
(up to float rounding), for any size and aspect ratio.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F


def down(x: torch.Tensor) -> torch.Tensor:
    """Half resolution (ceil for odd sizes), antialiased."""
    h, w = x.shape[-2:]
    return F.interpolate(x, size=((h + 1) // 2, (w + 1) // 2), mode="bilinear", antialias=True, align_corners=False)


def up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling to an exact size."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def split(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """[band_0 (full res), ..., band_{levels-1}, residual (1/2^levels res)]."""
    out = []
    cur = x
    for _ in range(levels):
        small = down(cur)
        out.append(cur - up(small, cur.shape[-2:]))
        cur = small
    return out + [cur]


def fold(pyr: list[torch.Tensor]) -> torch.Tensor:
    """Inverse of split: residual upsampled and summed with each band, coarse to fine."""
    cur = pyr[-1]
    for band in reversed(pyr[:-1]):
        cur = band + up(cur, band.shape[-2:])
    return cur


def levels_for(long_side: int, top: int) -> int:
    """Levels that bring a long side down to `top` px or below: one per doubling (0 if already small)."""
    return max(0, math.ceil(math.log2(long_side / top) - 1e-9))


def climb(start: torch.Tensor, pyr: list[torch.Tensor],
          level: Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The LapStyle ladder: from a picture at the residual's resolution, go up the bands of `pyr` (from split)
    coarse to fine; at each, `level(i, band, up)` turns the upsampled picture into the next one (i = 0 first)."""
    out = start
    for i, band in enumerate(reversed(pyr[:-1])):
        out = level(i, band, up(out, band.shape[-2:]))
    return out
