"""Clean edges: along the photo's strongest edges a draft's own finest detail (its overshoot into light or dark
halos round objects) gives way to the photo's, while its colours there and its texture everywhere else stay."""
from __future__ import annotations

import torch
import torch.nn.functional as F

EDGE_QUANTILE = 0.9  # the photo's strongest tenth of gradients count as its edges
REACH = 2  # px either side of an edge (at the draft's resolution) that the photo's detail takes over
SMOOTH = 5  # box width of the low-pass (two passes) below which detail counts as "finest"


def low_pass(x: torch.Tensor, width: int) -> torch.Tensor:
    """Two passes of a width x width box filter (near-Gaussian), edges repeated."""
    p = width // 2
    for _ in range(2):
        x = F.avg_pool2d(F.pad(x, (p, p, p, p), mode="replicate"), width, 1)
    return x


def edge_mask(photo: torch.Tensor, quantile: float = EDGE_QUANTILE, reach: int = REACH) -> torch.Tensor:
    """(N, 1, H, W) in [0, 1]: 1 within `reach` px of the photo's strongest gradients, feathered."""
    g = photo.float().mean(1, keepdim=True)
    gx = F.pad(g[..., :, 1:] - g[..., :, :-1], (0, 1, 0, 0))
    gy = F.pad(g[..., 1:, :] - g[..., :-1, :], (0, 0, 0, 1))
    mag = (gx.square() + gy.square()).sqrt().flatten(1)
    n = torch.as_tensor(mag.shape[1])  # a traced size under ONNX export (exports/graphs.py paints with this too)
    k = (n.double() * quantile).round().long().clamp(1, n)
    if torch.jit.is_tracing():  # kthvalue has no ONNX form; the sorted values' k-th is the same number
        cut = torch.sort(mag, 1).values.index_select(1, (k - 1).view(1))
    else:
        cut = mag.kthvalue(int(k), 1, keepdim=True).values  # 5x faster than sorting
    strong = (mag > cut).float().view_as(g)
    near = (F.avg_pool2d(strong, 2 * reach + 1, 1, reach) > 0).float()  # a dilation (faster than max pooling here)
    return low_pass(near, 3).clamp(0, 1)


def clean_edges(picture: torch.Tensor, photo: torch.Tensor, share=1.0) -> torch.Tensor:
    """`picture` (a draft of `photo`, same size) with its finest detail near the photo's strong edges replaced by the
    photo's, `share` of the way (a number or a (1, 1, H, W) map; 0: unchanged)."""
    if not isinstance(share, torch.Tensor) and share <= 0:
        return picture
    photo = photo.to(picture.dtype)
    calm = photo + low_pass((picture - photo).float(), SMOOTH).to(picture.dtype)
    return picture + share * edge_mask(photo).to(picture.dtype) * (calm - picture)
