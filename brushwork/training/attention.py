"""Training the attention Drafting network: attention statistics (nets/attention.py) feeding the factored draft.

Losses: the draft's EfficientNet-Lite1 terms (training/lapstyle.py), an identity term, and AdaAttN's local
feature loss: at each position the output's Lite1 features should have the attention-weighted mean and std of
the painting's (attention from the normalised features themselves, no learned part), so each region of the
photo is pulled towards the matching region of the painting rather than the painting's average.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.stats import normalise
from ..nets.attention import AttentionDraftNet
from ..nets.lapstyle import DRAFT_LAYERS
from .lapstyle import LITE_MID, LITE_TAPS, _Base, lite_losses

LOCAL_TAPS = LITE_MID  # Lite1 dw6 / dw10: stride 8 and 16, strokes and layout


@torch.no_grad()
def local_targets(cl: dict, sl: dict, taps=LOCAL_TAPS) -> dict:
    """Per tap, the attention-weighted style statistics applied to the normalised content features: what the
    output's features should be at each position (AdaAttN's local loss target)."""
    out = {}
    for k in taps:
        c, s = cl[k].float(), sl[k].float()
        n, ch, h, w = c.shape
        q, key = normalise(c).flatten(2).transpose(1, 2), normalise(s).flatten(2).transpose(1, 2)
        a = torch.softmax(q @ key.transpose(1, 2) / ch ** 0.5, -1)
        v = s.flatten(2).transpose(1, 2)
        mean = a @ v
        std = (a @ v.square() - mean.square()).clamp_min(0).add(1e-5).sqrt()
        out[k] = (normalise(c).flatten(2).transpose(1, 2) * std + mean).transpose(1, 2).reshape(n, ch, h, w)
    return out


def local_loss(of: dict, targets: dict) -> torch.Tensor:
    """Mean squared distance of the output's features to the local targets, relative to the targets' scale."""
    return sum(F.mse_loss(of[k].float(), t) / (t.square().mean() + 1e-8) for k, t in targets.items())


class AttentionTask(_Base):
    """Train AttentionDraftNet (its attention and its draft together) on (content, style) crops, with crop replay."""
    name = "attention"

    def __init__(self, encoder, net: AttentionDraftNet, identity_weight: float = 10.0, identity_batch: int = 2,
                 local_weight: float = 3.0, replay: float = 0.875, freeze_attention: bool = False, **weights):
        super().__init__(encoder, **weights)
        self.net = net
        if freeze_attention:  # only the draft learns (e.g. to a new encoder padding); where it attends stays put
            net.attn.requires_grad_(False)
        self.iw, self.identity_batch, self.lw = identity_weight, int(identity_batch), local_weight
        self.use_replay(replay)

    def trainable(self):
        return self.net

    def paint(self, cf: dict, sf: dict, size) -> torch.Tensor:
        """The draft of each content crop with the style crop beside it in the batch."""
        mems = [self.net.attn.memory(sf)]
        return self.net(cf, mems, size)

    def losses(self, content, style):
        def features(b):
            return {"vgg": self.features(b, DRAFT_LAYERS), "lite": self.lite_features(b)}

        (content, cfs), (style, sfs) = self.draw(0, content, features), self.draw(1, style, features)
        cf, sf = cfs["vgg"], sfs["vgg"]
        out = self.paint(cf, sf, content.shape[-2:])
        with torch.autocast(out.device.type, enabled=False):
            of = self.lite(out.float(), LITE_TAPS)
        terms = lite_losses(self.lite, out, cfs["lite"], sfs["lite"], style, self.w, of=of)
        if self.lw:
            terms["local"] = local_loss(of, local_targets(cfs["lite"], sfs["lite"]))
            terms["total"] = terms["total"] + self.lw * terms["local"]
        if self.iw:  # the photo as its own painting gives the photo back
            n = self.identity_batch or len(content)
            c = {k: v[:n] for k, v in cf.items()}
            ident = self.paint(c, c, content.shape[-2:])
            terms["identity"] = F.l1_loss(ident.float(), content[:n].float())
            terms["total"] = terms["total"] + self.iw * terms["identity"]
        return terms

    @torch.no_grad()
    def render(self, content, style):
        return self.paint(self.features(content, DRAFT_LAYERS), self.features(style, DRAFT_LAYERS),
                          content.shape[-2:])
