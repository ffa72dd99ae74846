"""The default LapStyle pipeline as two plain modules that trace to ONNX with dynamic height and width.

StyleEncoder: painting -> one style vector (AdaIN statistics, the revision code, the palette's quantiles).
Painter: photo + style vector -> picture, for a fixed number of pyramid levels.

Both reuse the shipped networks; only the steps whose PyTorch form does not trace (antialiased resizing,
`searchsorted`, numpy's sort, padding chosen by Python branches) are written here again with tensor shapes,
following the same formulas, so the graphs paint what `brushwork.stylize(..., precision="fp32")` paints.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..core.color import palette_plan
from ..core.edges import clean_edges
from ..core.stats import mean_std
from ..methods.lapstyle import PALETTE_STEPS, STYLE_TAPS
from ..nets.blocks import UpConv
from ..nets.lapstyle import CODE_DIM, DRAFT_LAYERS, style_code

STAT_CHANNELS = {"relu2_1": 128, "relu3_1": 256, "relu4_1": 512}
QUANTILES = 256  # palette quantiles per axis (core/color.py's _quantiles)
PALETTE_SAMPLE = 4096  # pixels the palette's maps are learned on (core/color.py)
LUT_BINS = 1024  # entries of the palette's lookup tables (core/color.py's _table)


def style_layout() -> list[tuple[str, tuple[int, ...]]]:
    """The parts of the style vector, in order, with their shapes (batch dimension left out)."""
    parts = []
    for k in DRAFT_LAYERS:
        parts += [(f"mean_{k}", (STAT_CHANNELS[k],)), (f"std_{k}", (STAT_CHANNELS[k],))]
    return parts + [("code", (CODE_DIM,)), ("palette", (PALETTE_STEPS, QUANTILES, 3))]


STYLE_DIM = sum(math.prod(shape) for _, shape in style_layout())


def rotations() -> torch.Tensor:
    """(PALETTE_STEPS, 3, 3): the palette step's fixed random rotations (seed 0, as `palette_plan` draws them)."""
    return torch.stack([rot for rot, _ in palette_plan(torch.rand(1, 3, 4, 1), PALETTE_STEPS)])


# ---- antialiased resizing (torch's separable "aa" kernels, as banded gathers with traced sizes)

def _bilinear(x: torch.Tensor) -> torch.Tensor:
    return (1 - x.abs()).clamp_min(0)


def _bicubic(x: torch.Tensor) -> torch.Tensor:
    a, x = -0.5, x.abs()
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return torch.where(x < 1, near, torch.where(x < 2, far, torch.zeros_like(x)))


KERNELS = {"bilinear": (_bilinear, 1.0), "bicubic": (_bicubic, 2.0)}


def _as_tensor(n) -> torch.Tensor:
    return n if isinstance(n, torch.Tensor) else torch.tensor(n)


def _resize_dim(x: torch.Tensor, n_out, dim: int, kind: str) -> torch.Tensor:
    """`x` resized along `dim` (2 or 3) to n_out with torch's antialiased kernel (F.interpolate antialias=True):
    each output is a normalised filter over the inputs within its support."""
    kernel, half = KERNELS[kind]
    n_in = _as_tensor(x.shape[dim])
    n_out = _as_tensor(n_out)
    scale = n_in.float() / n_out.float()
    down = scale >= 1
    support = torch.where(down, half * scale, torch.full_like(scale, half)).double()
    invscale = torch.where(down, 1 / scale, torch.ones_like(scale)).double()
    taps = (torch.ceil(support) * 2 + 1).long()
    center = scale.double() * (torch.arange(n_out).double() + 0.5)
    xmin = (center - support + 0.5).long().clamp_min(0)  # truncation, as the C++ cast
    xsize = torch.minimum((center + support + 0.5).long(), n_in) - xmin
    k = torch.arange(taps)
    w = kernel((k[None].double() + xmin[:, None].double() - center[:, None] + 0.5) * invscale).float()
    w = torch.where(k[None] < xsize[:, None], w, torch.zeros_like(w))
    w = w / w.sum(1, keepdim=True)
    idx = torch.minimum(xmin[:, None] + k[None], n_in - 1).flatten()
    g = x.index_select(dim, idx)
    if dim == 3:
        return (g.unflatten(3, (-1, taps)) * w).sum(4)
    return (g.unflatten(2, (-1, taps)) * w[..., None]).sum(3)


def resize(x: torch.Tensor, h, w, kind: str) -> torch.Tensor:
    """(N, C, H, W) resized to (h, w), as F.interpolate(mode=kind, antialias=True, align_corners=False)."""
    return _resize_dim(_resize_dim(x, w, 3, kind), h, 2, kind)


def fit(h, w, long_side: int):
    """(h, w) scaled to a long side of `long_side`, aspect ratio kept (core.images.fit_size, on tensors)."""
    h, w = _as_tensor(h), _as_tensor(w)
    scale = long_side / torch.maximum(h, w).double()
    return [(n.double() * scale).round().long().clamp_min(1) for n in (h, w)]


def resize_long_side(x: torch.Tensor, long_side: int) -> torch.Tensor:
    """core.images.resize_long_side: antialiased bicubic to a long side, clamped to [0, 1]."""
    return resize(x, *fit(x.shape[-2], x.shape[-1], long_side), "bicubic").clamp(0, 1)


# ---- the pyramid (core/pyramid.py)

def down(x: torch.Tensor) -> torch.Tensor:
    return resize(x, (_as_tensor(x.shape[-2]) + 1) // 2, (_as_tensor(x.shape[-1]) + 1) // 2, "bilinear")


def up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


def split(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    out, cur = [], x
    for _ in range(levels):
        small = down(cur)
        out.append(cur - up(small, cur))
        cur = small
    return out + [cur]


# ---- the palette step (core/color.py: sliced optimal transport with fixed rotations)

def quantiles(v: torch.Tensor, k: int = QUANTILES) -> torch.Tensor:
    """k evenly spaced quantiles of each column of v (N, C): the sorted values at round(linspace(0, N - 1, k))."""
    n = _as_tensor(v.shape[0])
    pos = (torch.arange(k, dtype=torch.float64) * ((n - 1).double() / (k - 1))).round().long()
    return torch.sort(v, 0).values.index_select(0, pos)


def _table(xs: torch.Tensor, ys: torch.Tensor, bins: int = LUT_BINS):
    lo, hi = xs[0], xs[-1]
    grid = lo + (hi - lo) * torch.linspace(0, 1, bins)[:, None]  # (bins, C)
    i = (xs[None] < grid[:, None]).long().sum(1).clamp(1, xs.shape[0] - 1)  # searchsorted (left) on sorted xs
    x0, x1, y0, y1 = xs.gather(0, i - 1), xs.gather(0, i), ys.gather(0, i - 1), ys.gather(0, i)
    lut = (y0 + ((grid - x0) / (x1 - x0).clamp_min(1e-8)).clamp(0, 1) * (y1 - y0)).t()
    step = torch.cat([lut[:, 1:] - lut[:, :-1], torch.zeros(3, 1)], 1)
    return lut, step, lo[:, None], (bins - 1) / (hi - lo).clamp_min(1e-8)[:, None]


def _interp(v: torch.Tensor, table) -> torch.Tensor:
    lut, step, lo, scale = table
    pos = ((v - lo) * scale).clamp(0, lut.shape[1] - 1)
    j = pos.long()
    return step.gather(1, j) * (pos - j) + lut.gather(1, j)


def transfer_palette(img: torch.Tensor, rots: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """core.color.transfer_palette with a plan of fixed rotations `rots` and the painting's quantiles `targets`."""
    x = img.flatten(2)[0]  # (3, N)
    stride = (_as_tensor(x.shape[1]) // PALETTE_SAMPLE).clamp_min(1)
    xs = x[:, ::stride].t()
    basis = torch.eye(3)
    for s in range(rots.shape[0]):
        rot = rots[s]
        table = _table(quantiles(xs @ rot), targets[s])
        xs = _interp((xs @ rot).t(), table).t() @ rot.t()
        x = _interp((basis.t() @ rot).t() @ x, table)
        basis = rot
    return (basis @ x).reshape(img.shape[1:])[None].clamp(0, 1)


# ---- the modules

class _StackedUpConv(UpConv):
    """UpConv whose phases are interleaved by stack and reshape (its in-place fill does not trace), with its
    folded kernels computed once (`traceable` stores them): plain initializers for quantization."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        c = self.out_channels
        y = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.folded_weight, self.folded_bias)
        phases = [y[:, k * c:(k + 1) * c, a:a + h, b:b + w] for k, (a, b) in enumerate(self.PHASES)]
        return torch.stack(phases, 2).view(n, c, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c, 2 * h, 2 * w)


def traceable(net: nn.Module) -> nn.Module:
    """An fp32 copy of a network with its UpConvs in their traceable form (the same numbers)."""
    net = copy.deepcopy(net).float().eval()
    for m in net.modules():
        if type(m) is UpConv:
            m.__class__ = _StackedUpConv
            m.register_buffer("folded_weight", m.phase_weight().detach())  # initializers in the graph
            m.register_buffer("folded_bias", m.bias.detach().repeat(4))
    return net


def pack_style(stats: dict, code: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """(1, STYLE_DIM): the parts of `style_layout` flattened and concatenated."""
    parts = []
    for k in DRAFT_LAYERS:
        parts += [stats[k][0].flatten(1), stats[k][1].flatten(1)]
    return torch.cat(parts + [code.flatten(1), palette.reshape(1, -1)], 1)


def unpack_style(style: torch.Tensor) -> dict:
    """The parts of a (1, STYLE_DIM) style vector by name, in their shapes (with the batch dimension)."""
    out, at = {}, 0
    for name, shape in style_layout():
        n = math.prod(shape)
        out[name] = style[:, at:at + n].reshape(1, *shape)
        at += n
    return out


class StyleEncoder(nn.Module):
    """Painting (1, 3, H, W) in [0, 1], any size -> style vector (1, STYLE_DIM): what the painter needs of it."""

    def __init__(self, encoder: nn.Module, style_size: int = 512, palette_side: int = 128):
        super().__init__()
        self.enc = copy.deepcopy(encoder).float().eval()
        self.style_size, self.palette_side = style_size, palette_side
        self.register_buffer("rots", rotations())

    def forward(self, painting: torch.Tensor) -> torch.Tensor:
        f = self.enc(resize_long_side(painting, self.style_size), STYLE_TAPS)
        stats = {k: mean_std(f[k]) for k in DRAFT_LAYERS}
        r = resize_long_side(painting, self.palette_side).flatten(2)[0].t()  # (N, 3)
        r = r[::(_as_tensor(r.shape[0]) // PALETTE_SAMPLE).clamp_min(1)]
        palette = torch.stack([quantiles(r @ self.rots[s]) for s in range(PALETTE_STEPS)])
        return pack_style(stats, style_code(f), palette)


class Painter(nn.Module):
    """Photo (1, 3, H, W) in [0, 1] + style vector (+ strength) -> picture (1, 3, H, W) in [0, 1].

    `levels` revision levels are fixed: the picture matches the PyTorch one for photos whose long side is in
    (draft_size * 2**(levels-1), draft_size * 2**levels] (levels 1, draft 256: 257 to 512 px)."""

    def __init__(self, encoder: nn.Module, draft: nn.Module, revisions: list, levels: int,
                 palette: float = 0.65, finish: float = 0.0, clean_edges: float = 1.0):
        super().__init__()
        self.enc = copy.deepcopy(encoder).float().eval()
        self.draft = traceable(draft)
        self.revs = nn.ModuleList(traceable(r) for r in revisions)
        self.levels, self.palette, self.finish, self.clean_edges = levels, palette, finish, clean_edges
        self.register_buffer("rots", rotations())

    def forward(self, photo: torch.Tensor, style: torch.Tensor, strength: torch.Tensor | None = None) -> torch.Tensor:
        """strength (1,) in [0, 1] when given (a graph with a strength input); none: strength 1."""
        return self.revise(photo, self.draft_of(photo, style, strength), style, strength)

    def draft_of(self, photo: torch.Tensor, style: torch.Tensor, strength: torch.Tensor | None = None) -> torch.Tensor:
        """The draft, after the palette step, at the pyramid's residual size (not clamped); methods.lapstyle's."""
        s = unpack_style(style)
        small = split(photo, self.levels)[-1]
        h, w = _as_tensor(small.shape[-2]), _as_tensor(small.shape[-1])
        ph, pw = (-h) % 8, (-w) % 8
        padded = F.pad(small, (0, pw, 0, ph), mode="reflect")  # methods.common.pad_to_multiple
        cf = self.enc(padded, DRAFT_LAYERS)
        t = {}
        for k in DRAFT_LAYERS:  # nets.adain.transfer: one style
            cm, cs = mean_std(cf[k])
            scale = s[f"std_{k}"][..., None, None] / cs
            shift = s[f"mean_{k}"][..., None, None] - cm * scale
            t[k] = torch.addcmul(shift, cf[k], scale)
            if strength is not None:
                t[k] = cf[k] + strength * (t[k] - cf[k])
        out = self.draft(t)[..., :h, :w]
        if self.clean_edges > 0:  # core/edges.py traces as it is
            out = clean_edges(out, small, self.clean_edges if strength is None else self.clean_edges * strength)
        if self.palette > 0:
            out = self.toward_palette(out, self.palette, s, strength)
        if strength is not None:  # what the draft loses of the photo, given back in proportion
            out = out + (1 - strength) * (small - self.draft(cf)[..., :h, :w])
        return out

    def revise(self, photo: torch.Tensor, draft: torch.Tensor, style: torch.Tensor,
               strength: torch.Tensor | None = None) -> torch.Tensor:
        """The revision levels on a draft, then the finish step: the picture at the photo's size, in [0, 1]."""
        s = unpack_style(style)
        out = draft
        for i, band in enumerate(reversed(split(photo, self.levels)[:-1])):
            u = up(out, band)
            res = self.revs[min(i, len(self.revs) - 1)](band, u, s["code"])
            out = u + res if strength is None else u + strength * res + (1 - strength) * band
        out = out.clamp(0, 1)
        if self.finish > 0:  # methods.lapstyle.finish: the finished picture's colours onto the palette too
            out = self.toward_palette(out, self.finish, s, strength).clamp(0, 1)
        return out

    def toward_palette(self, img: torch.Tensor, share: float, style: dict, strength: torch.Tensor | None):
        """methods.lapstyle.toward_palette: img moved share (x strength) of the way onto the painting's colours."""
        share = share if strength is None else share * strength
        return img + share * (transfer_palette(img, self.rots, style["palette"][0]) - img)


class Drafter(nn.Module):
    """Photo + style vector (+ strength) -> the painter's draft (for a caller that edits the draft between the
    halves, e.g. video's steadying)."""

    def __init__(self, painter: Painter):
        super().__init__()
        self.painter = painter

    def forward(self, photo: torch.Tensor, style: torch.Tensor, strength: torch.Tensor | None = None) -> torch.Tensor:
        return self.painter.draft_of(photo, style, strength)


class Reviser(nn.Module):
    """Photo + draft + style vector (+ strength) -> picture: the painter's revision levels."""

    def __init__(self, painter: Painter):
        super().__init__()
        self.painter = painter

    def forward(self, photo: torch.Tensor, draft: torch.Tensor, style: torch.Tensor,
                strength: torch.Tensor | None = None) -> torch.Tensor:
        return self.painter.revise(photo, draft, style, strength)
