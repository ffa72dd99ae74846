"""LapStyle (Lin et al., CVPR 2021), made arbitrary-style: a Drafting network and Revision networks.

DraftNet: AdaIN at relu2_1, relu3_1 and relu4_1 of the content, decoded with skip connections (the paper's
design), at low resolution; FactoredDraftNet, the shipped draft: the same at 44% of the cost, each conv through a
narrow layer (made from a trained DraftNet, training/factor.py). RevisionNet: a ~0.15 M parameter residual net that sees one Laplacian band of
the content and the upsampled stylized image of the level below, and adds local detail; a FiLM layer
conditions it on the style's shallow statistics so one network serves every style.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..core.stats import mean_std
from .blocks import Decoder, ReflectPad, UpConv

DRAFT_LAYERS = ("relu2_1", "relu3_1", "relu4_1")
CODE_LAYERS = ("relu1_1", "relu2_1")
CODE_DIM = 2 * (64 + 128)


def conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(ReflectPad(1), nn.Conv2d(cin, cout, 3, stride))


class ResBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.body = nn.Sequential(conv(dim, dim), nn.ReLU(inplace=True), conv(dim, dim))

    def forward(self, x):
        return x + self.body(x)


class DraftNet(nn.Module):
    """The AdaIN decoder with AdaIN-ed relu3_1 / relu2_1 features added as skips at its 1/4 and 1/2 scales.

    The skips enter through 1x1 convs that start at zero, so a draft initialised from the AdaIN decoder
    starts out as AdaIN and training teaches it what the skips add (the paper's design).
    """

    def __init__(self):
        super().__init__()
        self.decoder = Decoder()
        self.skip31, self.skip21 = nn.Conv2d(256, 256, 1), nn.Conv2d(128, 128, 1)
        for m in (self.skip31, self.skip21):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    @staticmethod
    def _fit(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return x if x.shape[-2:] == like.shape[-2:] else F.interpolate(x, size=like.shape[-2:], mode="nearest")

    def forward(self, t: dict[str, torch.Tensor], out_size: tuple[int, int] | None = None,
                skip_scale: float = 1.0) -> torch.Tensor:
        """t: AdaIN-ed features {relu2_1, relu3_1, relu4_1}; returns RGB at 2x relu2_1's size (or out_size).
        skip_scale < 1 fades the skips (AdaIN training uses it to wean the plain decoder off them)."""
        to4, to2, to1 = self.decoder.stages()
        x = self._fit(to4(t["relu4_1"]), t["relu3_1"]) + skip_scale * self.skip31(t["relu3_1"])
        x = self._fit(to2(x), t["relu2_1"]) + skip_scale * self.skip21(t["relu2_1"])
        x = to1(x)
        if out_size is not None and tuple(x.shape[-2:]) != tuple(out_size):
            x = F.interpolate(x, size=tuple(out_size), mode="bilinear", align_corners=False)
        return x


class FactoredConv(nn.Sequential):
    """A 3x3 conv (cin -> cout) as a rank-r pair: 3x3 conv to r channels (after a 2x nearest upsampling, folded in,
    when `upsample`), then 1x1 conv back to cout."""

    def __init__(self, cin: int, rank: int, cout: int, upsample: bool = False):
        super().__init__(UpConv(cin, rank) if upsample else conv(cin, rank), nn.Conv2d(rank, cout, 1))


FACTORED_RANKS = (128, 96, 96, 64, 48, 32, 24)  # of DraftNet's first seven convs; its 64 -> 3 output conv stays


class FactoredDraftNet(nn.Module):
    """DraftNet at ~45% of its cost: each of its convs factored through a narrow layer, the last upsampling folded
    into its conv. Made from a trained DraftNet (training/factor.py: PCA of each conv's responses picks the rank-r
    subspace, then distillation), so it paints as its parent did."""

    WIDTHS = ((512, 256), (256, 256), (256, 256), (256, 128), (128, 128), (128, 64), (64, 64))

    def __init__(self, ranks=FACTORED_RANKS):
        super().__init__()
        self.convs = nn.ModuleList(FactoredConv(cin, r, cout, upsample=i == 6)
                                   for i, ((cin, cout), r) in enumerate(zip(self.WIDTHS, ranks)))
        self.rgb = conv(64, 3)
        self.skip31, self.skip21 = nn.Conv2d(256, 256, 1), nn.Conv2d(128, 128, 1)

    def forward(self, t: dict[str, torch.Tensor], out_size: tuple[int, int] | None = None) -> torch.Tensor:
        """t: AdaIN-ed features {relu2_1, relu3_1, relu4_1}; returns RGB at 2x relu2_1's size (or out_size)."""
        c = self.convs
        up = lambda x, like: DraftNet._fit(F.interpolate(x, scale_factor=2, mode="nearest"), like)  # noqa: E731
        x = up(F.relu(c[0](t["relu4_1"])), t["relu3_1"]) + self.skip31(t["relu3_1"])
        x = F.relu(c[3](F.relu(c[2](F.relu(c[1](x))))))
        x = up(x, t["relu2_1"]) + self.skip21(t["relu2_1"])
        x = self.rgb(F.relu(c[6](F.relu(c[5](F.relu(c[4](x)))))))
        if out_size is not None and tuple(x.shape[-2:]) != tuple(out_size):
            x = F.interpolate(x, size=tuple(out_size), mode="bilinear", align_corners=False)
        return x


DRAFT_DESIGNS = {"full": DraftNet, "factored": FactoredDraftNet}


def draft_design(state: dict) -> str:
    """"factored" or "full": which drafting design a state dict holds."""
    return "factored" if "convs.0.1.weight" in state else "full"


def factored_ranks(state: dict) -> list[int]:
    """The ranks of a FactoredDraftNet's state dict (they are in its shapes)."""
    return [state[f"convs.{i}.1.weight"].shape[1] for i in range(len(FACTORED_RANKS))]


def load_draft(source) -> nn.Module:
    """A trained drafting network from a safetensors file or state dict; its keys tell which design it is."""
    from safetensors.torch import load_file

    from . import load_weights

    state = source if isinstance(source, dict) else load_file(str(source))
    if draft_design(state) == "factored":
        return load_weights(FactoredDraftNet(factored_ranks(state)), state)
    return load_weights(DraftNet(), state)


def style_code(feats: dict[str, torch.Tensor]) -> torch.Tensor:
    """(N, CODE_DIM) summary of a style: channel mean and log-std at relu1_1 and relu2_1."""
    parts = []
    for name in CODE_LAYERS:
        m, s = mean_std(feats[name])
        parts += [m.flatten(1) / 50.0, s.flatten(1).log()]
    return torch.cat(parts, 1)


class RevisionNet(nn.Module):
    """Residual detail for one pyramid level: f(band, upsampled coarse result, style code) -> RGB residual.

    The residual is the content's band plus a learned correction, so an untrained level adds the photo's own
    detail and training turns it into strokes. Sub-pixel design: band and coarse image go in as 2x2 pixel
    blocks (space-to-depth) and the correction comes out the same way, so every conv runs at half resolution
    (a third of the MACs of a design with full-resolution convs at both ends).

    The shipped assets/models/lapstyle_rev1.safetensors holds this design: "rev1" numbers the pyramid level
    (the first revision level), not a version of the design."""

    def __init__(self, width: int = 64):
        super().__init__()
        self.down = nn.Sequential(nn.PixelUnshuffle(2), conv(24, width), nn.ReLU(inplace=True))
        self.film = nn.Linear(CODE_DIM, 2 * width)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        self.res = ResBlock(width)
        self.up = nn.Sequential(conv(width, 12), nn.PixelShuffle(2))
        nn.init.zeros_(self.up[0][-1].weight)  # starts as "add the content's band": the draft, sharpened
        nn.init.zeros_(self.up[0][-1].bias)

    def forward(self, band: torch.Tensor, coarse_up: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        h, w = band.shape[-2:]
        x = torch.cat([band, coarse_up], 1)
        x = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate")
        x = self.down(x)
        gamma, beta = self.film(code.to(x.dtype)).chunk(2, 1)
        x = self.res(x * (1 + gamma[..., None, None]) + beta[..., None, None])
        return band + self.up(x)[..., :h, :w]


def load_revision(source) -> nn.Module:
    """A trained revision network (`RevisionNet`) from a safetensors file or state dict."""
    from safetensors.torch import load_file

    from ..errors import BrushworkError
    from . import load_weights

    state = source if isinstance(source, dict) else load_file(str(source))
    net = RevisionNet()
    if set(state) != set(net.state_dict()):
        raise BrushworkError("these weights are not a LapStyle revision network of this version (RevisionNet)")
    return load_weights(net, state)
