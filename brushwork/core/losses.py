"""Loss functions on encoder features: content, Gram / mean-std / Gaussian-W2 style, total variation.

Style statistics are computed in fp32 (features may come from bf16 autocast). "Masked" statistics weight
each position by a soft mask, so one style can govern one region of the picture.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .stats import mean_cov as batch_mean_cov, mean_std, normalise, sqrtm_psd


EPS = 1e-8


def _flat(feat: torch.Tensor, mask: torch.Tensor | None):
    """(1, C, H, W) features -> (C, HW) fp32 and per-position weights (HW,) summing to 1."""
    f = feat.float().flatten(2)[0]
    if mask is None:
        w = torch.full((f.shape[1],), 1.0 / f.shape[1], device=f.device)
    else:
        m = F.interpolate(mask.float(), size=feat.shape[-2:], mode="bilinear", align_corners=False).flatten()
        w = m / (m.sum() + EPS)
    return f, w


BIG_MAP = 1 << 20  # positions; above this a bf16 map's Gram is taken in bf16 (fp32 accumulation inside)


def gram(feat: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Gram matrix F W F^T of a (1, C, H, W) map, normalised by the (masked) number of positions: (C, C).

    Unmasked, it is `batch_gram` in fp32, except that very large bf16 maps (2048 px and up) keep bf16 products
    (fp32 accumulation) to avoid a full fp32 copy of the map kept for backward (GBs); their relative error
    (~0.4%) is far below the losses' scale.
    """
    if mask is None:
        big = feat.dtype == torch.bfloat16 and feat.shape[-2] * feat.shape[-1] > BIG_MAP
        return batch_gram(feat if big else feat.float())[0]
    f, w = _flat(feat, mask)
    return (f * w) @ f.t()


def mean_cov(feat: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Channel mean (C,) and covariance (C, C) over the (masked) positions of a (1, C, H, W) map."""
    mean, cov = batch_mean_cov(feat, mask)
    return mean[0], cov[0]


def style_stats(kind: str, feat: torch.Tensor, mask: torch.Tensor | None = None):
    """The statistic a style loss of `kind` compares: gram, (mean, std) or (mean, cov)."""
    if kind == "gram":
        return gram(feat, mask)
    if kind == "meanstd":
        return mean_std(feat, mask)
    if kind == "wasserstein":
        return mean_cov(feat, mask)
    raise ValueError(f"unknown style loss {kind!r}")


def blend_stats(stats: list, weights: list[float]):
    """Weighted average of several styles' statistics (blending styles by weight)."""
    if isinstance(stats[0], tuple):
        return tuple(sum(w * s[i] for s, w in zip(stats, weights)) for i in range(len(stats[0])))
    return sum(w * s for s, w in zip(stats, weights))


def rel_mse(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE relative to the target's mean square, so losses of different layers are comparable and ~O(1)."""
    return F.mse_loss(x, target) / (target.pow(2).mean() + EPS)


def content_loss(feat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Relative MSE between features; 0 for identical features."""
    return rel_mse(feat.float(), target.float())


def w2_gaussian(mean: torch.Tensor, cov: torch.Tensor, t_mean: torch.Tensor, t_cov: torch.Tensor,
                t_cov_sqrt: torch.Tensor | None = None) -> torch.Tensor:
    """Squared 2-Wasserstein distance between Gaussians N(mean, cov) and N(t_mean, t_cov).

    tr sqrtm(S^1/2 C S^1/2) is taken as the sum of square roots of eigenvalues (eigvalsh, float64): its
    gradient stays finite when eigenvalues repeat, unlike a full matrix square root's.
    """
    t_sqrt = sqrtm_psd(t_cov) if t_cov_sqrt is None else t_cov_sqrt
    m = (t_sqrt.double() @ cov.double() @ t_sqrt.double())
    m = (m + m.t()) / 2 + 1e-6 * torch.eye(cov.shape[0], dtype=torch.float64, device=cov.device)
    cross = torch.linalg.eigvalsh(m).clamp_min(1e-10).sqrt().sum().float()
    return (mean - t_mean).pow(2).sum() + (torch.trace(cov) + torch.trace(t_cov) - 2 * cross).clamp_min(0)


def style_loss(kind: str, feat: torch.Tensor, target, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Distance between the features' style statistic (masked if given) and a target statistic; >= 0."""
    stats = style_stats(kind, feat, mask)
    if kind == "gram":
        return rel_mse(stats, target)
    if kind == "meanstd":
        return rel_mse(stats[0], target[0]) + rel_mse(stats[1], target[1])
    scale = target[0].pow(2).sum() + torch.trace(target[1]) + EPS
    return w2_gaussian(*stats, *target[:2], target[2] if len(target) > 2 else None) / scale


def softmax_smooth(feat: torch.Tensor) -> torch.Tensor:
    """Each channel's softmax over the positions, times their number (mean 1): peaky activations of networks
    other than VGG flattened before the Gram (SWAG, Wang et al. 2021)."""
    f = feat.float().flatten(2)
    return (torch.softmax(f, dim=2) * f.shape[2]).view_as(feat)


def tv_loss(img: torch.Tensor) -> torch.Tensor:
    """Total variation (mean squared neighbour difference): penalises pixel noise."""
    dx = img[..., :, 1:] - img[..., :, :-1]
    dy = img[..., 1:, :] - img[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


def normalised_content_loss(feat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE between channel-normalised features: structure kept, whatever the colours and contrast (LapStyle)."""
    return F.mse_loss(normalise(feat), normalise(target))


def _sample_positions(feats: list[torch.Tensor], n: int, gen: torch.Generator | None = None):
    """The same random n spatial positions of several (N, C, H, W) maps -> list of (N, n, C)."""
    h, w = feats[0].shape[-2:]
    idx = torch.randperm(h * w, generator=gen)[:n].to(feats[0].device)
    return [f.float().flatten(2)[:, :, idx].transpose(1, 2) for f in feats]


def _cosine_cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(N, n, C) x (N, m, C) -> (N, n, m) cosine distances."""
    return 1 - F.normalize(x, dim=2) @ F.normalize(y, dim=2).transpose(1, 2)


def remd_loss(feat: torch.Tensor, style_feat: torch.Tensor, n: int = 1024) -> torch.Tensor:
    """Relaxed earth mover's distance between feature sets (Kolkin et al.): makes strokes look like the style's."""
    x, = _sample_positions([feat], n)
    y, = _sample_positions([style_feat], n)
    cost = _cosine_cost(x, y)
    return torch.max(cost.min(2).values.mean(1), cost.min(1).values.mean(1)).mean()


def self_similarity_loss(feat: torch.Tensor, content_feat: torch.Tensor, n: int = 1024) -> torch.Tensor:
    """L1 between the normalised self-similarity matrices of output and content: keeps the layout."""
    x, c = _sample_positions([feat, content_feat], n)
    dx, dc = _cosine_cost(x, x), _cosine_cost(c, c)
    dx = dx / (dx.sum(1, keepdim=True) + EPS)
    dc = dc / (dc.sum(1, keepdim=True) + EPS)
    return (dx - dc).abs().sum((1, 2)).mean() / x.shape[1]


class _Gram(torch.autograd.Function):
    """M^T M / P of (N, P, C) positions x channels (or M M^T of (N, C, P)) in M's dtype (bf16 maps: bf16 products
    with fp32 accumulation, as autocast did), with the symmetric backward in one product: autograd's own adds the
    two products' gradients, a full-map pass that cost as much as the product itself."""

    @staticmethod
    def forward(ctx, m: torch.Tensor, positions_first: bool) -> torch.Tensor:
        ctx.save_for_backward(m)
        ctx.positions_first = positions_first
        n = m.shape[1] if positions_first else m.shape[2]
        with torch.autocast(m.device.type, enabled=False):
            return (m.transpose(1, 2) @ m if positions_first else m @ m.transpose(1, 2)).float() / n

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        (m,) = ctx.saved_tensors
        n = m.shape[1] if ctx.positions_first else m.shape[2]
        sym = ((g + g.transpose(1, 2)) / n).to(m.dtype)
        return (m @ sym if ctx.positions_first else sym @ m), None


def batch_gram(feat: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C) fp32 Gram matrices, normalised by the number of positions. Channels-last maps are
    read in their own layout (no transposing copy of the map, forward or backward)."""
    f = feat if feat.dtype in (torch.float32, torch.bfloat16) else feat.float()
    n, c = f.shape[:2]
    if f.dim() == 4 and not f.is_contiguous() and f.is_contiguous(memory_format=torch.channels_last):
        return _Gram.apply(f.permute(0, 2, 3, 1).reshape(n, -1, c), True)
    return _Gram.apply(f.flatten(2), False)


def gram_distance(feat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared Gram error relative to the target Gram's squared norm, averaged over the batch (0 = same style)."""
    g = batch_gram(feat)
    return ((g - target).pow(2).sum((1, 2)) / (target.pow(2).sum((1, 2)) + EPS)).mean()


def gram_distance_to(feat: torch.Tensor, style_feat: torch.Tensor) -> torch.Tensor:
    """gram_distance(feat, batch_gram(style_feat)). Where a map has fewer positions than half its channels (deep
    layers of small crops) it is computed from position-by-position products instead: ||G - T||^2 expands into
    three P x P matrices instead of two C x C ones, the same number for a tenth of the work at 672 channels."""
    c = feat.shape[1]
    px, py = feat[0, 0].numel(), style_feat[0, 0].numel()  # positions
    if 2 * max(px, py) >= c:  # no fp32 copies of the maps on this path: batch_gram reads them as they are
        return gram_distance(feat, batch_gram(style_feat))
    x, y = feat.float().flatten(2), style_feat.float().flatten(2)  # (N, C, P)

    def sq(a, b, scale):  # ||a^T b||^2 / scale per sample
        return (a.transpose(1, 2) @ b).square().sum((1, 2)) / scale

    gg, gt, tt = sq(x, x, px * px), sq(x, y, px * py), sq(y, y, py * py)
    return ((gg - 2 * gt + tt) / (tt + EPS)).mean()


def color_moments_loss(img: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """MSE between the RGB mean and covariance of img and ref, per sample (the palette in pixel space)."""
    (m, c), (tm, tc) = batch_mean_cov(img), batch_mean_cov(ref)
    return F.mse_loss(m, tm) + F.mse_loss(c, tc) * 10.0
