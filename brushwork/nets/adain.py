"""AdaIN (Huang & Belongie 2017): re-normalise content features to the style's channel mean/std (the decoder
that paints them is nets/blocks.Decoder)."""
import torch
import torch.nn.functional as F

from ..core.stats import mean_std

ADAIN_LAYER = "relu4_1"
LOSS_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")  # AdaIN's style loss (Huang & Belongie); the metrics use 5
# Mean activation of each HED-VGG16 tap over photos and paintings (eval set, 256 px). Losses divide by it so
# every layer weighs alike, as with the "normalised VGG" of Gatys and Huang; raw relu1_1 is ~15x relu5_1.
FEATURE_SCALE = {"relu1_1": 17.1, "relu2_1": 16.4, "relu3_1": 9.5, "relu4_1": 5.0, "relu5_1": 1.1}


def adain(content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor) -> torch.Tensor:
    """Content features with their channel statistics replaced by the style's."""
    c_mean, c_std = mean_std(content)
    scale = style_std / c_std  # one affine pass over the map
    return torch.addcmul(style_mean - c_mean * scale, content.float(), scale).to(content.dtype)


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
