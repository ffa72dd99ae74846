"""AdaIN training task: decoder learns to invert AdaIN-ed relu4_1 features (content + mean/std style loss)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..nets.adain import ADAIN_LAYER, STYLE_LAYERS, Decoder, adain, mean_std
from .loop import Task


def meanstd_loss(feats: dict, targets: dict) -> torch.Tensor:
    """Sum over layers of MSE between channel means and between channel stds (Huang & Belongie 2017)."""
    total = 0.0
    for name, f in feats.items():
        m, s = mean_std(f)
        tm, ts = targets[name]
        total = total + F.mse_loss(m, tm) + F.mse_loss(s, ts)
    return total


class AdaINTask(Task):
    name = "adain"

    def __init__(self, encoder, decoder: Decoder | None = None, content_weight: float = 1.0,
                 style_weight: float = 10.0):
        self.encoder = encoder
        self.decoder = decoder or Decoder()
        self.cw, self.sw = content_weight, style_weight

    def trainable(self):
        return self.decoder

    def _targets(self, content, style):
        with torch.no_grad():
            fc = self.encoder(content, ADAIN_LAYER)[ADAIN_LAYER]
            stats = {k: mean_std(v) for k, v in self.encoder(style, STYLE_LAYERS).items()}
            t = adain(fc, *stats[ADAIN_LAYER])
        return t, stats

    def losses(self, content, style):
        t, stats = self._targets(content, style)
        out = self.decoder(t)
        feats = self.encoder(out, STYLE_LAYERS)
        lc = F.mse_loss(feats[ADAIN_LAYER].float(), t.float())
        ls = meanstd_loss(feats, stats)
        return {"total": self.cw * lc + self.sw * ls, "content": lc, "style": ls}

    @torch.no_grad()
    def render(self, content, style):
        t, _ = self._targets(content, style)
        return self.decoder(t)
