"""Optimization-based style transfer (Gatys et al.): minimise content + style + TV loss over the pixels.

The losses are taken on a loss network (core.lossnet): ImageNet EfficientNet-Lite1 by default, whose Gram
statistics describe brush texture and colour; the HED VGG16 (`loss_net="hed-vgg16"`) paints contour worms.

The start is the lapstyle painting of the photo ("lapstyle": palette, strokes and clean borders already in place),
and L-BFGS then matches the painting's texture statistics at the output size (60 iterations at 512 px), with a
content weight that keeps the photo's structure (LAPSTYLE_START_CONTENT_WEIGHT). Chosen
on the eval split, blind: this beat lapstyle itself 8 to 2, where the earlier start (the photo recoloured by
sliced optimal transport, painted coarse to fine from 256 px) beat it 6 to 4. Other starts: "matched" (that
recolouring), "meancov" (colour mean and covariance only), "content", "noise", "style-stats".

Above `start_size` the picture grows by about sqrt(2) per scale up to the requested size, each scale warm-started
from the upsampled previous result with 0.3x the iterations (cheap global structure first, detail last).
`smoothing="swag"` takes the Gram on softmax-smoothed activations (Wang et al. 2021); at the same weights it
styles far less (eval), so it is off by default.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tqdm import tqdm

from ..core import losses as L
from ..core import lossnet
from ..core.color import match_color, transfer_palette
from ..core.images import fit_size, mirror_pad, resize, resize_long_side
from ..core.precision import PRECISIONS, resolve
from ..errors import BrushworkError
from .common import blend_weights, cached, check_basics, check_share, emit, paint_padding

STYLE_LOSSES = ("gram", "meanstd", "wasserstein")
INITS = ("matched", "meancov", "lapstyle", "content", "noise", "style-stats")
SMOOTHING = ("none", "swag")
OPTIMIZERS = ("lbfgs", "adam")
# Per loss network: style/content weight ratio (style loss averaged over the taps) and the
# total-variation weight, chosen by eye on the eval set (painterly, subject recognisable, no speckle).
STRENGTH_SCALE = {"efficientnet-lite1": 18000.0, "efficientnet-lite2": 18000.0, "hed-vgg16": 20.0}
TV_WEIGHT = {"efficientnet-lite1": 5.0, "efficientnet-lite2": 5.0, "hed-vgg16": 2.0}
# Content weight from the lapstyle start (the default), per loss network; 0.5 otherwise. The start already has the
# painting's palette and strokes, and at 0.5 L-BFGS traded the photo's structure for Gram statistics far below the
# reference's (eval, 10 pairs at 512 px: Lite1 content 1.12x the reference's at 0.5, 0.78x at 20, 0.54x at 80, Lite1
# style 0.01-0.02x throughout); 40 won the blind comparison with 0.5 on eval 12 to 7 (one tie).
LAPSTYLE_START_CONTENT_WEIGHT = {"efficientnet-lite1": 40.0}
CHECKPOINT_PIXELS = 1_500_000  # above this, block 1 of the encoder is recomputed in backward (memory)


@dataclass
class Options:
    """Knobs of the optimization method (all have sensible defaults)."""
    size: int = 512
    strength: float = 1.0
    content_weight: float | None = None
    style_weight: float | None = None
    tv_weight: float | None = None
    style_loss: str = "gram"
    loss_net: str = lossnet.DEFAULT_LOSS_NET
    content_layer: str | None = None
    style_layers: tuple | None = None
    optimizer: str = "lbfgs"
    iterations: int | None = None
    init: str = "lapstyle"
    start_size: int = 512
    scale_step: float = math.sqrt(2)
    style_scale: float = 1.0
    seed: int = 0
    precision: str = "auto"
    pool: str = "avg"
    padding: str = "reflect"
    lr: float = 0.02
    smoothing: str = "none"
    # lapstyle's last step on the optimized picture: its colours the painting has nothing like pulled in to the
    # nearest it has (core/palette_pull.py)
    clean_colors: float = 1.0

    def check(self) -> None:
        check_basics(self)
        check_share("clean_colors", self.clean_colors)
        for name, value, allowed in (("style loss", self.style_loss, STYLE_LOSSES), ("init", self.init, INITS),
                                     ("optimizer", self.optimizer, OPTIMIZERS), ("smoothing", self.smoothing, SMOOTHING),
                                     ("precision", self.precision, PRECISIONS), ("pool", self.pool, ("avg", "max")),
                                     ("padding", self.padding, ("zeros", "reflect"))):
            if value not in allowed:
                raise BrushworkError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")
        net = lossnet.loss_net(self.loss_net)
        self.content_layer = self.content_layer or net.content_tap
        self.style_layers = tuple(self.style_layers or net.style_taps)
        self.tv_weight = TV_WEIGHT[net.name] if self.tv_weight is None else self.tv_weight
        # auto: the loss network's fast precision, and bf16 only where the CPU computes it natively
        if self.precision == "auto":
            self.precision = "fp32" if net.fast_precision == "fp32" else resolve("auto")
        else:
            self.precision = resolve(self.precision)

    def weights(self) -> tuple[float, float]:
        """(content, style) weights: explicit ones win; otherwise the loss network's tuned ratio (strength acts on
        the style statistics aimed at, not on the weights: see _scale_loss)."""
        if self.content_weight is not None:
            cw = self.content_weight
        elif self.init == "lapstyle":
            cw = LAPSTYLE_START_CONTENT_WEIGHT.get(self.loss_net, 0.5)
        else:
            cw = 0.5  # (0.5, 0.5 x ratio): the balance
        sw = self.style_weight if self.style_weight is not None else 0.5 * STRENGTH_SCALE[self.loss_net]  # with TV
        return cw, sw


def scale_ladder(size: int, start: int = 256, step: float = math.sqrt(2)) -> list[int]:
    """Long sides of the scales, coarse to fine, ending exactly at `size`: e.g. 512 -> [256, 362, 512]."""
    if size <= start * 1.05:
        return [size]
    n = math.ceil(math.log(size / start) / math.log(step) - 1e-6)
    return [round(size / step ** k) for k in range(n, 0, -1)] + [size]


def iteration_schedule(sizes: list[int], optimizer: str, iterations: int | None, init: str = "matched") -> list[int]:
    """Iterations per scale: most at the coarse scale where they are cheap, then 0.3x per scale (at least 6).

    Each finer scale starts from the upsampled previous result, so it only has to add detail. A lapstyle start
    only needs its texture refined: 60 L-BFGS iterations.
    """
    base = iterations or (120 if optimizer == "adam" else 60 if init == "lapstyle" else 50)
    return [base] + [max(6, round(base * 0.3 ** k)) for k in range(1, len(sizes))]


def pull(strength: float) -> float:
    """How far towards the painting's statistics (and palette) a strength aims. The content loss grows convexly
    with it (measured: 27% of the way at 0.5 when linear), so the square root puts strength 0.5 about halfway."""
    return math.sqrt(strength)


def _smooth(feat: torch.Tensor, opts: Options) -> torch.Tensor:
    """The features the style statistics are taken on: as they are, or softmax-smoothed (SWAG, Wang et al. 2021)."""
    return L.softmax_smooth(feat) if opts.smoothing == "swag" else feat


def _stats_of(enc, img: torch.Tensor, opts: Options) -> dict:
    """Per style layer, the statistic the style loss compares (Gram, mean/std or mean/cov + its root) of img."""
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=opts.precision == "bf16"):
        feats = enc(img, opts.style_layers)
    stats = {k: L.style_stats(opts.style_loss, _smooth(v, opts)) for k, v in feats.items()}
    if opts.style_loss == "wasserstein":
        stats = {k: (m, c, L.sqrtm_psd(c)) for k, (m, c) in stats.items()}
    return stats


def _style_targets(enc, styles, opts, long_side, cache, keys):
    """Per style, per layer, the target statistic at this scale (cached by style key and size)."""
    side = max(16, round(long_side * opts.style_scale))
    config = (opts.loss_net, opts.style_loss, opts.pool, opts.padding, opts.precision, tuple(opts.style_layers),
              opts.smoothing)
    return [cached(cache, ("optimize", key, side, *config), lambda s=style: _stats_of(enc, resize_long_side(s, side), opts))
            for style, key in zip(styles, keys)]


def _init_image(opts: Options, content: torch.Tensor, styles, weights, masks, gen: torch.Generator) -> torch.Tensor:
    """The starting picture: lapstyle's painting of it, the photo in the main style's colours (matched: whole
    distribution; meancov: mean and covariance), the photo, noise, or style-coloured noise. The recoloured starts
    move the photo that far (strength) into the painting's palette (strength 0 is the photo); with region masks
    each region starts in its own painting's palette."""
    if opts.init == "lapstyle":  # the fast method's painting: palette and strokes in place, texture to refine
        from . import lapstyle

        # with lapstyle's clean_edges step (blind on eval 16 to 4 over the start without it; test in BENCHMARKS.md)
        fast = lapstyle.Options(strength=opts.strength, style_scale=opts.style_scale)
        fast.check()
        h, w = content.shape[-2:]
        top, bottom, left, right = pad = paint_padding(fast, (h, w))  # thin panoramas: mirrored context
        wide = [mirror_pad(resize(m, (h, w)), *pad) for m in masks] if masks else masks
        out = lapstyle.stylize(mirror_pad(content, *pad), styles, weights, wide, fast)
        return out[..., top: top + h, left: left + w]
    if opts.init in ("matched", "meancov") and opts.strength > 0:
        recolour = (lambda s, r: transfer_palette(content, s, where=r)) if opts.init == "matched" else (
            lambda s, r: match_color(content, s))
        if masks:  # each region in its own painting's palette
            regions = [resize(m, tuple(content.shape[-2:])) for m in masks]
            painted = sum(r * recolour(s, r) for r, s in zip(regions, styles)) / (
                sum(regions) + 1e-6)  # each region's colours onto its painting's whole palette
        else:
            painted = recolour(styles[max(range(len(styles)), key=lambda i: weights[i])], None)
        mix = pull(opts.strength)
        return mix * painted + (1.0 - mix) * content
    if opts.init in ("content", "matched", "meancov"):
        return content.clone()
    noise = torch.rand(content.shape, generator=gen)
    if opts.init == "noise":
        return noise
    s = styles[0].flatten(2)
    mean, std = s.mean(2)[..., None, None], s.std(2)[..., None, None]
    return (mean + (noise - 0.5) * 2 * std).clamp(0, 1)


def _scale_loss(enc, opts: Options, c: torch.Tensor, targets, weights, masks, cw: float, sw: float):
    """The loss at one scale of the ladder, as a function of the picture x: content + style (the styles'
    statistics blended, or each style in its own mask region) + total variation. Returns (total, content, style)."""
    hw = tuple(c.shape[-2:])
    taps = tuple(dict.fromkeys((*opts.style_layers, opts.content_layer)))
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=opts.precision == "bf16"):
        c_target = enc(c, opts.content_layer)[opts.content_layer].float()
    # strength s: the style statistics aimed at are (1 - s) x the photo's own + s x the painting's, so s = 0 keeps
    # the photo and 0.5 lands about halfway (as the feature blend of lapstyle and adain)
    s = pull(opts.strength)
    own = _stats_of(enc, c, opts) if s < 1 else None

    def toward(stats: list, w: list[float]) -> dict:
        return {k: L.blend_stats([t[k] for t in stats] + ([own[k]] if own else []),
                                 [s * x for x in w] + ([1 - s] if own else [])) for k in opts.style_layers}

    if masks:
        regions = [resize(m, hw) for m in masks]
        area = [float(r.mean()) + 1e-6 for r in regions]
        area = [a / sum(area) for a in area]
        targets = [toward([t], [1.0]) for t in targets]
    else:
        blended = toward(targets, weights)

    def loss_fn(x: torch.Tensor):
        with torch.autocast("cpu", torch.bfloat16, enabled=opts.precision == "bf16"):
            feats = enc(x, taps, checkpoint_first=hw[0] * hw[1] > CHECKPOINT_PIXELS)
        lc = L.content_loss(feats[opts.content_layer], c_target)
        ls = 0.0
        for name in opts.style_layers:
            if masks:
                ls = ls + sum(a * L.style_loss(opts.style_loss, _smooth(feats[name], opts), t[name], m)
                              for t, m, a in zip(targets, regions, area))
            else:
                ls = ls + L.style_loss(opts.style_loss, _smooth(feats[name], opts), blended[name])
        ls = ls / len(opts.style_layers)
        return cw * lc + sw * ls + opts.tv_weight * L.tv_loss(x), lc.detach(), ls.detach()

    return loss_fn


def _minimise(x: torch.Tensor, opts: Options, n_iter: int, closure) -> None:
    """n_iter evaluations of closure with L-BFGS (strong-Wolfe line search) or Adam (pixels kept in [0, 1])."""
    if opts.optimizer == "lbfgs":
        opt = torch.optim.LBFGS([x], lr=1.0, max_iter=n_iter, history_size=50, tolerance_grad=-1,  # line search:
                                line_search_fn="strong_wolfe",  # plain steps can blow up into colour noise
                                tolerance_change=-1)
        opt.step(lambda: closure(opt))
        return
    opt = torch.optim.Adam([x], lr=opts.lr)
    for _ in range(n_iter):
        opt.step(lambda: closure(opt))
        with torch.no_grad():
            x.clamp_(0, 1)


def _progress(opt, x: torch.Tensor, n_iter: int, evals: int) -> tuple[int, float]:
    """(the iteration under way, 1-based; the fraction of this scale done) from the optimizer's own counters.
    L-BFGS evaluates the loss once before its first iteration and 1-2 times per iteration (line search), and
    stops at n_iter iterations or at max_eval evaluations, whichever comes first; Adam evaluates once per step."""
    if isinstance(opt, torch.optim.LBFGS):
        it = opt.state[x].get("n_iter", 0)
        return it, min(1.0, max((it - 1) / n_iter, evals / opt.param_groups[0]["max_eval"]))
    return evals, min(1.0, evals / n_iter)


def stylize(content: torch.Tensor, styles: list[torch.Tensor], style_weights: list[float] | None = None,
            masks: list[torch.Tensor] | None = None, options: "Options | None" = None, cache: dict | None = None,
            style_keys: list | None = None, progress: bool = True, callback=None) -> torch.Tensor:
    """Stylize `content` (1, 3, H, W) in [0, 1] with one or more style images; returns (1, 3, h, w).

    style_weights blend the styles' statistics; masks (one per style, (1, 1, H, W) in [0, 1]) instead give
    each style its own region. callback receives `Progress("optimize", iteration, iterations, image, scale)`
    once per iteration, and at the end of each scale one with iteration == iterations (the scale's result).
    """
    opts = options or Options()
    opts.check()
    weights, keys = blend_weights(styles, style_weights, style_keys)
    cw, sw = opts.weights()
    enc = lossnet.load(opts.loss_net, opts.padding, opts.pool)
    gen = torch.Generator().manual_seed(opts.seed)
    sizes = scale_ladder(min(opts.size, 100_000), opts.start_size, opts.scale_step)
    iters = iteration_schedule(sizes, opts.optimizer, opts.iterations, opts.init)
    work = [n * (s / sizes[-1]) ** 2 for n, s in zip(iters, sizes)]
    bar = tqdm(total=sum(work), disable=not progress, unit="it@full", dynamic_ncols=True,
               desc="optimize", bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]")
    image, done = None, 0.0  # done: the bar's position at the start of this scale (work of the scales before)
    for si, (long_side, n_iter) in enumerate(zip(sizes, iters)):
        hw = fit_size(content.shape[-2], content.shape[-1], long_side)
        c = resize(content, hw)
        targets = _style_targets(enc, styles, opts, long_side, cache, keys)
        loss_fn = _scale_loss(enc, opts, c, targets, weights, masks, cw, sw)
        image = _init_image(opts, c, styles, weights, masks, gen) if image is None else resize(image, hw)
        x = image.clone(memory_format=torch.contiguous_format).requires_grad_(True)  # L-BFGS views grads flat
        state = {"evals": 0, "emitted": 0}

        def closure(opt):
            opt.zero_grad(set_to_none=True)
            total, lc, ls = loss_fn(x)
            total.backward()
            state["evals"] += 1
            it, frac = _progress(opt, x, n_iter, state["evals"])
            at = done + frac * work[si]  # true progress: never past this scale's share
            bar.update(at - bar.n)
            if it > state["emitted"]:  # one event per iteration (at its first evaluation)
                state["emitted"] = it
                bar.set_postfix_str(f"scale {si + 1}/{len(sizes)} {hw[1]}x{hw[0]} loss {total.item():.4g}")
                emit(callback, "optimize", it, n_iter, x, si, overall=at / sum(work))
            return total

        _minimise(x, opts, n_iter, closure)
        image = x.detach().clamp(0, 1)
        done += work[si]
        bar.update(done - bar.n)
        if state["emitted"] < n_iter:  # L-BFGS may stop on its evaluation budget: the scale is done all the same
            emit(callback, "optimize", n_iter, n_iter, image, si, overall=done / sum(work))
    bar.close()
    from . import lapstyle

    return lapstyle.pull_in(image, opts.clean_colors, opts.strength, styles, weights, masks, cache, keys)
