"""Colours the painting does not have, pulled in: every colour farther than `RADIUS` Delta-E (CIE76, Lab) from all
of the painting's colours moves to within `RADIUS` of the nearest one; colours the painting has stay as they are.

This removes the tints a painting does not have (a mauve sky, an olive glow) and the photo's own colours surviving
where the painting has nothing like them, without flattening anything: the pull depends on the colour only, so
texture, gradients and the photo's structure are kept. The pull is a table of RGB displacements over the colour
cube, worked out once per painting (~0.1 s), smoothed so that neighbouring colours move alike (no posterised
steps), and applied to a picture by one lookup per pixel (~4 ms at 512 px).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

RADIUS = 8.0  # Delta-E: a colour this close to one of the painting's reads as the painting's
GRID = 33  # cells per axis of the RGB cube where the pull is worked out
FINE = 65  # cells per axis of the table pictures look up (the coarse one, interpolated once)
SMOOTH = 1.0  # Gaussian sigma over the coarse grid, in cells: neighbouring colours move alike


def pull_table(pixels: torch.Tensor, radius: float = RADIUS) -> torch.Tensor:
    """(3, FINE**3) RGB displacements that take each colour of the cube to within `radius` Delta-E of its nearest
    colour among `pixels` ((1, 3, ...) in [0, 1], e.g. a painting at 128 px; a blend's paintings side by side)."""
    from scipy.ndimage import gaussian_filter
    from scipy.spatial import cKDTree
    from skimage.color import lab2rgb, rgb2lab

    pal = rgb2lab(pixels.float().flatten(2)[0].t().clamp(0, 1).numpy()[None])[0]
    pal = np.unique(np.round(pal, 1), axis=0)  # repeats cost the search and change nothing
    g = np.linspace(0.0, 1.0, GRID)
    rgb = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)  # [r][g][b]
    lab = rgb2lab(rgb[None])[0]
    dist, nearest = cKDTree(pal).query(lab)
    near = pal[nearest]
    keep = np.minimum(1.0, radius / np.maximum(dist, 1e-6))[:, None]  # 1 inside the radius: no move
    moved = lab2rgb((near + (lab - near) * keep)[None])[0]
    shift = (moved - rgb).reshape(GRID, GRID, GRID, 3)
    shift = np.stack([gaussian_filter(shift[..., c], SMOOTH, mode="nearest") for c in range(3)])
    fine = F.interpolate(torch.from_numpy(shift).float()[None], size=(FINE,) * 3, mode="trilinear",
                         align_corners=True)
    return fine[0].reshape(3, -1).contiguous()


def pull_to_palette(img: torch.Tensor, table: torch.Tensor, share=1.0, chunk: int = 1 << 20) -> torch.Tensor:
    """(1, 3, H, W) `img` with its colours moved `share` (a number or a (1, 1, H, W) map) of the way along
    `table` (from `pull_table`); in [0, 1]. `chunk` pixels at a time, so a 4096 px picture needs one copy of itself
    and a few MB more."""
    out = img.float().clamp(0, 1).contiguous()
    x = out.view(3, -1)
    weight = share.float().reshape(1, -1) if isinstance(share, torch.Tensor) else None
    for start in range(0, x.shape[1], chunk):
        part = x[:, start:start + chunk]
        cell = part.mul(FINE - 1).round_().long()
        shift = table[:, (cell[0] * FINE + cell[1]) * FINE + cell[2]]
        part.add_(shift.mul_(weight[:, start:start + chunk]) if weight is not None else shift.mul_(share))
    return out.clamp_(0, 1)
