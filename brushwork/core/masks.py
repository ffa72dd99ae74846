"""Region masks as the methods get them: feathered edges and weights that share every pixel among the styles.

A hand-drawn mask has a hard edge, which the painting shows as a seam; and two masks that leave a gap (or
overlap) would leave the gap unpainted (flat grey) or halve both styles. `region_weights` blurs each mask's
edge a few pixels at the output size and makes the masks sum to 1 everywhere: inside a region its style has
full strength, and where no mask reaches the styles share the pixel by their blend weights.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

FEATHER = 0.012  # Gaussian sigma of the soft edge, as a fraction of the output's long side (6 px at 512)
MIN_FEATHER = 2.0  # px: the least sigma, so a small picture's edge is soft too


def feather_sigma(hw: tuple[int, int]) -> float:
    """The default soft-edge sigma in px for an output of size hw."""
    return max(MIN_FEATHER, FEATHER * max(hw))


def feather(mask: torch.Tensor, sigma: float) -> torch.Tensor:
    """A (N, 1, H, W) mask blurred by a Gaussian of `sigma` px (separable, edges replicated): a soft edge about
    2.5 sigma wide from 10% to 90%. sigma 0 returns it unchanged."""
    if sigma <= 0:
        return mask
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = (k / k.sum()).to(mask.dtype)
    out = F.pad(mask, (radius, radius, 0, 0), mode="replicate")
    out = F.conv2d(out, k.view(1, 1, 1, -1))
    out = F.pad(out, (0, 0, radius, radius), mode="replicate")
    return F.conv2d(out, k.view(1, 1, -1, 1))


def region_weights(masks: list[torch.Tensor], weights: list[float] | None = None,
                   sigma: float | None = None) -> list[torch.Tensor]:
    """Masks (each (1, 1, H, W) in [0, 1]) feathered by `sigma` px (None: feather_sigma; 0: hard) and made to sum
    to 1 at every pixel: covered pixels divide among the masks that cover them; where the masks together cover
    less than all (a gap), the rest goes to the styles by their blend `weights` (equal by default)."""
    hw = tuple(masks[0].shape[-2:])
    sigma = feather_sigma(hw) if sigma is None else sigma
    soft = [feather(m.float().clamp(0, 1), sigma) for m in masks]
    total = sum(soft)
    cover = total.clamp(max=1.0)
    weights = weights or [1.0] * len(masks)
    shares = [w / sum(weights) for w in weights]
    return [cover * s / total.clamp(min=1e-6) + (1 - cover) * share for s, share in zip(soft, shares)]
