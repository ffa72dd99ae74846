"""AdaIN (Huang & Belongie 2017): re-normalise content features to the style's channel mean/std, then decode."""
import torch
import torch.nn.functional as F
from torch import nn

from ..core.stats import mean_std

ADAIN_LAYER = "relu4_1"
LOSS_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")  # AdaIN's style loss (Huang & Belongie); the metrics use 5
# Mean activation of each HED-VGG16 tap over photos and paintings (eval set, 256 px). Losses divide by it so
# every layer weighs alike, as with the "normalised VGG" of Gatys and Huang; raw relu1_1 is ~15x relu5_1.
FEATURE_SCALE = {"relu1_1": 17.1, "relu2_1": 16.4, "relu3_1": 9.5, "relu4_1": 5.0, "relu5_1": 1.1}


def adain(content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor) -> torch.Tensor:
    """Content features with their channel statistics replaced by the style's."""
    c_mean, c_std = mean_std(content)
    return ((content.float() - c_mean) / c_std * style_std + style_mean).to(content.dtype)


def transfer(feat: torch.Tensor, stats: list, weights: list[float], masks: list[torch.Tensor] | None,
             strength: float) -> torch.Tensor:
    """AdaIN target features: blended by weight over styles, or per region when masks are given."""
    if masks:
        ms = [F.interpolate(m, size=feat.shape[-2:], mode="bilinear", align_corners=False) for m in masks]
        total = sum(ms) + 1e-6
        out = torch.zeros_like(feat)
        for (sm, ss), m in zip(stats, ms):
            cm, cs = mean_std(feat, m)
            out = out + (m / total) * ((feat - cm) / cs * ss + sm)
        return strength * out + (1.0 - strength) * feat
    # one style or a blend, then strength: all one per-channel affine map of feat, applied in a single pass
    cm, cs = mean_std(feat)
    scale = sum(w * ss for (_, ss), w in zip(stats, weights)) / cs
    shift = sum(w * sm for (sm, _), w in zip(stats, weights)) - cm * scale
    return torch.addcmul(strength * shift, feat, strength * scale + (1.0 - strength))


class ReflectPad(nn.ReflectionPad2d):
    """Reflection padding in its input's dtype. Autocast runs reflection_pad2d in fp32: with bf16 activations that
    made two dtype copies and an fp32 pad (and its backward) around every conv (~7% of a draft training step)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x)


def _block(cin: int, cout: int, relu: bool = True) -> list[nn.Module]:
    layers = [ReflectPad(1), nn.Conv2d(cin, cout, 3)]
    return layers + [nn.ReLU(inplace=True)] if relu else layers


class Decoder(nn.Module):
    """Mirror of VGG16 up to relu4_1: reflection padding, nearest-neighbour upsampling, RGB out in ~[0, 1].

    `stages` splits it at the 1/4 and 1/2 scales so LapStyle's DraftNet can add relu3_1 / relu2_1 skips.
    """

    def __init__(self):
        super().__init__()
        up = lambda: nn.Upsample(scale_factor=2, mode="nearest")  # noqa: E731
        self.net = nn.Sequential(
            *_block(512, 256), up(),
            *_block(256, 256), *_block(256, 256), *_block(256, 128), up(),
            *_block(128, 128), *_block(128, 64), up(),
            *_block(64, 64), *_block(64, 3, relu=False),
        )

    def stages(self) -> tuple[nn.Sequential, nn.Sequential, nn.Sequential]:
        """(relu4_1 -> 1/4 scale, 256 ch), (-> 1/2 scale, 128 ch), (-> RGB)."""
        return self.net[:4], self.net[4:14], self.net[14:]

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.net(feat)
