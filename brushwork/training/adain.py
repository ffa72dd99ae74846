"""AdaIN training task: decoder learns to invert AdaIN-ed relu4_1 features (content + mean/std style loss).

With content and style weights 0 it is a pure reconstruction run (decode the features of photos and paintings
back to themselves, as the decoders of Li et al.'s universal style transfer): cheap per step (no encoder
backward).

`fade_from` (a LapStyle draft) is the CPU-budget curriculum: the draft is the AdaIN decoder plus relu3_1 /
relu2_1 skips and paints well after a few hundred steps, so the decoder starts there, the skips fade to zero
over `fade_iters` steps, and a pixel loss to the frozen draft's picture keeps it painting well while it learns
to do without them. From then on it is exactly the AdaIN decoder (only its weights are exported).
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from ..nets import load_weights
from ..nets.adain import ADAIN_LAYER, FEATURE_SCALE, LOSS_LAYERS, adain, mean_std
from ..nets.blocks import Decoder
from ..nets.lapstyle import DRAFT_LAYERS, DraftNet
from .loop import Task, autocast, bf16_copy


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
                 style_weight: float = 10.0, identity_weight: float = 0.0, fade_from: str | None = None,
                 fade_iters: int = 1000, teacher_weight: float = 10.0):
        self.encoder = encoder
        self.target_encoder = bf16_copy(encoder)
        self.cw, self.sw, self.iw = content_weight, style_weight, identity_weight
        self.fade_iters, self.tw = fade_iters, teacher_weight
        self.draft = self.teacher = None
        if fade_from:
            self.draft = load_weights(DraftNet(), fade_from)
            self.teacher = bf16_copy(load_weights(DraftNet(), fade_from).requires_grad_(False).eval())
            self.decoder = self.draft.decoder
        else:
            self.decoder = decoder or Decoder()
        self.layers = DRAFT_LAYERS if fade_from else (ADAIN_LAYER,)

    def trainable(self):
        return self.draft or self.decoder

    def export_state(self):
        return self.decoder.state_dict()

    def skip_scale(self) -> float:
        return max(0.0, 1.0 - self.step / self.fade_iters) if self.draft is not None else 0.0

    def _decode(self, t: dict) -> torch.Tensor:
        scale = self.skip_scale()
        return self.draft(t, skip_scale=scale) if scale > 0 else self.decoder(t[ADAIN_LAYER])

    @contextlib.contextmanager
    def _frozen(self, x):
        """No grad, and autocast unless the target encoder is already a bf16 copy."""
        with torch.no_grad(), (autocast(x.device) if self.target_encoder is self.encoder else contextlib.nullcontext()):
            yield

    def _targets(self, content, style):
        with self._frozen(content):
            fc = self.target_encoder(content, self.layers)
            stats = {k: mean_std(v) for k, v in self.target_encoder(style, LOSS_LAYERS).items()}
            t = {k: adain(fc[k], *stats[k]) for k in self.layers}
        return fc, t, stats

    def _reconstruction(self, content, style):
        x = torch.cat([content, style])
        with self._frozen(x):
            f = self.target_encoder(x, self.layers)
        lid = F.l1_loss(self._decode(f).float(), x.float())
        return {"total": self.iw * lid, "identity": lid}

    def losses(self, content, style):
        if not (self.cw or self.sw):
            return self._reconstruction(content, style)
        fc, t, stats = self._targets(content, style)
        out = self._decode(t)
        feats = self.encoder(out, LOSS_LAYERS)
        lc = F.mse_loss(feats[ADAIN_LAYER].float(), t[ADAIN_LAYER].float()) / FEATURE_SCALE[ADAIN_LAYER] ** 2
        ls = meanstd_loss(feats, stats)
        terms = {"total": self.cw * lc + self.sw * ls, "content": lc, "style": ls}
        if self.iw:
            # identity: decoding the photo's own features gives the photo back (so strength 0 = the photo)
            lid = F.l1_loss(self._decode(fc).float(), content.float())
            terms["identity"] = lid
            terms["total"] = terms["total"] + self.iw * lid
        if self.teacher is not None:
            with torch.no_grad():
                painted = self.teacher(t).float()
            lt = F.l1_loss(out.float(), painted)
            terms["teacher"] = lt
            terms["total"] = terms["total"] + self.tw * lt
        return terms

    @torch.no_grad()
    def render(self, content, style):
        _, t, _ = self._targets(content, style)
        return self._decode(t)
