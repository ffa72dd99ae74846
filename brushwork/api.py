"""The Python API: `stylize(content, style, method=..., **options)` and the reusable `Stylizer`.

Data flows one way: images in -> tensors -> method (encoder features inside) -> tensor -> image out.
`brushwork stylize` (and the video, web and batch front ends) are thin layers over this module; training,
evaluation and learn-style have Python entry points of their own (brushwork.training.run.train,
brushwork.evaluation.runner.evaluate, brushwork.training.learn_style) that their CLI commands wrap.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import os
import warnings
from pathlib import Path

import torch
from PIL import Image

from .loaders import gallery
from .loaders.brush import is_brush, load_brush
from .core import budget, color
from .core.masks import region_weights
from .core.images import (fit_size, load_array, load_image, mirror_pad, resize, resize_long_side, to_pil,
                          to_tensor)
from .errors import BrushworkError
from .methods.common import LRUCache, Progress, paint_padding  # noqa: F401  (Progress: what `callback` receives)

METHODS = {"optimize": "brushwork.methods.optimize", "adain": "brushwork.methods.adain",
           "lapstyle": "brushwork.methods.lapstyle", "attention": "brushwork.methods.attention"}
DEFAULT_METHOD = "lapstyle"
MAX_STYLE_SIDE = 2048  # style images are never needed larger than this
CACHE_ENTRIES = 64  # style statistics kept per Stylizer (least recently used dropped; a few MB each at most)
MIN_PHOTO_SIDE = 8  # a photo smaller than this on a side is refused: there is nothing to paint
SMALL_PHOTO_SIDE = 64  # under this on its short side a photo is painted, with a warning (upscaled, little detail)


# quality presets: (method, its options, what it costs). Times: a 2-core CPU at 512 px (README's speed table)
QUALITY = {
    "fast": ("lapstyle", {"draft_size": 128}, "lapstyle with a 128 px draft, about 0.1 s at 512 px"),
    "balanced": ("lapstyle", {}, "lapstyle (the default), about 0.16 s at 512 px"),
    "best": ("optimize", {"size": 512}, "optimize (lapstyle refined by Gatys' optimization) at 512 px, about 15 s"),
}


def apply_quality(quality: str | None, method: str | None, options: dict) -> tuple[str, dict]:
    """The method and options a `quality` preset ("fast", "balanced", "best") stands for, under the caller's own:
    options given explicitly win, and a method other than the preset's replaces it (and its options).
    No preset: the method given, or the default."""
    if quality is None:
        return method or DEFAULT_METHOD, options
    if quality not in QUALITY:
        raise BrushworkError(f"unknown quality {quality!r}; choose one of {', '.join(QUALITY)}")
    preset_method, preset, _ = QUALITY[quality]
    if method not in (None, preset_method):
        return method, options
    return preset_method, {**preset, **{k: v for k, v in options.items() if v is not None}}


def method_module(name: str):
    """The module implementing a method (each has `Options` and `stylize`)."""
    if name not in METHODS:
        raise BrushworkError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return importlib.import_module(METHODS[name])


def _key(t: torch.Tensor) -> str:
    """A content hash of a tensor: the cache key of a style image."""
    return hashlib.sha1(t.numpy().tobytes()).hexdigest()[:16]


def check_source(ref, what: str = "style"):
    """`ref` with a built-in name resolved to its file; a name or path that is neither is a one-line error that
    suggests the closest built-in names ("did you mean starry-night?"). PIL images and arrays pass unchanged."""
    resolved = gallery.resolve(ref)
    if isinstance(resolved, (str, os.PathLike)) and not Path(resolved).expanduser().exists():
        close = gallery.suggest(str(ref), "content" if what == "content" else "style") if what != "mask" else []
        if close:
            hint = f"; did you mean {' or '.join(close)}?"
        else:
            hint = " (built-in styles: see `brushwork styles`)" if what == "style" else ""
        raise BrushworkError(f"{what} {str(ref)!r} is neither a file nor a built-in name{hint}")
    return resolved


def check_blend(n_styles: int, style_weights=None, masks=None) -> list[float] | None:
    """The style weights as floats, after checking there is one weight (and one mask) per style: the count checks
    every front end shares (the CLI and batch call this before any work)."""
    if n_styles < 1:
        raise BrushworkError("give at least one style")
    if style_weights is not None:
        style_weights = [float(w) for w in style_weights]
        if len(style_weights) != n_styles:
            raise BrushworkError(f"{len(style_weights)} style weights for {n_styles} styles; give one per style")
        if any(w < 0 for w in style_weights) or sum(style_weights) <= 0:
            raise BrushworkError("style weights must be non-negative and not all zero")
    if masks is not None and len(masks) != n_styles:
        raise BrushworkError(f"{len(masks)} masks for {n_styles} styles; give one mask per style")
    return style_weights


def load_mask(source, allow_huge: bool = False) -> torch.Tensor:
    """A mask image as a (1, 1, H, W) tensor in [0, 1] (white = this style's region)."""
    return to_tensor(load_array(check_source(source, "mask"), allow_huge)).mean(1, keepdim=True)


def fit_mask(mask: torch.Tensor, photo_hw: tuple[int, int], out_hw: tuple[int, int], index: int = 0) -> torch.Tensor:
    """A mask resized to the output; one of another aspect ratio than the photo is an error naming both sizes
    (stretching it would move the regions), while another resolution of the same shape is fine."""
    (mh, mw), (ph, pw) = mask.shape[-2:], photo_hw
    eh, ew = fit_size(ph, pw, max(mh, mw))  # the photo's shape at the mask's long side
    if abs(eh - mh) > 1 + 0.01 * mh or abs(ew - mw) > 1 + 0.01 * mw:
        raise BrushworkError(f"mask {index + 1} is {mw}x{mh} but the photo is {pw}x{ph}: a mask must have the "
                             "photo's aspect ratio (any resolution)")
    return resize(mask, out_hw)


def runtime_backend(backend: str | None, method: str):
    """None for PyTorch, or the module that runs `method` on another engine (backend "onnxruntime": lapstyle)."""
    if backend in (None, "torch"):
        return None
    if backend != "onnxruntime":
        raise BrushworkError(f"unknown backend {backend!r}; choose torch or onnxruntime")
    if method != "lapstyle":
        raise BrushworkError(f"backend {backend} runs method lapstyle only (this run uses {method})")
    from .exports import runtime

    return runtime


def check_photo(hw: tuple[int, int]) -> None:
    """Refuse a photo under MIN_PHOTO_SIDE px on a side (one line, with the limit); warn under SMALL_PHOTO_SIDE."""
    h, w = hw
    if min(h, w) < MIN_PHOTO_SIDE:
        raise BrushworkError(f"the photo is {w}x{h} px; a photo must be at least {MIN_PHOTO_SIDE} px on each side")
    if min(h, w) < SMALL_PHOTO_SIDE:
        warnings.warn(f"the photo is only {w}x{h} px (under {SMALL_PHOTO_SIDE} px on its short side): the "
                      "painting has little of a photo's detail to work from", stacklevel=3)


def _crop_events(callback, pad: tuple[int, int, int, int], hw: tuple[int, int]):
    """A Progress callback that sees pictures with the mirror padding cut away (at each event's resolution);
    a tensor it returns (video's steadied draft or lower level) is padded back to the event's size."""
    top, bottom, left, right = pad
    h, w = hw

    def crop_box(ih: int, iw: int) -> tuple[int, int, int, int]:
        t, l = round(top * ih / (h + top + bottom)), round(left * iw / (w + left + right))
        return t, max(1, round(h * ih / (h + top + bottom))), l, max(1, round(w * iw / (w + left + right)))

    def on_progress(p):
        if p.image is None:
            return callback(p)
        ih, iw = p.image.shape[-2:]
        t, ch, l, cw = crop_box(ih, iw)
        back = callback(dataclasses.replace(p, image=p.image[..., t:t + ch, l:l + cw]))
        if isinstance(back, torch.Tensor):
            back = mirror_pad(back, t, ih - t - ch, l, iw - l - cw)
        return back

    return on_progress


class Stylizer:
    """Loads the encoder once, caches style statistics per style image, and stylizes many pictures."""

    def __init__(self, method: str | None = None, progress: bool = True, quality: str | None = None):
        self.method, _ = apply_quality(quality, method, {})  # the method it paints with unless told otherwise
        method_module(self.method)
        self.quality, self._chosen = quality, method
        self.progress = progress
        self.cache = LRUCache(CACHE_ENTRIES)  # bounded: a server keeps one Stylizer for days
        self._styles = LRUCache(CACHE_ENTRIES)

    def _style(self, ref, allow_huge: bool) -> tuple[torch.Tensor, str]:
        """A style image as a tensor (<= MAX_STYLE_SIDE) with its cache key; repeated paths load once."""
        ref = gallery.resolve(ref)
        memo = None
        if isinstance(ref, (str, Path)):
            p = Path(ref).expanduser()
            memo = (str(p), p.stat().st_mtime_ns if p.exists() else 0)
            if memo in self._styles:
                return self._styles[memo]
        t = load_brush(ref).paintings[0] if is_brush(ref) else load_image(ref, allow_huge=allow_huge)
        if max(t.shape[-2:]) > MAX_STYLE_SIDE:
            t = resize_long_side(t, MAX_STYLE_SIDE)
        out = (t, _key(t))
        if memo:
            self._styles[memo] = out
        return out

    def options(self, method: str, **kwargs):
        """The method's Options dataclass built from keyword options; unknown names are a clear error."""
        mod = method_module(method)
        fields = {f.name for f in dataclasses.fields(mod.Options)}
        unknown = sorted(set(kwargs) - fields)
        if unknown:
            raise BrushworkError(f"method {method!r} has no option {', '.join(unknown)}; "
                                 f"it takes {', '.join(sorted(fields))}")
        opts = mod.Options(**{k: v for k, v in kwargs.items() if v is not None})
        opts.check()
        return opts

    def stylize_tensor(self, content, style, *, method: str | None = None, style_weights=None, masks=None,
                       preserve_color: str | None = None, color_from=None, allow_huge: bool = False,
                       callback=None, backend: str | None = None, feather: float | None = None,
                       quality: str | None = None, **options) -> torch.Tensor:
        """Like `stylize`, returning a (1, 3, H, W) float tensor in [0, 1]."""
        quality = quality or self.quality
        if quality:
            method, options = apply_quality(quality, method or self._chosen, options)
        method = method or self.method
        mod = method_module(method)
        styles = style if isinstance(style, (list, tuple)) else [style]
        style_weights = check_blend(len(styles), style_weights, masks)
        styles = [check_source(s, "style") for s in styles]
        if color_from is not None:
            color_from = check_source(color_from, "color_from")
        preserve_color = color.check_mode(preserve_color)
        brushes = [str(gallery.resolve(s)) for s in styles if is_brush(gallery.resolve(s))]
        if brushes and method in ("lapstyle", "attention"):
            options.setdefault("brush", brushes[0])  # a learned style brings its fine-tuned networks
        opts = self.options(method, **options)
        backend = runtime_backend(backend, method)
        content_t = load_image(check_source(content, "content"), allow_huge=allow_huge)
        photo_hw = tuple(content_t.shape[-2:])
        check_photo(photo_hw)
        budget.check(method, opts, *photo_hw)  # sizes that cannot fit are refused before any work
        content_t = resize_long_side(content_t, opts.size)
        loaded = [self._style(s, allow_huge) for s in styles]
        style_ts, keys = [t for t, _ in loaded], [k for _, k in loaded]
        if color.canonical(preserve_color) == "meancov":
            style_ts = [color.match_color(s, content_t) for s in style_ts]
            keys = [f"{k}:match:{_key(content_t)}" for k in keys]
        mask_ts = None
        if masks is not None:
            mask_ts = [fit_mask(load_mask(m, allow_huge), photo_hw, tuple(content_t.shape[-2:]), i)
                       for i, m in enumerate(masks)]
            mask_ts = region_weights(mask_ts, style_weights, feather)  # soft edges, full strength, no gaps
        out_hw = tuple(content_t.shape[-2:])
        pad = paint_padding(opts, out_hw)
        x = content_t
        if any(pad):  # too thin for the networks: painted with mirrored context, which is then cut away
            x = mirror_pad(content_t, *pad)
            mask_ts = None if mask_ts is None else [mirror_pad(m, *pad) for m in mask_ts]
            callback = None if callback is None else _crop_events(callback, pad, out_hw)
        run = backend.stylize if backend else mod.stylize
        out = run(x, style_ts, style_weights, mask_ts, opts, cache=self.cache, style_keys=keys,
                  progress=self.progress, callback=callback)
        if any(pad):
            out = out[..., pad[0]:pad[0] + out_hw[0], pad[2]:pad[2] + out_hw[1]]
        if color_from is not None:
            out = color.match_color(out, load_image(color_from, size=512, allow_huge=allow_huge))
        if preserve_color == "luminance":
            out = color.preserve_luminance(out, content_t)
        return out

    def stylize(self, content, style, **kwargs) -> Image.Image:
        """Paint `content` in the style of `style` (a path, built-in name, PIL image or array; or a list).

        callback(Progress) is called as the method goes (stage, step of total, the picture so far): for
        progress bars and live previews. Options: method, size, strength in [0, 1], style_weights, masks
        (one per style), preserve_color
        ('luminance', or 'meancov': the style recoloured to the photo's colour mean and covariance; 'histogram' is
        an old name for it), color_from (take the colours of another picture), seed, and
        method-specific ones (see each method's Options).
        """
        return to_pil(self.stylize_tensor(content, style, **kwargs))


_default: dict[str, Stylizer] = {}


def stylize(content, style, method: str | None = None, progress: bool = False, quality: str | None = None,
            **options) -> Image.Image:
    """Paint `content` in the style of `style` and return a PIL image (one call; repeated calls share caches).

    content: a path, a built-in sample ('sample:tubingen'), a PIL image or a numpy array (HxW or HxWx3/4;
        uint8, uint16, or float in 0..1).
    style: the same kinds, a built-in style name ('starry-night'; see `brushwork styles`), a `.brush` file
        from learn-style, or a list of them to blend.
    method: "lapstyle" (default; fast, any size), "attention" (lapstyle whose draft takes each region's style from
    the matching region of the painting), "optimize" (Gatys; slow) or "adain".
    progress: show a progress bar (default False).

    Common options (every method):
        quality=None: a preset instead of choosing a method: "fast" (lapstyle with a 128 px draft, about 0.1 s
            at 512 px on a 2-core CPU), "balanced" (lapstyle, about 0.16 s) or "best" (optimize at 512 px, about
            15 s). A method or option given as well overrides the preset's.
        size=512: long side of the output in pixels; sizes that cannot fit in memory are refused up front.
        strength: 0 = the photo, 1 = all style, 0.5 about halfway (content loss); default 1.0 for every method.
        style_weights=None: one weight per style to blend them (default: equal).
        masks=None: one mask per style (white = that style's region), same aspect ratio as the photo. Their
            edges are feathered and they are made to share every pixel: each region has its style at full
            strength, and a gap no mask covers takes the styles by their weights.
        feather=None: the masks' soft edge, a Gaussian sigma in px at the output (None: 1.2% of the long side,
            at least 2 px; 0: hard edges).
        preserve_color=None: keep the photo's colours: "luminance" (the painting's light and dark with the
            photo's colours) or "meancov" (the style recoloured to the photo's colour mean and covariance first).
        color_from=None: take the colours of this picture (e.g. another painting).
        style_scale=1.0: size of the style's strokes (2 = twice as big).
        seed=0: same seed, same picture.
        precision="auto": bf16 where the CPU computes it natively, else fp32 (or "bf16", "fp32").
        allow_huge=False: accept input images over 80 megapixels.
        backend="torch": or "onnxruntime" (method lapstyle, one style, no masks; needs the onnx extra):
            the same picture from the exported graphs, run by onnxruntime.
        callback=None: called with a `Progress` event as the method goes (previews, progress bars).

    Options of one method: see `brushwork.methods.lapstyle.Options` (draft_size=256, style_size=512, brush,
    tile, tile_above, palette, subject: how much the main object is spared, 0..1, finish: how far the finished
    picture's colours move onto the painting's palette, 0..1, clean_edges: how far the draft's finest detail along the
    photo's strong edges gives way to the photo's, 0..1, against halos, clean_colors: how far colours the painting
    has nothing like are pulled in to its nearest, 0..1), `brushwork.methods.attention.Options` (lapstyle's, plus
    max_keys), `brushwork.methods.optimize.Options` (loss_net, style_loss, optimizer, iterations, init,
    content_layer, tv_weight, content_weight, style_weight, clean_colors, ...) and `brushwork.methods.adain.Options`
    (style_size, tile, tile_above). An option the method does not have is an error naming the ones it has.
    Bad input raises `brushwork.BrushworkError` with a one-line message.
    """
    method, options = apply_quality(quality, method, options)
    if method not in _default:
        _default[method] = Stylizer(method, progress=progress)
    st = _default[method]
    st.progress = progress
    return st.stylize(content, style, method=method, **options)


def export(out_dir, format: str = "onnx", levels: int = 1, int8: bool | str = False, overwrite: bool = False,
           weights_dir: str | None = None, strength_input: bool = False, finish: float = 0.0,
           clean_edges: float = 1.0) -> dict:
    """Write the default pipeline as two ONNX graphs into out_dir: style_encoder.onnx (painting -> style vector)
    and painter.onnx (photo + style vector -> picture, dynamic height and width for photos whose long side is
    257-512 px at levels=1; each level more doubles it), with README.md and brushwork.json; int8 (True or
    "dynamic", or "static": calibrated on the built-in samples) adds painter_int8.onnx; strength_input gives the painter a strength input (else it paints at strength 1); finish
    (0..1) bakes lapstyle's `finish` step into the painter, clean_edges (0..1) its `clean_edges` step. An existing non-empty folder is refused unless
    overwrite. Returns {file: bytes}."""
    if format != "onnx":
        raise BrushworkError(f"unknown export format {format!r}; the one format is onnx")
    from .exports.onnx import export as export_onnx

    return export_onnx(out_dir, levels=levels, int8=int8, overwrite=overwrite, weights_dir=weights_dir,
                       strength_input=strength_input, finish=finish, clean_edges=clean_edges)
