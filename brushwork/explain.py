"""`explain`: where one point of a photo takes its style from, under the attention method, as a picture.

Panels: the photo with the point marked, the painting under a heat map of that point's attention, and the photo
with the main object (the saliency map the `subject` control spares) tinted.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from .api import check_source
from .core.images import load_image, resize_long_side, to_pil
from .errors import BrushworkError

PANEL = 384  # long side of each panel


def attention_map(content: torch.Tensor, style: torch.Tensor, at: tuple[float, float], draft_size: int = 256,
                  style_size: int = 512, depth: str = "relu3_1") -> torch.Tensor:
    """(h, w) attention of the photo's point `at` ((x, y) in the photo's pixels) over the painting's positions,
    as the attention method's draft sees them (photo at draft_size, painting at style_size); sums to 1.
    depth relu3_1 by default: its attention also moves relu2_1, so it decides where the colours come from."""
    from .core.encoder import shared_encoder
    from .methods import attention, lapstyle

    h, w = content.shape[-2:]
    x, y = at
    if not (0 <= x < w and 0 <= y < h):
        raise BrushworkError(f"point {x:g},{y:g} is outside the photo ({w} x {h} px)")
    model = attention.load_net(None, torch.float32)
    enc = shared_encoder("max", attention.encoder_padding(), torch.float32)
    with torch.no_grad():
        cf = lapstyle.features(enc, resize_long_side(content, draft_size), lapstyle.STYLE_TAPS)
        sf = lapstyle.features(enc, resize_long_side(style, style_size), lapstyle.STYLE_TAPS)
    return model.attn.heatmap(cf, sf, (x / w, y / h), depth)


def heat_overlay(img: torch.Tensor, heat: torch.Tensor, alpha: float = 0.6) -> Image.Image:
    """`img` darkened under a heat map (inferno colours, smoothed by a cell, square root of its share of the peak)
    of the same extent."""
    import matplotlib

    import cv2

    h, w = img.shape[-2:]
    spread = cv2.GaussianBlur(heat.float().numpy(), (0, 0), 1.0)  # a peak of a few cells stays visible
    up = F.interpolate(torch.from_numpy(spread)[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
    up = (up / up.max().clamp_min(1e-12)).sqrt().numpy()  # square root: the second places show too
    colours = matplotlib.colormaps["inferno"](up)[..., :3]
    base = img[0].permute(1, 2, 0).numpy()
    mix = (1 - alpha * up[..., None]) * base * 0.6 + alpha * up[..., None] * colours
    return Image.fromarray((mix.clip(0, 1) * 255).astype(np.uint8))


def explain(content, style, at: tuple[float, float], output=None, draft_size: int = 256,
            style_size: int = 512, overwrite: bool = False) -> Image.Image:
    """The explain picture for `content` (path, name, PIL image or array) and `style` at point `at` (x, y in the
    photo's pixels): photo with the point marked | painting with the heat map | photo with its main object tinted.
    Saved to `output` when given (written to a temporary name, then renamed)."""
    from .core.images import check_writable, save_image
    from .core.saliency import saliency

    if output is not None:
        check_writable(output, overwrite)  # before the work

    photo = load_image(check_source(content, "content"))
    painting = load_image(check_source(style, "style"))
    heat = attention_map(photo, painting, at, draft_size, style_size)

    small = resize_long_side(photo, PANEL)
    scale = small.shape[-1] / photo.shape[-1]
    left = to_pil(small)
    draw = ImageDraw.Draw(left)
    px, py, r = at[0] * scale, at[1] * scale, max(4, PANEL // 48)
    draw.ellipse((px - r, py - r, px + r, py + r), outline=(255, 255, 255), width=3)
    draw.ellipse((px - r - 2, py - r - 2, px + r + 2, py + r + 2), outline=(0, 0, 0), width=2)
    middle = heat_overlay(resize_long_side(painting, PANEL), heat)
    sal = saliency(small)[0, 0]
    right = heat_overlay(small, sal, alpha=0.5)

    panels = [left, middle, right]
    sheet = Image.new("RGB", (sum(p.width for p in panels) + 16 * 2, max(p.height for p in panels)), "white")
    x = 0
    for p in panels:
        sheet.paste(p, (x, 0))
        x += p.width + 16
    if output is not None:
        save_image(sheet, output, overwrite=overwrite)
    return sheet


POINT_COLOURS = ((255, 64, 64), (64, 200, 255), (255, 220, 40))
DEFAULT_POINTS = ((0.25, 0.35), (0.5, 0.65), (0.8, 0.3))  # as fractions of the photo's width and height


def explain_points(content, style, points=DEFAULT_POINTS, panel: int = 240) -> Image.Image:
    """A row for reports: the photo with a few points marked in colour, then the painting under each point's heat
    map (framed in that point's colour). points: (x, y) fractions of the photo's width and height."""
    photo = load_image(check_source(content, "content"))
    painting = load_image(check_source(style, "style"))
    h, w = photo.shape[-2:]
    small = resize_long_side(photo, panel)
    left = to_pil(small)
    draw = ImageDraw.Draw(left)
    r = max(4, panel // 40)
    tiles = [left]
    for (fx, fy), colour in zip(points, POINT_COLOURS):
        px, py = fx * left.width, fy * left.height
        draw.ellipse((px - r, py - r, px + r, py + r), outline=colour, width=3)
        heat = attention_map(photo, painting, (fx * w, fy * h))
        tile = heat_overlay(resize_long_side(painting, panel), heat)
        ImageDraw.Draw(tile).rectangle((0, 0, tile.width - 1, tile.height - 1), outline=colour, width=4)
        tiles.append(tile)
    row = Image.new("RGB", (sum(t.width for t in tiles) + 8 * (len(tiles) - 1), max(t.height for t in tiles)), "white")
    x = 0
    for t in tiles:
        row.paste(t, (x, 0))
        x += t.width + 8
    return row
