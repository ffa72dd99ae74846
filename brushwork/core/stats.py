"""Channel statistics of feature maps and images, written once: mean/std (AdaIN, style losses), mean/covariance
(colour matching, Gaussian Wasserstein loss), channel normalisation and the symmetric matrix square root."""
from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-5  # added to variances (std never 0)


def _weights(feat: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | None:
    """A soft mask resized to the map and normalised to sum 1 per sample: (N or 1, 1, H, W); None = uniform."""
    if mask is None:
        return None
    m = mask.float()
    if m.shape[-2:] != feat.shape[-2:]:
        m = F.interpolate(m, size=feat.shape[-2:], mode="bilinear", align_corners=False)
    return m / (m.sum((2, 3), keepdim=True) + 1e-8)


def mean_std(feat: torch.Tensor, mask: torch.Tensor | None = None, eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std over positions (weighted by a soft mask if given), (N, C, 1, 1), in fp32."""
    f = feat.float()
    w = _weights(f, mask)
    if w is None and f.dim() == 4 and not f.is_contiguous() and f.is_contiguous(memory_format=torch.channels_last):
        # reduce over positions in the channels-last layout itself: 4-10x faster than var over (2, 3) there
        n, c = f.shape[:2]
        flat = f.permute(0, 2, 3, 1).reshape(n, -1, c)
        m = flat.mean(1, keepdim=True)
        var = (flat - m).square().mean(1)
        mean, var = m.view(n, c, 1, 1), var.view(n, c, 1, 1)
    elif w is None:
        mean = f.mean((2, 3), keepdim=True)
        var = f.var((2, 3), keepdim=True, unbiased=False)
    else:
        mean = (f * w).sum((2, 3), keepdim=True)
        var = ((f - mean) ** 2 * w).sum((2, 3), keepdim=True)
    return mean, (var + eps).sqrt()


def normalise(feat: torch.Tensor) -> torch.Tensor:
    """Features with each channel shifted and scaled to mean 0, std 1 over positions (fp32)."""
    mean, std = mean_std(feat)
    return (feat.float() - mean) / std


def mean_cov(feat: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample channel mean (N, C) and covariance (N, C, C) over positions (masked if given), in fp32."""
    f = feat.float().flatten(2)
    w = _weights(feat, mask)
    w = torch.full_like(f[:, :1], 1.0 / f.shape[2]) if w is None else w.flatten(2)
    mean = (f * w).sum(2)
    centred = f - mean[..., None]
    return mean, (centred * w) @ centred.transpose(1, 2)


def sqrtm_psd(m: torch.Tensor, inverse: bool = False, eps: float = 1e-6) -> torch.Tensor:
    """Symmetric square root (or inverse square root) of a PSD matrix, via eigh in float64 with a little jitter
    (covariances are often singular)."""
    m64 = m.double()
    m64 = (m64 + m64.transpose(-1, -2)) / 2 + eps * torch.eye(m.shape[-1], dtype=torch.float64, device=m.device)
    vals, vecs = torch.linalg.eigh(m64)
    vals = vals.clamp_min(eps)
    return ((vecs * (vals.rsqrt() if inverse else vals.sqrt())[..., None, :]) @ vecs.transpose(-1, -2)).to(m.dtype)
