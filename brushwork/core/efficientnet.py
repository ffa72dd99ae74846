"""EfficientNet-Lite (ImageNet) as a loss network: BatchNorm folded into the convs, named taps.

Lite is EfficientNet without squeeze-excitation and with ReLU6; it sees colour at every depth, unlike the
HED VGG16. Taps: `stem`, and for block i (0-20) `dw{i}` (depthwise output, after ReLU6) and `proj{i}`
(projection output). Callers pass RGB in [0, 1]; the TF-Lite preprocessing ((x*255 - 127) / 128) is inside.
Padding is TF "SAME" (asymmetric at stride 2), by reflection by default: no dark frame at the borders.
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

STRIDE2_BLOCKS = (1, 4, 7, 15)  # first block of the stride-2 stages (Lite1 and Lite2 both have 21 blocks)
BN_EPS = 1e-3
TAP_RE = re.compile(r"^(stem|dw\d+|proj\d+)$")


def same_pad(x: torch.Tensor, k: int, stride: int, mode: str) -> torch.Tensor:
    """TF 'SAME' padding: output = ceil(input / stride); the odd pixel goes bottom/right."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        total = max((-(-size // stride) - 1) * stride + k - size, 0)
        pads += [total // 2, total - total // 2]
    if not any(pads):
        return x
    if mode == "reflect" and min(x.shape[-2:]) <= max(pads):
        mode = "replicate"
    return F.pad(x, pads, mode=mode) if mode != "zeros" else F.pad(x, pads)


class SameConv(nn.Conv2d):
    """A conv with TF-'SAME' padding done by hand (reflect, replicate or zeros)."""

    def __init__(self, cin, cout, k, stride=1, groups=1, padding_mode="reflect"):
        super().__init__(cin, cout, k, stride, 0, groups=groups, bias=True)
        self.pad_mode = padding_mode

    def forward(self, x):
        return super().forward(same_pad(x, self.kernel_size[0], self.stride[0], self.pad_mode))


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project (+ identity when shapes allow)."""

    def __init__(self, cin, mid, cout, k, stride, padding_mode):
        super().__init__()
        self.expand = nn.Conv2d(cin, mid, 1) if mid != cin else None
        self.dw = SameConv(mid, mid, k, stride, groups=mid, padding_mode=padding_mode)
        self.project = nn.Conv2d(mid, cout, 1)
        self.skip = stride == 1 and cin == cout

    def forward(self, x):
        """Returns (depthwise activation, block output)."""
        h = F.relu6(self.expand(x)) if self.expand is not None else x
        d = F.relu6(self.dw(h))
        out = self.project(d)
        return d, (out + x if self.skip else out)


class EfficientNetLite(nn.Module):
    """Stem, 21 MBConv blocks, head and classifier; `forward(x, taps)` stops at the deepest tap."""

    def __init__(self, shapes: dict[str, tuple], padding_mode: str = "reflect"):
        super().__init__()
        c0 = shapes["stem.weight"][0]
        self.stem = SameConv(3, c0, 3, 2, padding_mode=padding_mode)
        blocks, i = [], 0
        while f"blocks.{i}.dw.weight" in shapes:
            mid, _, k, _ = shapes[f"blocks.{i}.dw.weight"]
            cout, cin = shapes[f"blocks.{i}.project.weight"][:2]
            cin = shapes[f"blocks.{i}.expand.weight"][1] if f"blocks.{i}.expand.weight" in shapes else cin
            blocks.append(MBConv(cin, mid, cout, k, 2 if i in STRIDE2_BLOCKS else 1, padding_mode))
            i += 1
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(*shapes["head.weight"][1::-1], 1)
        self.fc = nn.Linear(*shapes["fc.weight"][::-1])
        self.requires_grad_(False)
        self.eval()

    def tap_block(self, tap: str) -> int:
        """Index of the block a tap belongs to (-1 for the stem); unknown taps are a ValueError."""
        if not TAP_RE.match(tap) or (tap != "stem" and int(tap.lstrip("dwproj")) >= len(self.blocks)):
            raise ValueError(f"unknown EfficientNet-Lite tap {tap!r}")
        return -1 if tap == "stem" else int(tap.lstrip("dwproj"))

    @staticmethod
    def preprocess(rgb: torch.Tensor) -> torch.Tensor:
        return (rgb * 255.0 - 127.0) / 128.0

    def forward(self, rgb: torch.Tensor, taps=("proj10",), checkpoint_first: bool = False) -> dict[str, torch.Tensor]:
        """Requested taps, computed in the weights' dtype. checkpoint_first recomputes each block's inner maps
        (expansions up to 6x the channels) in backward instead of storing them: GBs saved on huge pictures."""
        taps = [taps] if isinstance(taps, str) else list(taps)
        last = max(self.tap_block(t) for t in taps)
        x = self.preprocess(rgb.float()).to(self.stem.weight.dtype)
        x = F.relu6(self.stem(x))
        out = {"stem": x} if "stem" in taps else {}
        recompute = checkpoint_first and torch.is_grad_enabled()
        for i, block in enumerate(self.blocks[:last + 1]):
            d, x = checkpoint(block, x, use_reentrant=False) if recompute else block(x)
            if f"dw{i}" in taps:
                out[f"dw{i}"] = d
            if f"proj{i}" in taps:
                out[f"proj{i}"] = x
        return out

    def classify(self, rgb: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (1000 classes): checks that weights and preprocessing are right."""
        x = self.forward(rgb, f"proj{len(self.blocks) - 1}")[f"proj{len(self.blocks) - 1}"]
        x = F.relu6(self.head(x)).mean((2, 3))
        return self.fc(x)


def fold_bn(conv_w: torch.Tensor, bn: dict[str, torch.Tensor], conv_b: torch.Tensor | None = None):
    """Fold an inference BatchNorm into the preceding conv: (weight, bias)."""
    scale = bn["weight"] / (bn["running_var"] + BN_EPS).sqrt()
    bias = bn["bias"] - bn["running_mean"] * scale
    if conv_b is not None:
        bias = bias + conv_b * scale
    return conv_w * scale.view(-1, *([1] * (conv_w.dim() - 1))), bias


def convert_state(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The efficientnet_lite_pytorch checkpoint (`_blocks.N._bn1` ...) -> folded `blocks.N.dw.weight` ..."""
    def bn(prefix):
        return {k: sd[f"{prefix}.{k}"].float() for k in ("weight", "bias", "running_mean", "running_var")}

    out = {}
    out["stem.weight"], out["stem.bias"] = fold_bn(sd["_conv_stem.weight"].float(), bn("_bn0"))
    i = 0
    while f"_blocks.{i}._depthwise_conv.weight" in sd:
        p = f"_blocks.{i}"
        if f"{p}._expand_conv.weight" in sd:
            out[f"blocks.{i}.expand.weight"], out[f"blocks.{i}.expand.bias"] = \
                fold_bn(sd[f"{p}._expand_conv.weight"].float(), bn(f"{p}._bn0"))
        out[f"blocks.{i}.dw.weight"], out[f"blocks.{i}.dw.bias"] = \
            fold_bn(sd[f"{p}._depthwise_conv.weight"].float(), bn(f"{p}._bn1"))
        out[f"blocks.{i}.project.weight"], out[f"blocks.{i}.project.bias"] = \
            fold_bn(sd[f"{p}._project_conv.weight"].float(), bn(f"{p}._bn2"))
        i += 1
    out["head.weight"], out["head.bias"] = fold_bn(sd["_conv_head.weight"].float(), bn("_bn1"))
    out["fc.weight"], out["fc.bias"] = sd["_fc.weight"].float(), sd["_fc.bias"].float()
    return {k: v.contiguous() for k, v in out.items()}


def build(state: dict[str, torch.Tensor], padding_mode: str = "reflect") -> EfficientNetLite:
    """An EfficientNetLite with converted (folded) weights."""
    net = EfficientNetLite({k: tuple(v.shape) for k, v in state.items()}, padding_mode)
    net.load_state_dict(state, strict=True)
    return net
