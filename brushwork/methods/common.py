"""Small pieces every method needs: the progress event, option checks, normalised blend weights and cache
keys, a bounded style cache, padding to a multiple."""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..core import pyramid
from ..core.precision import PRECISIONS, resolve
from ..errors import BrushworkError


@dataclass(frozen=True)
class Progress:
    """What every method passes to its `callback`: a stage, how far it is (step of total, 1-based) and, where
    there is one, the picture so far ((1, 3, H, W) in [0, 1], at that stage's resolution) for live previews.

    Stages: optimize "optimize" (one event per iteration; `scale` = index of the coarse-to-fine scale);
    lapstyle "draft" then "revise" (one per pyramid level); adain "decode".
    """
    stage: str
    step: int
    total: int
    image: torch.Tensor | None = None
    scale: int = 0
    overall: float | None = None  # how far the whole run is, 0 to 1, where the method knows (optimize's scales)

    @property
    def fraction(self) -> float:
        """How far this stage is, from 0 to 1."""
        return self.step / self.total if self.total else 1.0


def emit(callback, stage: str, step: int, total: int, image: torch.Tensor | None = None, scale: int = 0,
         overall: float | None = None):
    """Send a Progress event to callback, if there is one; returns what the callback returns (None as a rule)."""
    if callback is not None:
        return callback(Progress(stage, step, total, None if image is None else image.detach(), scale, overall))
    return None


def check_basics(opts) -> None:
    """The checks every method's Options share: strength in [0, 1], size >= 16 px, a positive style scale."""
    check_share("strength", opts.strength)
    if opts.size < 16:
        raise BrushworkError(f"size must be at least 16 px, got {opts.size}")
    if opts.style_scale <= 0:
        raise BrushworkError(f"style scale must be positive, got {opts.style_scale}")


def check_share(name: str, value: float) -> None:
    """A one-line error unless value is in [0, 1] (strength, palette)."""
    if not 0.0 <= value <= 1.0:
        raise BrushworkError(f"{name} must be between 0 and 1, got {value}")


def check_precision(precision: str) -> str:
    """A known precision resolved for this machine (auto: bf16 only where the CPU computes it natively)."""
    if precision not in PRECISIONS:
        raise BrushworkError(f"unknown precision {precision!r}; choose auto, bf16 or fp32")
    return resolve(precision)


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


class LRUCache(OrderedDict):
    """A dict holding at most `maxsize` entries, dropping the least recently used: a Stylizer in a long-running
    server sees endless new styles, and each cached entry holds feature statistics (up to a few MB)."""

    def __init__(self, maxsize: int = 64):
        super().__init__()
        self.maxsize = maxsize
        self._lock = threading.Lock()

    def __getitem__(self, key):
        with self._lock:
            value = super().__getitem__(key)
            self.move_to_end(key)
            return value

    def __setitem__(self, key, value):
        with self._lock:
            super().__setitem__(key, value)
            self.move_to_end(key)
            while len(self) > self.maxsize:
                self.popitem(last=False)


def cached(cache: dict | None, key, compute):
    """compute() memoised in `cache` under key (no cache: just compute)."""
    if cache is None:
        return compute()
    try:
        return cache[key]
    except KeyError:
        value = cache[key] = compute()
        return value


MIN_PAINT_SIDE = 16  # the networks' shortest side (at the draft for lapstyle); thinner pictures are mirror-padded


def paint_padding(opts, hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) px of mirror padding that bring a picture of size hw to the shortest side the
    method can paint: MIN_PAINT_SIDE, at the draft for a method that drafts (a 4000x100 panorama at 512 px is
    512x13, its lapstyle draft 256x7: the networks' reflection padding needs more). Cut away after painting."""
    h, w = hw
    draft = getattr(opts, "draft_size", None)
    levels = pyramid.levels_for(max(h, w), draft) if draft else 0
    need = min(max(h, w), MIN_PAINT_SIDE * 2 ** levels)
    ph, pw = max(0, need - h), max(0, need - w)
    return ph // 2, ph - ph // 2, pw // 2, pw - pw // 2
