"""Small pieces every method needs: normalised blend weights and cache keys, padding to a multiple."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def blend_weights(styles: list, style_weights=None, style_keys=None) -> tuple[list[float], list]:
    """Blend weights summing to 1 (equal by default) and a cache key per style."""
    weights = style_weights or [1.0] * len(styles)
    total = sum(weights)
    return [w / total for w in weights], style_keys or [id(s) for s in styles]


def pad_to_multiple(x: torch.Tensor, m: int) -> torch.Tensor:
    """Pad bottom/right so H and W are multiples of m (reflection, so no hard edge shows after cropping back)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if not (ph or pw):
        return x
    return F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")


def cached(cache: dict | None, key, compute):
    """compute() memoised in `cache` under key (no cache: just compute)."""
    if cache is None:
        return compute()
    if key not in cache:
        cache[key] = compute()
    return cache[key]
