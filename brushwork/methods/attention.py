"""Attention: LapStyle whose draft takes each region's style from the matching region of the painting.

The Drafting network reads attention-weighted per-position style statistics (nets/attention.py, in the spirit
of AdaAttN) instead of the painting's global mean and std, so a photo's sky takes the painting's sky colours
and its buildings the painting's ground; then the same palette step, Revision networks and pyramid as
`lapstyle`, at any size and with every control (strength, blends, masks, colour preservation, subject).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from ..core.images import resize_long_side
from ..errors import BrushworkError
from ..nets import for_inference
from ..nets.attention import load_attention_draft
from ..nets.lapstyle import style_code
from . import lapstyle
from .common import cached

WEIGHTS_FILE = "attention_draft.safetensors"


@dataclass
class Options(lapstyle.Options):
    """LapStyle's knobs; the draft's statistics come from attention (style seen at `style_size` x `style_scale`).
    `clean_edges` (1.0, as lapstyle's) matters more here: the attention draft paints stronger halos (on test 0.241
    against lapstyle's 0.180 without it, 0.148 with it; blind on eval 16 to 4 over 0, on test 35 of 48). `palette` is
    lapstyle's 0.65: the whole palette (1.0, the default before) tinted faces yellow-green and olive; blind on eval
    (the ten pairs and the astronaut with every painting) 0.65 won 25 to 12 (1 tie)."""
    max_keys: int = 1024  # style positions attended to per depth (subsampled with a fixed seed above it)

    def check(self) -> None:
        super().check()
        if self.max_keys < 16:
            raise BrushworkError(f"max_keys must be at least 16, got {self.max_keys}")


def weights_path(weights_dir: str | None = None) -> Path:
    """The attention weights file (in `weights_dir`, else the package's)."""
    path = (Path(weights_dir) if weights_dir else lapstyle.WEIGHTS_DIR) / WEIGHTS_FILE
    if not path.is_file():
        raise BrushworkError(f"attention weights missing: {path}")
    return path


@lru_cache(maxsize=4)
def load_net(weights_dir: str | None = None, dtype: torch.dtype = torch.bfloat16):
    """The attention drafting network (attention modules + factored draft), for inference."""
    return for_inference(load_attention_draft(weights_path(weights_dir)), dtype)


@lru_cache(maxsize=4)
def encoder_padding(weights_dir: str | None = None) -> str:
    """The VGG padding the weights were trained with (their metadata; zeros when unsaid): attention shifts under
    another padding (with zero-trained weights and replicate padding the photo as its own painting came out 0.045
    brighter)."""
    from safetensors import safe_open

    with safe_open(str(weights_path(weights_dir)), "pt") as f:
        return (f.metadata() or {}).get("encoder_padding", "zeros")


class AttentionDrafting(lapstyle.Drafting):
    """Attention statistics into the attention draft; revision networks from lapstyle (or a .brush file)."""

    def __init__(self, opts: Options, dtype: torch.dtype):
        super().__init__(opts, dtype)
        self.encoder_padding = encoder_padding(opts.weights_dir)  # as trained
        self.margin = 3 / 16 if self.encoder_padding == "zeros" else 0.0  # keeps zero padding's bands off the picture
        self.model = load_net(opts.weights_dir, dtype)
        self.model.attn.max_keys = opts.max_keys
        self.net = self.model.draft

    def style(self, enc, style: torch.Tensor, opts: Options, cache: dict | None, key) -> dict:
        side = max(32, round(opts.style_size * opts.style_scale))

        def compute():
            with torch.no_grad():
                f = lapstyle.features(enc, resize_long_side(style, side), lapstyle.STYLE_TAPS)
                return {"memory": self.model.attn.memory(f), "code": style_code(f)}

        return cached(cache, ("attention", key, side, opts.max_keys, opts.precision), compute)

    def targets(self, cf: dict, sfs: list, weights, masks) -> dict:
        return self.model.attn(cf, [sf["memory"] for sf in sfs], weights, masks, 1.0)


def stylize(content: torch.Tensor, styles: list[torch.Tensor], style_weights=None, masks=None,
            options: Options | None = None, cache: dict | None = None, style_keys=None, progress: bool = False,
            callback=None) -> torch.Tensor:
    """Stylize (1, 3, H, W) content with attention drafting; same events and returns as lapstyle.stylize."""
    return lapstyle.stylize(content, styles, style_weights, masks, options or Options(), cache, style_keys,
                            progress, callback, drafting=AttentionDrafting)
