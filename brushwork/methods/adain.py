"""AdaIN (Huang & Belongie 2017) with our decoder: one encoder pass, a statistics swap, one decoder pass.

Any size: the content is reflect-padded to a multiple of 8 and cropped back; above `tile_above` pixels the
encoder and decoder run in overlapping tiles while the AdaIN statistics stay global, so no seams show and
memory stays bounded.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from ..core.encoder import shared_encoder
from ..core.images import resize_long_side
from ..core.tiling import run_tiled
from ..nets import for_inference, load_weights
from ..nets.adain import ADAIN_LAYER, Decoder, mean_std, transfer
from .common import blend_weights, cached, check_basics, check_precision, emit, pad_to_multiple

WEIGHTS = "adain.safetensors"


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

    def check(self) -> None:
        check_basics(self)
        self.precision = check_precision(self.precision)


@lru_cache(maxsize=2)
def load_decoder(path: str | None = None, dtype: torch.dtype = torch.bfloat16) -> Decoder:
    """The shipped decoder (fp16 safetensors) in `dtype`, channels_last, eval mode."""
    return for_inference(load_weights(Decoder(), path or Path(__file__).parent.parent / "assets" / "models" / WEIGHTS),
                         dtype)


def _encode(enc, x: torch.Tensor) -> torch.Tensor:
    """relu4_1 features in fp32 (the encoder itself may run in bf16, channels_last)."""
    return enc(x.contiguous(memory_format=torch.channels_last), ADAIN_LAYER)[ADAIN_LAYER].float()


def _decode(dec, t: torch.Tensor) -> torch.Tensor:
    p = next(dec.parameters())
    return dec(t.to(p.dtype).contiguous(memory_format=torch.channels_last)).float()


def style_stats(enc, style: torch.Tensor, opts: Options, cache: dict | None, key) -> tuple[torch.Tensor, torch.Tensor]:
    """relu4_1 channel mean/std of a style image at style_size * style_scale (cached per style key)."""
    side = max(32, round(opts.style_size * opts.style_scale))

    def compute():
        with torch.no_grad():
            return mean_std(_encode(enc, resize_long_side(style, side)))

    return cached(cache, ("adain", key, side, opts.precision), compute)


def stylize(content: torch.Tensor, styles: list[torch.Tensor], style_weights=None, masks=None,
            options: Options | None = None, cache: dict | None = None, style_keys=None, progress: bool = False,
            callback=None) -> torch.Tensor:
    """Stylize (1, 3, H, W) content with one or more styles; returns (1, 3, H, W) in [0, 1].
    callback receives one `Progress("decode", 1, 1, image)` when the picture is done."""
    opts = options or Options()
    dtype = torch.bfloat16 if opts.precision == "bf16" else torch.float32
    weights, keys = blend_weights(styles, style_weights, style_keys)
    enc = shared_encoder("max", "zeros", dtype)
    dec = load_decoder(None, dtype)
    stats = [style_stats(enc, s, opts, cache, k) for s, k in zip(styles, keys)]
    h, w = content.shape[-2:]
    x = pad_to_multiple(content, 8)
    whole = x.shape[-2] * x.shape[-1] <= opts.tile_above
    with torch.no_grad():
        feat = _encode(enc, x) if whole else run_tiled(lambda tile: _encode(enc, tile), x, scale=1 / 8,
                                                        tile=opts.tile, overlap=64, out_channels=512,
                                                        progress=progress, desc="encode tiles")

        def decode(t):
            return _decode(dec, t) if whole else run_tiled(lambda tile: _decode(dec, tile), t, scale=8,
                                                           tile=opts.tile // 8, overlap=8, out_channels=3,
                                                           progress=progress, desc="decode tiles")

        t = transfer(feat, stats, weights, masks, opts.strength)
        # the detail the decoder cannot rebuild from relu4_1, returned in proportion: strength 0 = the photo
        detail = (1 - opts.strength) * (x - decode(feat)) if opts.strength < 1 else 0.0
        del feat  # bounded memory for huge images: only one 512-channel map at a time
        out = (decode(t) + detail)[..., :h, :w].clamp(0, 1)
    emit(callback, "decode", 1, 1, out)
    return out
