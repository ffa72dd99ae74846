"""LapStyle inference: draft the global style at low resolution, then revise level by level up to any size.

The content's Laplacian pyramid has as many levels as it takes to bring the requested size down to the
draft resolution; each level's Revision network adds that band's detail (levels beyond the trained ones
reuse the last network). Aspect ratio is kept; memory grows with the output only.

The encoder pads by repeating edge pixels (zero padding painted bands along the borders), and the draft's
colours are then moved onto the painting's whole palette (`palette`, sliced optimal transport), so skies and
rivers take the painting's hues rather than a tint of the photo's.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

from ..core import pyramid
from ..core.encoder import shared_encoder
from ..core.color import palette_plan, transfer_palette
from ..core.edges import clean_edges
from ..core.images import resize_long_side
from ..core.palette_pull import pull_table, pull_to_palette
from ..core.tiling import run_tiled
from ..errors import BrushworkError
from ..nets import for_inference
from ..nets.adain import mean_std, transfer
from ..nets.lapstyle import CODE_LAYERS, DRAFT_LAYERS, load_draft, load_revision, style_code
from .common import (blend_weights, cached, check_basics, check_precision, check_share, emit,
                     pad_to_multiple)

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "assets" / "models"  # the shipped networks
STYLE_TAPS = tuple(dict.fromkeys(CODE_LAYERS + DRAFT_LAYERS))


@dataclass
class Options:
    """Knobs of the LapStyle method."""
    size: int = 512
    strength: float = 1.0
    draft_size: int = 256  # the paper's draft for 512 px; keeps more of the photo and takes more style than 128
    style_size: int = 512  # as AdaIN: strokes at the scale a 512 px painting has them
    style_scale: float = 1.0
    precision: str = "auto"
    seed: int = 0  # accepted like every method's; LapStyle draws no random numbers: any seed, the same picture
    weights_dir: str | None = None
    brush: str | None = None
    tile: int = 1024
    tile_above: int = 2048 * 2048
    palette: float = 0.65  # how far the draft's colours move onto the painting's whole palette (0: the network's own)
    subject: float = 0.0  # how much the main object (the loss network's class-activation map) is spared, in [0, 1]
    # how far the finished picture's colours, the revision's detail included, move onto the painting's palette (off
    # by default: it costs time and some of the photo; BENCHMARKS.md, "Test split")
    finish: float = 0.0
    # how far the draft's finest detail along the photo's strong edges gives way to the photo's (core/edges.py: halos
    # and dark outlines round objects). Blind on eval 18 to 2 over 0, on test 40 of 48 (both side orders, 2 raters
    # each), halos 0.168 against 0.180 and border bands 1.39 against 1.67 there
    clean_edges: float = 1.0
    # how far the finished picture's colours that the painting has nothing like (farther than 8 Delta-E from all of
    # its colours: foreign tints, the photo's own colours surviving) are pulled in to the nearest it has
    # (core/palette_pull.py; BENCHMARKS.md, "Test split")
    clean_colors: float = 1.0

    def check(self) -> None:
        check_basics(self)
        if self.draft_size < 32:
            raise BrushworkError(f"draft_size must be at least 32 px, got {self.draft_size}")
        check_share("palette", self.palette)
        check_share("subject", self.subject)
        check_share("finish", self.finish)
        check_share("clean_edges", self.clean_edges)
        check_share("clean_colors", self.clean_colors)
        self.precision = check_precision(self.precision)


@lru_cache(maxsize=4)
def load_nets(weights_dir: str | None = None, dtype: torch.dtype = torch.bfloat16):
    """(draft, [RevisionNet, ...]) from lapstyle_draft.safetensors and lapstyle_rev{1,2,...}.safetensors
    (one file per pyramid level, numbered from the draft up; each holds whichever design it was trained as)."""
    folder = Path(weights_dir) if weights_dir else WEIGHTS_DIR
    draft_path = folder / "lapstyle_draft.safetensors"
    if not draft_path.is_file():
        raise BrushworkError(f"LapStyle weights missing: {draft_path}")

    revs = []
    k = 1
    while (folder / f"lapstyle_rev{k}.safetensors").is_file():
        revs.append(for_inference(load_revision(folder / f"lapstyle_rev{k}.safetensors"), dtype))
        k += 1
    if not revs:
        raise BrushworkError(f"LapStyle revision weights missing in {folder}")
    return for_inference(load_draft(draft_path), dtype), revs


@lru_cache(maxsize=4)
def brush_nets(path: str, weights_dir: str | None = None, dtype: torch.dtype = torch.bfloat16):
    """(draft, [RevisionNet, ...]) of a .brush file; networks it does not carry come from the base model."""
    from ..loaders.brush import load_brush

    brush = load_brush(path)
    base_draft, base_revs = load_nets(weights_dir, dtype)

    draft = for_inference(load_draft(brush.draft), dtype) if brush.draft else base_draft
    revs = [for_inference(load_revision(r), dtype) for r in brush.revisions] or base_revs
    return draft, revs


def features(enc, x: torch.Tensor, taps) -> dict:
    """Encoder taps in fp32 (the encoder itself may run in bf16, channels_last)."""
    return {k: v.float() for k, v in enc(x.contiguous(memory_format=torch.channels_last), taps).items()}


def style_features(enc, style: torch.Tensor, opts: Options, cache: dict | None, key) -> dict:
    """Per-layer (mean, std) of the style at the draft layers, plus its revision code (cached per style)."""
    side = max(32, round(opts.style_size * opts.style_scale))

    def compute():
        with torch.no_grad():
            f = features(enc, resize_long_side(style, side), STYLE_TAPS)
        return {**{k: mean_std(f[k]) for k in DRAFT_LAYERS}, "code": style_code(f)}

    return cached(cache, ("lapstyle", key, side, opts.precision), compute)


def revise(rev, band: torch.Tensor, up: torch.Tensor, code: torch.Tensor, opts: Options, progress: bool = False):
    """One revision level; above opts.tile_above pixels in overlapping tiles (the net sees ~20 px around)."""
    dtype = code.dtype

    def run(x):
        x = x.to(dtype).contiguous(memory_format=torch.channels_last)
        return rev(x[:, :3], x[:, 3:], code).float()

    x = torch.cat([band, up], 1)
    if band.shape[-2] * band.shape[-1] <= opts.tile_above:
        return run(x)
    return run_tiled(run, x, scale=1, tile=opts.tile, overlap=32, out_channels=3, progress=progress,
                     desc="revise tiles")


PALETTE_STEPS = 8  # sliced-OT iterations: colour distance within ~0.3 of 12 steps, in two thirds of the time


def palette_pixels(style: torch.Tensor) -> torch.Tensor:
    """A painting's colours as the palette steps see them: its pixels at 128 px, (1, 3, N)."""
    return resize_long_side(style, 128).flatten(2)


def regions_at(masks, like: torch.Tensor) -> list[torch.Tensor]:
    """Region masks at the resolution of `like`."""
    return [F.interpolate(m.float(), size=like.shape[-2:], mode="bilinear", align_corners=False) for m in masks]


def unchanged(share: float, strength) -> bool:
    """Whether a share x strength step leaves the picture as it is (share 0, or a strength number of 0)."""
    return share <= 0 or (not isinstance(strength, torch.Tensor) and strength <= 0)


def palette_of(img: torch.Tensor, styles, weights, masks, cache: dict | None = None, keys=None) -> torch.Tensor:
    """`img` in the paintings' colours: its colour distribution moved onto theirs (sliced optimal transport).
    Blends draw on each painting's pixels in proportion to its weight; masks give each region its painting's.
    The paintings' side of the transport is cached per style (keys) when a cache is given."""
    keys = keys or [id(s) for s in styles]
    if masks:
        regions = regions_at(masks, img)
        plans = [cached(cache, ("palette", k), lambda s=s: palette_plan(palette_pixels(s)[..., None], PALETTE_STEPS))
                 for s, k in zip(styles, keys)]
        return sum(r * transfer_palette(img, plan=p, where=r) for r, p in zip(regions, plans)) / (sum(regions) + 1e-6)

    def pooled():
        px = [palette_pixels(s) for s in styles]
        n = min(p.shape[-1] for p in px)
        pool = torch.cat([p[..., torch.linspace(0, p.shape[-1] - 1, max(1, round(n * w))).long()]
                          for p, w in zip(px, weights) if w > 0], -1)
        return palette_plan(pool[..., None], PALETTE_STEPS)

    return transfer_palette(img, plan=cached(cache, ("palette", tuple(keys), tuple(weights)), pooled))


def toward_palette(img: torch.Tensor, share, styles, weights, masks, cache: dict | None = None, keys=None):
    """`img` moved `share` (a number or a (1, 1, H, W) map) of the way onto the paintings' colours (`palette_of`)."""
    return img + share * (palette_of(img, styles, weights, masks, cache, keys) - img)


def pull_in(pic: torch.Tensor, share: float, strength, styles, weights, masks, cache: dict | None = None, keys=None):
    """The picture's colours that the paintings have nothing like pulled in to the nearest they have, `share` x
    strength (a number or a map) of the way (the `clean_colors` option, core/palette_pull.py): a blend pulls to all
    of its paintings' colours, masks pull each region to its own painting's. Unchanged at share or strength 0."""
    if unchanged(share, strength):
        return pic
    keys = keys or [id(s) for s in styles]

    def table(group):  # the pull towards the colours of the paintings in `group` (cached per painting set)
        return cached(cache, ("pull", tuple(keys[i] for i in group)),
                      lambda: pull_table(torch.cat([palette_pixels(styles[i]) for i in group], -1)))

    s = share * at(strength, pic)
    if not masks:
        return pull_to_palette(pic, table([i for i, w in enumerate(weights) if w > 0]), s)
    regions = regions_at(masks, pic)
    x = pic.float().clamp(0, 1)
    shift = sum(r * (pull_to_palette(x, table([i])) - x) for i, r in enumerate(regions)) / (sum(regions) + 1e-6)
    return (x + s * shift).clamp(0, 1)


def finish(pic: torch.Tensor, share: float, strength, styles, weights, masks, cache: dict | None = None, keys=None):
    """The finished picture's colours, fine detail included, moved `share` x strength (a number or a map) of the way
    onto the paintings' palette (the `finish` option); unchanged at share 0 or strength 0."""
    if unchanged(share, strength):
        return pic
    return toward_palette(pic.clamp(0, 1), share * at(strength, pic), styles, weights, masks, cache, keys)


ENCODER_PADDING = "replicate"  # the encoder's convs repeat the edge pixels: zero padding made the draft paint bands
# along the borders (a reflected margin around the draft hid them at almost twice the draft's cost). On eval, with
# no margin: border bands 0.69 against 1.11 with a 3/16 margin, foreign and photo colours down a third, grid energy
# and colour distance up 13% and 7% (still below the reference's), the pictures alike by eye.


class Drafting:
    """How the draft is painted from encoder features: AdaIN statistics into the factored draft (lapstyle).
    methods/attention.py subclasses it with attention statistics; the pyramid and revision are shared."""

    encoder_padding = ENCODER_PADDING
    margin = 0.0  # share of the draft's shorter side reflected beyond its borders before drafting, then cut away

    def __init__(self, opts: Options, dtype: torch.dtype):
        draft, self.revs = (brush_nets(opts.brush, opts.weights_dir, dtype) if opts.brush
                            else load_nets(opts.weights_dir, dtype))
        self.net = draft  # paints target features {relu2_1, relu3_1, relu4_1}

    def style(self, enc, style: torch.Tensor, opts: Options, cache: dict | None, key) -> dict:
        """What the draft needs of one style (cached per style), with its revision "code"."""
        return style_features(enc, style, opts, cache, key)

    def targets(self, cf: dict, sfs: list, weights, masks) -> dict:
        """Full-strength target features of the content for the drafting network."""
        return {k: transfer(cf[k], [sf[k] for sf in sfs], weights, masks, 1.0) for k in DRAFT_LAYERS}


def strength_map(content: torch.Tensor, opts: Options):
    """Strength as a number, or with `subject` > 0 a (1, 1, H, W) map at the content's size: strength x (1 -
    subject x saliency), so the main object (core/saliency.py) keeps more of the photo."""
    if not getattr(opts, "subject", 0.0):
        return opts.strength
    from ..core.saliency import saliency

    return opts.strength * (1.0 - opts.subject * saliency(content))


def at(s, like: torch.Tensor):
    """A strength (number or map) at the resolution of `like`."""
    if isinstance(s, torch.Tensor) and s.shape[-2:] != like.shape[-2:]:
        return F.interpolate(s, size=like.shape[-2:], mode="bilinear", align_corners=False)
    return s


def stylize(content: torch.Tensor, styles: list[torch.Tensor], style_weights=None, masks=None,
            options: Options | None = None, cache: dict | None = None, style_keys=None, progress: bool = False,
            callback=None, drafting: type[Drafting] = Drafting) -> torch.Tensor:
    """Stylize (1, 3, H, W) content at its own size with one or more styles; returns (1, 3, H, W).
    callback receives `Progress("draft", 1, 1, image)`, then `Progress("revise", level, levels, image)` per level;
    a tensor it returns for the draft, or for a level below the last, replaces it (video steadies them this way
    before the finer levels add their detail)."""
    opts = options or Options()
    dtype = torch.bfloat16 if opts.precision == "bf16" else torch.float32
    weights, keys = blend_weights(styles, style_weights, style_keys)
    painter = drafting(opts, dtype)
    enc = shared_encoder("max", painter.encoder_padding, dtype)
    sfs = [painter.style(enc, s, opts, cache, k) for s, k in zip(styles, keys)]
    h, w = content.shape[-2:]
    levels = pyramid.levels_for(max(h, w), opts.draft_size)
    pyr = pyramid.split(content, levels)
    small = pyr[-1]
    strength = strength_map(content, opts)
    m = min(round(min(small.shape[-2:]) * painter.margin), min(small.shape[-2:]) - 1)
    padded = pad_to_multiple(F.pad(small, (m, m, m, m), mode="reflect"), 8)  # 8: the encoder's strides
    code = sum(wt * sf["code"] for sf, wt in zip(sfs, weights))
    with torch.no_grad():
        cf = features(enc, padded, DRAFT_LAYERS)

        def paint(t):
            t = {k: v.to(dtype).contiguous(memory_format=torch.channels_last) for k, v in t.items()}
            return painter.net(t, padded.shape[-2:]).float()[..., m: m + small.shape[-2], m: m + small.shape[-1]]

        s_small = at(strength, small)
        s_pad = (pad_to_multiple(F.pad(s_small, (m, m, m, m), mode="replicate"), 8)
                 if isinstance(s_small, torch.Tensor) else s_small)
        targets = painter.targets(cf, sfs, weights, masks)
        out = clean_edges(paint({k: cf[k] + at(s_pad, t) * (t - cf[k]) for k, t in targets.items()}), small,
                          opts.clean_edges * s_small)  # x strength: at 0 the photo comes back exactly
        if opts.palette > 0:
            out = toward_palette(out, opts.palette * s_small, styles, weights, masks, cache, keys)
        if isinstance(strength, torch.Tensor) or strength < 1:  # give back what the draft loses of the photo
            out = out + (1 - s_small) * (small - paint({k: cf[k] for k in DRAFT_LAYERS}))

        def finished(pic):
            pic = finish(pic, opts.finish, strength, styles, weights, masks, cache, keys)
            return pull_in(pic, opts.clean_colors, strength, styles, weights, masks, cache, keys)

        if not levels:  # the draft is the picture: finished before its event, so that previews show the saved picture
            out = finished(out)
        steady = emit(callback, "draft", 1, 1, out.clamp(0, 1))
        if isinstance(steady, torch.Tensor):  # video: the draft blended with the previous frame's, warped (video/stylize.py)
            out = steady.to(out.dtype)

        def level(i, band, up):  # levels beyond the trained networks reuse the last one
            res = revise(painter.revs[min(i, len(painter.revs) - 1)], band, up, code.to(dtype), opts, progress)
            s = at(strength, band)
            new = up + s * res + (1 - s) * band
            if i + 1 == levels:  # before the last event, so that previews show the saved picture
                new = finished(new)
            steady = emit(callback, "revise", i + 1, levels, new.clamp(0, 1))
            if isinstance(steady, torch.Tensor) and i + 1 < levels:  # video: a lower level steadied like the draft
                new = steady.to(new.dtype)
            return new

        out = pyramid.climb(out, pyr, level) if levels else out
    return out.clamp(0, 1)
