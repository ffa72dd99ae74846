"""Attention statistics (AdaAttN, Liu et al. ICCV 2021) in place of AdaIN, for the attention Drafting network.

AdaIN gives every position of the photo the painting's global mean and spread. Here each content position
attends to the style positions it resembles (queries from the content's, keys from the style's normalised
relu2_1..relu4_1 features pooled to the depth, so colour takes part) and takes the attention-weighted mean and
std of the style's features: sky takes from sky, foliage from foliage. Two attention depths (relu3_1, relu4_1);
relu2_1 reuses relu3_1's attention. Query and key projections start equal, so an untrained module attends by
feature similarity (parameter-free AdaAttN). Above `max_keys` style positions, keys are subsampled with a fixed seed (bounded memory
at any size); queries are processed in chunks.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..core.stats import normalise
from .lapstyle import DRAFT_LAYERS, FactoredDraftNet

CHANNELS = {"relu2_1": 128, "relu3_1": 256, "relu4_1": 512}
DEPTHS = {"relu3_1": ("relu2_1", "relu3_1"), "relu4_1": ("relu2_1", "relu3_1", "relu4_1")}  # key taps per depth
VALUES = {"relu3_1": ("relu2_1", "relu3_1"), "relu4_1": ("relu4_1",)}  # which maps each depth's attention moves
MAX_KEYS = 1024
QUERY_CHUNK = 4096
EPS = 1e-5


def key_map(feats: dict, depth: str) -> torch.Tensor:
    """Normalised features of `depth` and the shallower taps, pooled to its size and concatenated (N, C, h, w)."""
    size = feats[depth].shape[-2:]
    return torch.cat([F.adaptive_avg_pool2d(normalise(feats[k]), size) for k in DEPTHS[depth]], 1)


def flat(x: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) -> (N, h*w, C)."""
    return x.flatten(2).transpose(1, 2)


def key_subset(n: int, max_keys: int) -> torch.Tensor | None:
    """Sorted indices of at most max_keys of n positions, the same for every call (seed 0); None keeps all."""
    if n <= max_keys:
        return None
    return torch.randperm(n, generator=torch.Generator().manual_seed(0))[:max_keys].sort().values


class AttentionStats(nn.Module):
    """Attention of content positions over style positions at one depth: softmax(q(c) . k(s))."""

    def __init__(self, key_dim: int, dim: int = 128):
        super().__init__()
        self.q, self.k = nn.Conv2d(key_dim, dim, 1), nn.Conv2d(key_dim, dim, 1)
        # both start as one random orthonormal projection, scaled so that q . k ~ c . s / sqrt(key_dim): before
        # training, attention follows the similarity of the normalised features (parameter-free AdaAttN)
        proj = torch.linalg.qr(torch.randn(key_dim, dim, generator=torch.Generator().manual_seed(0)))[0].T
        proj = proj * (key_dim ** 0.5 / dim) ** 0.5
        for conv in (self.q, self.k):
            conv.weight.data.copy_(proj[..., None, None])
            nn.init.zeros_(conv.bias)

    def keys(self, skey: torch.Tensor) -> torch.Tensor:
        """(N, K, dim) projected style keys."""
        return flat(self.k(skey.to(self.k.weight.dtype)))

    def weights(self, ckey: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """(N, Q, K) attention of every content position (ckey: (N, C, h, w)) over the keys."""
        q = flat(self.q(ckey.to(self.q.weight.dtype)))
        return torch.softmax((q @ keys.transpose(1, 2)).float(), -1)


class StyleMemory(dict):
    """What attention needs of one style, computed once: per depth its projected keys, the values it moves (the
    style's features and their squares at the key positions, centred on the style's mean so that the product with
    the attention can run in the fast precision without E[x^2] - E[x]^2 cancelling away) and that mean."""


class AttentionTransfer(nn.Module):
    """Attention-weighted mean/std in place of AdaIN at relu2_1, relu3_1 and relu4_1."""

    def __init__(self, dim: int = 128, max_keys: int = MAX_KEYS):
        super().__init__()
        self.max_keys = max_keys
        self.stats = nn.ModuleDict({d: AttentionStats(sum(CHANNELS[k] for k in taps), dim)
                                    for d, taps in DEPTHS.items()})

    def memory(self, sf: dict) -> StyleMemory:
        """A style's keys and values per depth (sf: its encoder features); keys subsampled above max_keys."""
        mem = StyleMemory()
        for d, att in self.stats.items():
            size = sf[d].shape[-2:]
            vals = torch.cat([F.adaptive_avg_pool2d(sf[k].float(), size) for k in VALUES[d]], 1)
            sq = torch.cat([F.adaptive_avg_pool2d(sf[k].float().square(), size) for k in VALUES[d]], 1)
            keys, vals, sq = att.keys(key_map(sf, d)), flat(vals), flat(sq)
            pick = key_subset(keys.shape[1], self.max_keys)
            if pick is not None:
                keys, vals, sq = keys[:, pick], vals[:, pick], sq[:, pick]
            mu = vals.mean(1, keepdim=True)  # pooled moments about mu: E[(x - mu)^2] = E[x^2] - 2 mu E[x] + mu^2
            mem[d] = (keys, torch.cat([vals - mu, sq - 2 * mu * vals + mu.square()], -1), mu)
        return mem

    def depth_stats(self, ckey: torch.Tensor, mem: StyleMemory, d: str) -> dict:
        """{tap: (mean, std)} maps at depth d's resolution for the taps its attention moves (ckey: the content's
        `key_map` at d)."""
        att = self.stats[d]
        keys, moments, mu = mem[d]
        n, _, h, w = ckey.shape
        outs = []
        fast = keys.dtype  # the weights' precision (bf16 on CPUs that have it): centred moments keep its error small
        for start in range(0, h * w, QUERY_CHUNK):  # bounded memory: (chunk, keys) attention at a time
            rows = slice(start, min(start + QUERY_CHUNK, h * w))
            q = flat(ckey)[:, rows].transpose(1, 2).unsqueeze(-1)  # (N, C, chunk, 1): a 1x1 conv's input
            a = att.weights(q, keys)
            outs.append((a.to(fast) @ moments.to(fast)).float())
        m = torch.cat(outs, 1)
        c = m.shape[-1] // 2
        centred, second = m[..., :c], m[..., c:]
        mean = (centred + mu).transpose(1, 2).reshape(n, -1, h, w)
        std = (second - centred.square()).clamp_min(0).add(EPS).sqrt().transpose(1, 2).reshape(n, -1, h, w)
        stats, at = {}, 0
        for k in VALUES[d]:
            stats[k] = (mean[:, at:at + CHANNELS[k]], std[:, at:at + CHANNELS[k]])
            at += CHANNELS[k]
        return stats

    def forward(self, cf: dict, mems: list[StyleMemory], weights: list[float], masks=None,
                strength: float = 1.0) -> dict:
        """Target features {relu2_1, relu3_1, relu4_1}: each style's attention transfer, blended by weight or
        per region (masks), then mixed with the content's own by strength."""
        out = {}
        per_style = [{} for _ in mems]
        ckeys = {d: key_map(cf, d) for d in DEPTHS}  # the content's side, once for every style
        for s, mem in enumerate(mems):
            for d in DEPTHS:
                per_style[s].update(self.depth_stats(ckeys[d], mem, d))
        for k in DRAFT_LAYERS:
            feat = cf[k].float()
            normed = normalise(feat)
            size = feat.shape[-2:]

            def painted(stats):
                m, s = (F.interpolate(t, size=size, mode="bilinear", align_corners=False)
                        if t.shape[-2:] != size else t for t in stats)
                return normed * s + m

            if masks:
                ms = [F.interpolate(m.float(), size=size, mode="bilinear", align_corners=False) for m in masks]
                total = sum(ms) + 1e-6
                mixed = sum((m / total) * painted(ps[k]) for ps, m in zip(per_style, ms))
            else:
                mixed = sum(w * painted(ps[k]) for ps, w in zip(per_style, weights))
            out[k] = strength * mixed + (1.0 - strength) * feat
        return out

    @torch.no_grad()
    def heatmap(self, cf: dict, sf: dict, point: tuple[float, float], depth: str = "relu4_1") -> torch.Tensor:
        """(h, w) attention of the content position at `point` ((x, y) as fractions of the width and height) over
        every style position at `depth` (all keys, no subsampling), summing to 1."""
        att = self.stats[depth]
        ckey, skey = key_map(cf, depth), key_map(sf, depth)
        h, w = ckey.shape[-2:]
        x, y = min(int(point[0] * w), w - 1), min(int(point[1] * h), h - 1)
        a = att.weights(ckey[:, :, y:y + 1, x:x + 1], att.keys(skey))
        return a[0, 0].view(skey.shape[-2:])


class AttentionDraftNet(nn.Module):
    """The Drafting network with attention in place of AdaIN: attention statistics, then the factored draft."""

    def __init__(self, draft: nn.Module | None = None, dim: int = 128):
        super().__init__()
        self.attn = AttentionTransfer(dim)
        self.draft = draft if draft is not None else FactoredDraftNet()

    def forward(self, cf: dict, mems: list[StyleMemory], out_size=None, weights=(1.0,), masks=None,
                strength: float = 1.0) -> torch.Tensor:
        return self.draft(self.attn(cf, mems, list(weights), masks, strength), out_size)


def load_attention_draft(source) -> AttentionDraftNet:
    """A trained AttentionDraftNet from a safetensors file or state dict (the draft's ranks are in its shapes)."""
    from safetensors.torch import load_file

    from . import load_weights
    from .lapstyle import factored_ranks

    state = source if isinstance(source, dict) else load_file(str(source))
    draft = FactoredDraftNet(factored_ranks({k.removeprefix("draft."): v for k, v in state.items()}))
    return load_weights(AttentionDraftNet(draft), state)
