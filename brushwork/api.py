"""The Python API: `stylize(content, style, method=..., **options)` and the reusable `Stylizer`.

Data flows one way: images in -> tensors -> method (encoder features inside) -> tensor -> image out.
The CLI and any other front end are thin layers over this module.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
from pathlib import Path

import torch
from PIL import Image

from . import color, gallery
from .brush import is_brush, load_brush
from .errors import BrushworkError
from .images import load_array, load_image, resize, resize_long_side, to_pil, to_tensor

METHODS = {"optimize": "brushwork.methods.optimize", "adain": "brushwork.methods.adain",
           "lapstyle": "brushwork.methods.lapstyle"}
DEFAULT_METHOD = "lapstyle"
MAX_STYLE_SIDE = 2048  # style images are never needed larger than this


def method_module(name: str):
    """The module implementing a method (each has `Options` and `stylize`)."""
    if name not in METHODS:
        raise BrushworkError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return importlib.import_module(METHODS[name])


def _key(t: torch.Tensor) -> str:
    """A content hash of a tensor: the cache key of a style image."""
    return hashlib.sha1(t.numpy().tobytes()).hexdigest()[:16]


def load_mask(source, allow_huge: bool = False) -> torch.Tensor:
    """A mask image as a (1, 1, H, W) tensor in [0, 1] (white = this style's region)."""
    return to_tensor(load_array(gallery.resolve(source), allow_huge)).mean(1, keepdim=True)


class Stylizer:
    """Loads the encoder once, caches style statistics per style image, and stylizes many pictures."""

    def __init__(self, method: str = DEFAULT_METHOD, progress: bool = True):
        method_module(method)
        self.method = method
        self.progress = progress
        self.cache: dict = {}
        self._styles: dict = {}

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
                       callback=None, **options) -> torch.Tensor:
        """Like `stylize`, returning a (1, 3, H, W) float tensor in [0, 1]."""
        method = method or self.method
        mod = method_module(method)
        styles = style if isinstance(style, (list, tuple)) else [style]
        if not styles:
            raise BrushworkError("give at least one style")
        if style_weights is not None:
            style_weights = [float(w) for w in style_weights]
            if len(style_weights) != len(styles):
                raise BrushworkError(f"{len(style_weights)} style weights for {len(styles)} styles; give one per style")
            if any(w < 0 for w in style_weights) or sum(style_weights) <= 0:
                raise BrushworkError("style weights must be non-negative and not all zero")
        if masks is not None and len(masks) != len(styles):
            raise BrushworkError(f"{len(masks)} masks for {len(styles)} styles; give one mask per style")
        preserve_color = color.check_mode(preserve_color)
        brushes = [str(gallery.resolve(s)) for s in styles if is_brush(gallery.resolve(s))]
        if brushes and method == "lapstyle":
            options.setdefault("brush", brushes[0])  # a learned style brings its fine-tuned networks
        opts = self.options(method, **options)
        content_t = load_image(gallery.resolve(content), allow_huge=allow_huge)
        content_t = resize_long_side(content_t, opts.size)
        loaded = [self._style(s, allow_huge) for s in styles]
        style_ts, keys = [t for t, _ in loaded], [k for _, k in loaded]
        if preserve_color == "histogram":
            style_ts = [color.match_color(s, content_t) for s in style_ts]
            keys = [f"{k}:match:{_key(content_t)}" for k in keys]
        mask_ts = None
        if masks is not None:
            mask_ts = [resize(load_mask(m, allow_huge), tuple(content_t.shape[-2:])) for m in masks]
        out = mod.stylize(content_t, style_ts, style_weights, mask_ts, opts, cache=self.cache, style_keys=keys,
                          progress=self.progress, callback=callback)
        if color_from is not None:
            out = color.match_color(out, load_image(gallery.resolve(color_from), size=512, allow_huge=allow_huge))
        if preserve_color == "luminance":
            out = color.preserve_luminance(out, content_t)
        return out

    def stylize(self, content, style, **kwargs) -> Image.Image:
        """Paint `content` in the style of `style` (a path, built-in name, PIL image or array; or a list).

        Options: method, size, strength in [0, 1], style_weights, masks (one per style), preserve_color
        ('luminance' or 'histogram'), color_from (take the colours of another picture), seed, and
        method-specific ones (see each method's Options).
        """
        return to_pil(self.stylize_tensor(content, style, **kwargs))


_default: dict[str, Stylizer] = {}


def stylize(content, style, method: str = DEFAULT_METHOD, progress: bool = False, **options) -> Image.Image:
    """One-call style transfer; reuses a module-level Stylizer so repeated calls share caches."""
    if method not in _default:
        _default[method] = Stylizer(method, progress=progress)
    st = _default[method]
    st.progress = progress
    return st.stylize(content, style, method=method, **options)
