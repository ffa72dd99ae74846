"""Colour control (Gatys et al. 2017): keep the content's colours, or take colours from another picture.

- luminance: keep the result's luminance, put back the content's chroma (YIQ).
- meancov: recolour the style image(s) so their colour mean and covariance match the content's, before
  stylizing (a linear map, not a histogram match; "histogram", its old name, is still accepted).
- match_color: recolour any image to another's colour mean/covariance ("colours of one painting").
"""
from __future__ import annotations

import torch

from .stats import mean_cov, sqrtm_psd

RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.5959, -0.2746, -0.3213], [0.2115, -0.5227, 0.3112]])
MODES = ("luminance", "meancov")
ALIASES = {"histogram": "meancov"}  # the old, misleading name


def _apply(m: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", m.to(img), img)


def rgb_to_yiq(img: torch.Tensor) -> torch.Tensor:
    return _apply(RGB2YIQ, img)


def yiq_to_rgb(img: torch.Tensor) -> torch.Tensor:
    return _apply(torch.linalg.inv(RGB2YIQ), img)


def preserve_luminance(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The result's luminance with the content's chroma (content resized to the result if needed)."""
    if content.shape[-2:] != result.shape[-2:]:
        content = torch.nn.functional.interpolate(content, size=result.shape[-2:], mode="bilinear",
                                                  antialias=True, align_corners=False)
    yiq = rgb_to_yiq(result)
    yiq[:, 1:] = rgb_to_yiq(content)[:, 1:]
    return yiq_to_rgb(yiq).clamp(0, 1)


def _mean_cov(img: torch.Tensor):
    """Colour mean (3, 1) and covariance (3, 3) of an image, with a little jitter (flat images)."""
    mean, cov = mean_cov(img)
    return mean[0][:, None], cov[0] + 1e-5 * torch.eye(3)


def match_color(img: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """`img` with its colour mean and covariance mapped to `reference`'s (linear, symmetric-sqrt transform)."""
    m_s, c_s = _mean_cov(img)
    m_r, c_r = _mean_cov(reference)
    transform = sqrtm_psd(c_r) @ sqrtm_psd(c_s, inverse=True)
    x = img.float().flatten(2)[0]
    out = transform @ (x - m_s) + m_r
    return out.view_as(img[0])[None].clamp(0, 1).to(img.dtype)


def transfer_palette(img: torch.Tensor, reference: torch.Tensor, iterations: int = 12, seed: int = 0) -> torch.Tensor:
    """`img` recoloured so its whole colour distribution matches `reference`'s (sliced optimal transport, Pitie
    et al.): unlike mean/covariance matching it moves hues, e.g. a green river into a painting's blues and ochres.

    Each iteration matches the 1-D distributions (quantiles) of the pixels along three random orthogonal axes."""
    gen = torch.Generator().manual_seed(seed)
    x = img.float().flatten(2)[0].t().clone()  # (N, 3)
    r = reference.float().flatten(2)[0].t()
    q = torch.linspace(0, 1, 256)
    for _ in range(iterations):
        rot, _ = torch.linalg.qr(torch.randn(3, 3, generator=gen))
        xp, rp = x @ rot, r @ rot
        order = xp.argsort(0)
        ranks = torch.empty_like(order)
        ranks.scatter_(0, order, torch.arange(len(x))[:, None].expand(-1, 3).contiguous())
        target = torch.quantile(rp, q, dim=0)  # (256, 3) quantiles of the reference along each axis
        pos = ranks.float() / max(len(x) - 1, 1) * 255
        lo = pos.floor().long().clamp(max=254)
        frac = pos - lo
        matched = target.gather(0, lo) * (1 - frac) + target.gather(0, lo + 1) * frac
        x = (xp + (matched - xp)) @ rot.t()
    return x.t().reshape(img.shape[1:])[None].clamp(0, 1).to(img.dtype).contiguous()


def canonical(mode: str | None) -> str | None:
    """A mode's current name ("histogram" -> "meancov"); compare modes through this."""
    return ALIASES.get(mode, mode)


def check_mode(mode: str | None) -> str | None:
    """A valid colour-preservation mode (None for none), spelled as given: old names stay accepted (and callers
    that compare with them keep working); compare through `canonical`."""
    from ..errors import BrushworkError

    if mode in (None, "", "none"):
        return None
    if canonical(mode) not in MODES:
        raise BrushworkError(f"unknown colour preservation {mode!r}; choose luminance or meancov")
    return mode
