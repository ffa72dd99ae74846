"""LapStyle training tasks: the Drafting network (low resolution), then Revision networks level by level.

The networks take HED-VGG16 features as input; the losses are computed on a loss network of their own.
Default, EfficientNet-Lite1: Gram style loss at its style taps, relative content MSE at proj10, relaxed EMD
and self-similarity (Lin et al. 2021) at dw6/dw10, the palette (RGB mean/covariance) in pixels, and optionally
(`hed_gram_weight`) Gram distances on the HED VGG's relu1_1/relu2_1, where fine texture and colour live for it.
With `loss_net="hed-vgg16"`, the paper's terms on VGG: normalised content (relu4_1, relu5_1), mean/std style
(relu1_1 ... relu5_1), relaxed EMD and self-similarity (relu3_1, relu4_1). Drafting adds an identity loss,
revision a patch discriminator (LSGAN).
"""
from __future__ import annotations

import contextlib
import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..core import losses as L
from ..core import lossnet, pyramid
from ..nets.adain import FEATURE_SCALE, adain, mean_std
from ..errors import BrushworkError
from ..nets.lapstyle import CODE_LAYERS, DRAFT_DESIGNS, DRAFT_LAYERS, DraftNet, RevisionNet, style_code
from .loop import Task, autocast, bf16_copy
from .replay import Replay

TAPS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
DETAIL_TAPS = ("relu1_1", "relu2_1")  # where strokes and edges live: what distillation matches besides pixels


def relative_meanstd_loss(feats: dict, style_feats: dict) -> torch.Tensor:
    """Mean/std style loss per layer, divided by the style statistics' mean square (scale-free, ~1 at start)."""
    total = 0.0
    for k in TAPS:
        m, s = mean_std(feats[k])
        tm, ts = mean_std(style_feats[k])
        total = total + (F.mse_loss(m, tm) + F.mse_loss(s, ts)) / (tm.pow(2).mean() + ts.pow(2).mean() + 1e-8)
    return total


def lapstyle_losses(out_feats: dict, content_feats: dict, style_feats: dict, w: dict) -> dict:
    """The perceptual terms shared by drafting and revision, weighted by w."""
    lc = L.normalised_content_loss(out_feats["relu4_1"], content_feats["relu4_1"]) + \
        L.normalised_content_loss(out_feats["relu5_1"], content_feats["relu5_1"])
    ls = relative_meanstd_loss(out_feats, style_feats)
    lr = L.remd_loss(out_feats["relu3_1"], style_feats["relu3_1"]) + \
        L.remd_loss(out_feats["relu4_1"], style_feats["relu4_1"])
    lss = L.self_similarity_loss(out_feats["relu3_1"], content_feats["relu3_1"]) + \
        L.self_similarity_loss(out_feats["relu4_1"], content_feats["relu4_1"])
    total = w["content"] * lc + w["style"] * ls + w["remd"] * lr + w["selfsim"] * lss
    return {"total": total, "content": lc, "style": ls, "remd": lr, "selfsim": lss}


LITE_CONTENT = "proj10"
LITE_MID = ("dw6", "dw10")  # relaxed EMD and self-similarity: mid-depth features, strokes and layout
LITE_TAPS = tuple(dict.fromkeys((*lossnet.LITE_STYLE_TAPS, LITE_CONTENT, *LITE_MID)))
VGG_WEIGHTS = {"content": 1.0, "style": 3.0, "remd": 10.0, "selfsim": 16.0}
LITE_WEIGHTS = {"content": 1.0, "style": 10.0, "remd": 5.0, "selfsim": 4.0, "color": 50.0, "hed_gram": 0.0}


def lite_losses(net, out: torch.Tensor, cf: dict, sf: dict, style: torch.Tensor, w: dict, of: dict | None = None) -> dict:
    """The perceptual terms on EfficientNet-Lite features (cf, sf: the content's and style's), weighted by w;
    of: the output's own features when the caller already computed them.

    The loss network runs in fp32: its depthwise convs are about 5x slower in bf16 on a CPU without AMX."""
    if of is None:
        with torch.autocast(out.device.type, enabled=False):
            of = net(out.float(), LITE_TAPS)
    ls = sum(L.gram_distance_to(of[k], sf[k]) for k in lossnet.LITE_STYLE_TAPS)
    lc = L.content_loss(of[LITE_CONTENT], cf[LITE_CONTENT])
    lr = sum(L.remd_loss(of[k], sf[k]) for k in LITE_MID)
    lss = sum(L.self_similarity_loss(of[k], cf[k]) for k in LITE_MID)
    lcol = L.color_moments_loss(out, style)
    total = w["content"] * lc + w["style"] * ls + w["remd"] * lr + w["selfsim"] * lss + w["color"] * lcol
    return {"total": total, "content": lc, "style": ls, "remd": lr, "selfsim": lss, "color": lcol}


class _Base(Task):
    def __init__(self, encoder, loss_net: str = lossnet.DEFAULT_LOSS_NET, content_weight=None, style_weight=None,
                 remd_weight=None, selfsim_weight=None, color_weight=None, hed_gram_weight=None):
        self.encoder = encoder
        self.fast = bf16_copy(encoder)
        self.loss_net = lossnet.loss_net(loss_net).name
        dev = next(encoder.parameters()).device
        lite = None if loss_net == "hed-vgg16" else lossnet.load(loss_net, "reflect")  # cached for the process:
        self.lite = lite if lite is None or dev.type == "cpu" else copy.deepcopy(lite).to(dev)  # moved as a copy
        # the networks read relu2_1..relu4_1 (and relu1_1/relu2_1 for the style code); relu5_1 only feeds the
        # VGG losses, so with a Lite loss network the encoder stops at relu4_1 (a third of its cost saved)
        self.taps = TAPS if self.lite is None else TAPS[:4]
        given = {"content": content_weight, "style": style_weight, "remd": remd_weight, "selfsim": selfsim_weight,
                 "color": color_weight, "hed_gram": hed_gram_weight}
        base = VGG_WEIGHTS if self.lite is None else LITE_WEIGHTS
        self.w = {k: (given[k] if given[k] is not None else v) for k, v in base.items()}

    def use_replay(self, share: float, capacity: int = 32) -> None:
        """Crop replay (training/replay.py) for content and style batches; share 0 turns it off."""
        self.replay = [Replay(share, capacity, seed=i) for i in (1, 2)] if share else None

    def draw(self, which: int, x: torch.Tensor, features) -> tuple[torch.Tensor, dict]:
        """A content (which=0) or style (1) batch with its no-grad features (`features(x)`, a dict), through the
        replay when it is on (then part of the batch is recent crops instead of x's)."""
        return self.replay[which].draw(x, features) if self.replay else (x, features(x))

    def features(self, x: torch.Tensor, taps=None) -> dict:
        """No-grad encoder features (bf16 copy on CPU), returned in fp32."""
        taps = taps or self.taps
        with torch.no_grad(), (autocast(x.device) if self.fast is self.encoder else contextlib.nullcontext()):
            return {k: v.float() for k, v in self.fast(x, taps).items()}

    def lite_features(self, x: torch.Tensor) -> dict:
        """No-grad loss-network features of a content or style batch (fp32)."""
        with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
            return self.lite(x.float(), LITE_TAPS)

    def perceptual(self, out, content, style, cf: dict, sf: dict, lite_targets: tuple | None = None) -> dict:
        """Content and style terms of `out` on the task's loss network (cf/sf: VGG features, for hed-vgg16;
        lite_targets: the content's and style's loss-network features when already computed)."""
        if self.lite is None:
            return lapstyle_losses(self.encoder(out, TAPS), cf, sf, self.w)
        clf, slf = lite_targets or (self.lite_features(content), self.lite_features(style))
        terms = lite_losses(self.lite, out, clf, slf, style, self.w)
        if self.w["hed_gram"]:
            of = self.encoder(out, DETAIL_TAPS)
            terms["hed_gram"] = sum(L.gram_distance_to(of[k], sf[k]) for k in DETAIL_TAPS)
            terms["total"] = terms["total"] + self.w["hed_gram"] * terms["hed_gram"]
        return terms

    def distil(self, target: torch.Tensor, out: torch.Tensor) -> dict:
        """Distance of a student's picture to its teacher's: pixel L1 plus L1 of the HED relu1_1/relu2_1 features
        (pixel L1 alone averages strokes into blur)."""
        lt = F.l1_loss(out.float(), target.float())
        tf, of = self.features(target, DETAIL_TAPS), self.encoder(out, DETAIL_TAPS)
        lf = sum(F.l1_loss(of[k].float(), tf[k]) / FEATURE_SCALE[k] for k in DETAIL_TAPS)
        return {"total": lt + lf, "teacher": lt, "teacher_feat": lf}

    def draft(self, net: nn.Module, cf: dict, sf: dict, size) -> torch.Tensor:
        t = {k: adain(cf[k], *mean_std(sf[k])) for k in DRAFT_LAYERS}
        return net(t, size)


class DraftTask(_Base):
    """Train the Drafting network on (content, style) crops at low resolution.

    design: "full" (DraftNet) or "factored" (FactoredDraftNet, the default with a teacher). With a `teacher` (a
    trained DraftNet, frozen) the loss is the distance to the teacher's draft in pixels and in HED relu1_1/relu2_1
    features, as RevisionTask's; a fresh factored student is first fitted to the teacher's responses (`prepare`)."""
    name = "lapstyle-draft"

    def __init__(self, encoder, net: nn.Module | None = None, identity_weight: float = 50.0, identity_batch: int = 2,
                 teacher: DraftNet | None = None, design: str | None = None, ranks=None, replay: float = 0.875,
                 **weights):
        design = design or ("factored" if teacher is not None else "full")
        if design not in DRAFT_DESIGNS:
            raise BrushworkError(f"unknown draft design {design!r}; choose {' or '.join(DRAFT_DESIGNS)}")
        super().__init__(encoder, **weights)
        dev = next(encoder.parameters()).device
        self.teacher = bf16_copy(teacher.to(dev).eval().requires_grad_(False)) if teacher is not None else None
        self.net = net or DRAFT_DESIGNS[design](*([ranks] if ranks and design == "factored" else []))
        self.parent = teacher if net is None and design == "factored" and isinstance(teacher, DraftNet) else None
        self.iw = identity_weight
        # the identity term on the first few crops of each (random) batch: the same mean L1 in expectation, for a
        # quarter of a second decoder pass at batch 8 (that pass was ~40% of a step); 0 = the whole batch
        self.identity_batch = int(identity_batch)
        # crop replay: 7 of each batch's 8 content and style crops are recent ones whose frozen-network features
        # are kept, which cuts the no-grad passes (~40% of a step without it) to an eighth
        self.use_replay(replay)

    def trainable(self):
        return self.net

    def prepare(self, content_data, style_data, gen, batches: int = 6):
        """A factored student distilled from a DraftNet starts as its parent's PCA factorisation (training/factor.py)."""
        if self.parent is None:
            return
        from .factor import factor_draft

        def inputs():
            for _ in range(batches):
                c, s = (d.sample(4, gen).to(self.net.rgb[1].weight.device) for d in (content_data, style_data))
                cf, sf = self.features(c, DRAFT_LAYERS), self.features(s, DRAFT_LAYERS)
                yield {k: adain(cf[k], *mean_std(sf[k])) for k in DRAFT_LAYERS}

        self.net.load_state_dict(factor_draft(self.parent.to(self.net.rgb[1].weight.device), inputs()).state_dict())

    def losses(self, content, style):
        # the Lite losses read no VGG maps: the draft's own taps suffice (relu1_1's fp32 copy is the largest)
        taps = DRAFT_LAYERS if self.lite is not None and not self.w["hed_gram"] else None
        lite = self.lite is not None and self.teacher is None

        def features(b):
            return {"vgg": self.features(b, taps), "lite": self.lite_features(b) if lite else None}

        (content, cfs), (style, sfs) = self.draw(0, content, features), self.draw(1, style, features)
        cf, sf = cfs["vgg"], sfs["vgg"]
        if self.teacher is not None:
            with torch.no_grad():
                target = self.draft(self.teacher, cf, sf, content.shape[-2:])
            return self.distil(target, self.draft(self.net, cf, sf, content.shape[-2:]))
        out = self.draft(self.net, cf, sf, content.shape[-2:])
        terms = self.perceptual(out, content, style, cf, sf, (cfs["lite"], sfs["lite"]) if lite else None)
        if self.iw:
            n = self.identity_batch or len(content)
            ident = self.net({k: cf[k][:n] for k in DRAFT_LAYERS}, content.shape[-2:])
            terms["identity"] = F.l1_loss(ident.float(), content[:n].float())
            terms["total"] = terms["total"] + self.iw * terms["identity"]
        return terms

    @torch.no_grad()
    def render(self, content, style):
        return self.draft(self.net, self.features(content), self.features(style), content.shape[-2:])


class PatchDiscriminator(nn.Module):
    """Scores overlapping patches as painting-like (style crops) or not."""

    def __init__(self, width: int = 32):
        super().__init__()
        sn = nn.utils.spectral_norm
        self.net = nn.Sequential(
            sn(nn.Conv2d(3, width, 4, 2, 1)), nn.LeakyReLU(0.2, True),
            sn(nn.Conv2d(width, width * 2, 4, 2, 1)), nn.LeakyReLU(0.2, True),
            sn(nn.Conv2d(width * 2, width * 4, 4, 2, 1)), nn.LeakyReLU(0.2, True),
            sn(nn.Conv2d(width * 4, 1, 3, 1, 1)))

    def forward(self, x):
        return self.net(x)


class RevisionTask(_Base):
    """Train one Revision network on top of a frozen draft (and frozen lower revision levels).

    levels > 1 applies the network that many times in a row at the top of the pyramid (weights shared,
    gradients through every application), as inference does beyond the trained levels: it learns to
    revise its own output without piling up colour on every reuse.

    With a `teacher` (a trained revision network, frozen) the loss is the distance to the teacher's picture on
    the same ladder, in pixels and in relu1_1/relu2_1 features (pixel L1 alone averages strokes into blur):
    how a faster design inherits a trained one's painting in a fraction of the steps (no discriminator).
    """
    name = "lapstyle-revision"

    def __init__(self, encoder, draft: DraftNet, lower: list[RevisionNet] | None = None, net: RevisionNet | None = None,
                 adv_weight: float = 1.0, lr_d: float = 1e-4, levels: int = 1, teacher: RevisionNet | None = None,
                 replay: float = 0.0, **weights):
        super().__init__(encoder, **weights)
        self.levels = levels
        # crop replay as DraftTask's (at batch 4, 0.75 or more re-draws 3 of 4 crops; 16 kept, the 256 px maps
        # are 4x the draft's): off by default, because 750 fine-tuning steps of the shipped network with it lost
        # fine texture at 512 px (HED relu1_1 Gram 0.084 vs 0.048 without; BENCHMARKS.md, "Training")
        self.use_replay(replay, capacity=16)
        dev = next(encoder.parameters()).device
        frozen = lambda net: net.to(dev).eval().requires_grad_(False)  # noqa: E731
        self.teacher = bf16_copy(frozen(teacher)) if teacher is not None else None
        self.draft_net = frozen(draft)
        self.lower = [frozen(r) for r in (lower or [])]
        self.net = net or RevisionNet()
        self.disc = PatchDiscriminator().to(next(encoder.parameters()).device)  # before its optimizer's state
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=lr_d, betas=(0.5, 0.999))
        self.aw = adv_weight

    def trainable(self):
        return self.net

    def extra_state(self) -> dict:
        return {"disc": self.disc.state_dict(), "opt_d": self.opt_d.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        self.disc.load_state_dict(state["disc"])
        self.opt_d.load_state_dict(state["opt_d"])

    def stylize(self, content, style, sf: dict | None = None, net: RevisionNet | None = None,
                top: dict | None = None) -> torch.Tensor:
        """Draft at the pyramid's top, then the frozen lower revisions, then the trained one (or `net`, levels
        times). top: the encoder features of the pyramid's top, when already computed."""
        net = net or self.net
        sf = sf or self.features(style)
        code = style_code({k: sf[k] for k in CODE_LAYERS})
        pyr = pyramid.split(content, len(self.lower) + self.levels)
        small = pyr[-1]
        with torch.no_grad():
            out = self.draft(self.draft_net, top or self.features(small), sf, small.shape[-2:])
        nets = list(self.lower) + [net] * self.levels

        def level(i, band, up):  # the frozen lower revisions without gradients
            with torch.no_grad() if i < len(self.lower) else contextlib.nullcontext():
                return up + nets[i](band, up, code)

        return pyramid.climb(out, pyr, level)

    def losses(self, content, style):
        lite = self.lite is not None and self.teacher is None
        top = len(self.lower) + self.levels  # the pyramid level the draft paints

        def content_features(b):  # the Lite losses read no VGG maps of the content
            return {"top": self.features(pyramid.split(b, top)[-1]), "lite": self.lite_features(b) if lite else None,
                    "vgg": self.features(b) if self.lite is None and self.teacher is None else None}

        def style_features(b):
            return {"vgg": self.features(b), "lite": self.lite_features(b) if lite else None}

        (content, cfs), (style, sfs) = self.draw(0, content, content_features), self.draw(1, style, style_features)
        sf = sfs["vgg"]
        if self.teacher is not None:
            with torch.no_grad():
                target = self.stylize(content, style, sf, self.teacher, cfs["top"])
            return self.distil(target, self.stylize(content, style, sf, top=cfs["top"]))
        out = self.stylize(content, style, sf, top=cfs["top"])
        # discriminator step (its own optimizer), then the generator's adversarial term
        self.disc.to(out.device).train()
        d_real, d_fake = self.disc(style), self.disc(out.detach())
        loss_d = (d_real - 1).pow(2).mean() + d_fake.pow(2).mean()
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.float().backward()
        self.opt_d.step()
        terms = self.perceptual(out, content, style, cfs["vgg"], sf, (cfs["lite"], sfs["lite"]) if lite else None)
        terms["adv"] = (self.disc(out) - 1).pow(2).mean().float()
        terms["disc"] = loss_d.detach().float()
        terms["total"] = terms["total"] + self.aw * terms["adv"]
        return terms

    @torch.no_grad()
    def render(self, content, style):
        return self.stylize(content, style)
