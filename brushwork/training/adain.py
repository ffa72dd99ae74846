"""AdaIN training task: decoder learns to invert AdaIN-ed relu4_1 features (content + mean/std style loss).

With content and style weights 0 it is a pure reconstruction run (decode the features of photos and paintings
back to themselves, as the decoders of Li et al.'s universal style transfer): cheap per step (no encoder
backward), and the fastest way on a CPU to a decoder that the full losses then fine-tune.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from ..nets.adain import ADAIN_LAYER, FEATURE_SCALE, STYLE_LAYERS, Decoder, adain, mean_std
from .loop import Task


def meanstd_loss(feats: dict, targets: dict) -> torch.Tensor:
    """Sum over layers of MSE between channel means and between channel stds (Huang & Belongie 2017)."""
    total = 0.0
    for name, f in feats.items():
        m, s = mean_std(f)
        tm, ts = targets[name]
        total = total + (F.mse_loss(m, tm) + F.mse_loss(s, ts)) / FEATURE_SCALE[name] ** 2
    return total


class AdaINTask(Task):
    name = "adain"

    def __init__(self, encoder, decoder: Decoder | None = None, content_weight: float = 1.0,
                 style_weight: float = 10.0, identity_weight: float = 0.0):
        self.encoder = encoder
        # a bf16 copy for the no-grad target features: ~2x faster than fp32 weights under autocast on CPU
        self.target_encoder = copy.deepcopy(encoder).to(torch.bfloat16) if encoder.conv1_1.weight.device.type == "cpu" \
            else encoder
        self.decoder = decoder or Decoder()
        self.cw, self.sw, self.iw = content_weight, style_weight, identity_weight

    def trainable(self):
        return self.decoder

    def _targets(self, content, style):
        with torch.no_grad(), torch.autocast(content.device.type, enabled=self.target_encoder is self.encoder):
            fc = self.target_encoder(content, ADAIN_LAYER)[ADAIN_LAYER]
            stats = {k: mean_std(v) for k, v in self.target_encoder(style, STYLE_LAYERS).items()}
            t = adain(fc, *stats[ADAIN_LAYER])
        return fc, t, stats

    def _reconstruction(self, content, style):
        x = torch.cat([content, style])
        with torch.no_grad(), torch.autocast(x.device.type, enabled=self.target_encoder is self.encoder):
            f = self.target_encoder(x, ADAIN_LAYER)[ADAIN_LAYER]
        lid = F.l1_loss(self.decoder(f).float(), x.float())
        return {"total": self.iw * lid, "identity": lid}

    def losses(self, content, style):
        if not (self.cw or self.sw):
            return self._reconstruction(content, style)
        fc, t, stats = self._targets(content, style)
        out = self.decoder(t)
        feats = self.encoder(out, STYLE_LAYERS)
        lc = F.mse_loss(feats[ADAIN_LAYER].float(), t.float()) / FEATURE_SCALE[ADAIN_LAYER] ** 2
        ls = meanstd_loss(feats, stats)
        terms = {"total": self.cw * lc + self.sw * ls, "content": lc, "style": ls}
        if self.iw:
            # identity: decoding the photo's own features gives the photo back (so strength 0 = the photo)
            lid = F.l1_loss(self.decoder(fc).float(), content.float())
            terms["identity"] = lid
            terms["total"] = terms["total"] + self.iw * lid
        return terms

    @torch.no_grad()
    def render(self, content, style):
        _, t, _ = self._targets(content, style)
        return self.decoder(t)
