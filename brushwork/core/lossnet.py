"""Loss networks: the encoder whose features the perceptual losses compare, with its default taps.

- efficientnet-lite1 (default): ImageNet EfficientNet-Lite1. It sees colour at every depth and its Gram
  statistics describe brush texture; up to block 14 it costs a quarter of VGG16 to relu4_1.
- efficientnet-lite2: its wider sibling, same taps; pictures alike on the eval set, slower.
- hed-vgg16: the VGG16 backbone of the HED edge detector. Its deep layers are nearly colour-blind and its
  Gram statistics paint contour "worms"; kept as an option and for comparisons.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn

from ..errors import BrushworkError


@dataclass(frozen=True)
class LossNet:
    """A loss network's name, default style and content taps, and the precision that is fast for it here."""
    name: str
    style_taps: tuple[str, ...]
    content_tap: str
    fast_precision: str  # bf16 halves VGG's time here; EfficientNet's depthwise convs are 5x slower in bf16


LITE_STYLE_TAPS = ("stem", "dw1", "dw3", "dw6", "dw10", "dw14")
LOSS_NETS = {n.name: n for n in (
    LossNet("efficientnet-lite1", LITE_STYLE_TAPS, "proj10", "fp32"),
    LossNet("efficientnet-lite2", LITE_STYLE_TAPS, "proj10", "fp32"),
    LossNet("hed-vgg16", ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), "relu4_2", "bf16"),
)}
DEFAULT_LOSS_NET = "efficientnet-lite1"


def loss_net(name: str) -> LossNet:
    """The LossNet called `name`, or a one-line error naming the choices."""
    if name not in LOSS_NETS:
        raise BrushworkError(f"unknown loss network {name!r}; choose one of {', '.join(LOSS_NETS)}")
    return LOSS_NETS[name]


@lru_cache(maxsize=8)
def load(name: str = DEFAULT_LOSS_NET, padding: str = "reflect", pool: str = "avg",
         dtype: torch.dtype = torch.float32) -> nn.Module:
    """The frozen network (one per configuration per process); `forward(rgb01, taps) -> {tap: features}`.

    pool applies to the VGG only; dtype=bfloat16 gives a bf16 channels_last copy.
    """
    loss_net(name)
    if name == "hed-vgg16":
        from .encoder import shared_encoder

        return shared_encoder(pool, padding, dtype)
    from safetensors.torch import load_file

    from ..loaders import weights
    from .efficientnet import build

    net = build(load_file(str(weights.ensure(name))), padding)
    if dtype != torch.float32:
        net = net.to(dtype).to(memory_format=torch.channels_last)
    return net
