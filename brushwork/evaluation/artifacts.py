"""Artifact measures: one number per flaw a viewer spots at a glance in a stylized picture.

Each measure is a plain function (result, photo, painting) -> float; the pictures are (1, 3, H, W) tensors or
HxWx3 float arrays in [0, 1]. The photo is taken at the result's height and width, the painting at the result's
long side with its own aspect ratio (its strokes at the result's scale). `measure_maps` also returns, per
measure, a per-pixel map of where the flaw is (higher = worse there), so a report can crop the worst places.

    foreign_colors   share of result pixels far (CIE Lab) from every colour of the painting    lower is better
    photo_colors     share of result pixels that keep the photo's colour where the painting    lower is better
                     has no colour like it (the result reads as a colour-graded photo)
    halos            light or dark bands beside the photo's strong edges in the result,        lower is better
                     beyond the photo's own, in units of the painting's band contrast at its edges
    border_bands     the outer 6 px strip against the strip next to it (Delta-E of their       lower is better
                     mean colours, beyond the photo's own), worst of the four borders
    blotches         share of the photo's textured area that the result paints as large         lower is better
                     smooth patches, weighted down by the painting's own share of such patches
    grid_energy      share of the result's high-pass energy in isolated spectral peaks the      lower is better
                     photo does not have (a periodic grid, crosshatch or regular grain)
    imprinted_edges  density of long strong result edges away from every photo edge, over the  lower is better
                     painting's own density of such edges (+0.02): the painting's shapes imprinted
    faces_kept       SSIM of luminance between result and photo inside the frontal faces       higher is better
                     found in the photo (NaN when it has none)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

VERSION = 1  # bump when a measure changes, so reports rescore their cached results
STRIP = 6  # px of the border strips
EDGE_REACH = 8  # px a halo may reach from an edge
COLOR_SIGMA = 1.5  # px of smoothing before colours are compared (tints, not single-pixel speckle)

# name -> (short label, direction, explanation) for reports: +1 = higher is better, -1 = lower is better
MEASURES = {
    "foreign_colors": ("foreign colours", -1, "share of result pixels more than ~10-20 Delta-E from every colour of "
                                              "the painting"),
    "photo_colors": ("photo colours kept", -1, "share of result pixels that keep the photo's colour there although "
                                               "the painting has no colour like it"),
    "halos": ("halos", -1, "light or dark bands beside the photo's strong edges beyond the photo's own, relative to "
                           "the painting's band contrast at its own edges"),
    "border_bands": ("border bands", -1, "Delta-E between the mean colours of the outer 6 px strip and the strip next "
                                         "to it, beyond the photo's own; worst border"),
    "blotches": ("blotches", -1, "share of the photo's textured area painted as large smooth patches, times the "
                                 "share of the painting that is not such a patch"),
    "grid_energy": ("grid energy", -1, "share of the result's high-pass energy in isolated spectral peaks the photo "
                                       "does not have (periodic grid, crosshatch)"),
    "imprinted_edges": ("imprinted edges", -1, "density of long strong result edges away from the photo's edges, over "
                                               "the painting's own density of long strong edges (+0.02)"),
    "faces_kept": ("faces kept", +1, "SSIM of luminance with the photo inside the frontal faces found in the photo "
                                     "(blank when none)"),
}


@dataclass
class Views:
    """The three pictures at the result's scale, in the forms the measures share (computed once)."""
    result: np.ndarray  # HxWx3 float32 RGB
    photo: np.ndarray  # HxWx3, the result's height and width
    painting: np.ndarray  # the result's long side, own aspect
    result_lab: np.ndarray
    photo_lab: np.ndarray
    painting_lab: np.ndarray
    cache: dict = field(default_factory=dict)  # intermediate maps more than one measure uses


def _array(img) -> np.ndarray:
    """HxWx3 float32 in [0, 1] from a (1, 3, H, W) tensor or an HxWx3 array (uint8 arrays are scaled)."""
    if hasattr(img, "detach"):
        from ..core.images import to_array

        return to_array(img)
    arr = np.asarray(img)
    arr = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 picture, got shape {arr.shape}")
    return np.clip(arr, 0.0, 1.0)


def _resize(arr: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    import cv2

    if arr.shape[:2] == tuple(hw):
        return arr
    shrink = hw[0] * hw[1] < arr.shape[0] * arr.shape[1]
    return cv2.resize(arr, (hw[1], hw[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC).clip(0, 1)


def _lab(arr: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2lab

    return rgb2lab(arr).astype(np.float32)


def views(result, photo, painting) -> Views:
    """The pictures as arrays at the result's scale, plus their Lab forms."""
    r, p, s = _array(result), _array(photo), _array(painting)
    h, w = r.shape[:2]
    p = _resize(p, (h, w))
    k = max(h, w) / max(s.shape[:2])
    s = _resize(s, (max(1, round(s.shape[0] * k)), max(1, round(s.shape[1] * k))))
    return Views(r, p, s, _lab(r), _lab(p), _lab(s))


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below lo, 1 above hi, linear between: a soft threshold, so numbers move smoothly."""
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def _gauss(x: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(x.astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def _local_std(x: np.ndarray, win: int) -> np.ndarray:
    """Standard deviation of x (HxW or HxWxC, summed over channels) in a win x win box."""
    import cv2

    x = x.astype(np.float32)
    m = cv2.blur(x, (win, win), borderType=cv2.BORDER_REFLECT)
    m2 = cv2.blur(x * x, (win, win), borderType=cv2.BORDER_REFLECT)
    var = np.maximum(m2 - m * m, 0)
    return np.sqrt(var.sum(-1) if var.ndim == 3 else var)


def _gray8(lab: np.ndarray) -> np.ndarray:
    """L* as uint8 (0-255) for OpenCV's edge detector."""
    return np.clip(lab[..., 0] * 2.55, 0, 255).astype(np.uint8)


def _photo_edges(lab: np.ndarray) -> np.ndarray:
    """The photo's strong edges (Canny on lightly smoothed L*, thresholds at its 80th and 92nd gradient percentiles)."""
    import cv2

    g = cv2.GaussianBlur(_gray8(lab), (0, 0), 1.2)
    gx, gy = cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)
    mag = np.hypot(gx, gy)
    lo, hi = np.percentile(mag, (80, 92))
    hi = max(hi, 40.0)  # a flat photo has no strong edges at all
    return cv2.Canny(g, max(lo, hi / 2), hi, L2gradient=True) > 0


def _strong_edges(lab: np.ndarray, lo: float = 60.0, hi: float = 120.0) -> np.ndarray:
    """Thin edges whose L* step is strong in absolute terms (Canny on 8-bit L*, whose 3x3 Sobel gives 4x a step:
    120 ~ a 12 L* step)."""
    import cv2

    g = cv2.GaussianBlur(_gray8(lab), (0, 0), 1.0)
    return cv2.Canny(g, lo, hi, L2gradient=True) > 0


def _palette_distance(v: Views, samples: int = 12000, sigma: float = COLOR_SIGMA) -> np.ndarray:
    """Per result pixel: Delta-E (CIE76) to the nearest of up to `samples` painting pixels (a fixed draw), both
    pictures' Lab lightly smoothed first: tints over a few pixels count, single-pixel colour speckle does not."""
    from scipy.spatial import cKDTree

    if ("palette", samples, sigma) in v.cache:
        return v.cache[("palette", samples, sigma)]
    pal = _gauss(v.painting_lab, sigma).reshape(-1, 3)
    if len(pal) > samples:
        pal = pal[np.random.default_rng(0).choice(len(pal), samples, replace=False)]
    tree = cKDTree(pal)
    q = np.round(_gauss(v.result_lab, sigma).reshape(-1, 3)).astype(np.int64) + 256  # a 1 Delta-E grid
    keys = (q[:, 0] * 1024 + q[:, 1]) * 1024 + q[:, 2]
    uniq, first, inv = np.unique(keys, return_index=True, return_inverse=True)  # each distinct colour queried once
    d, _ = tree.query((q[first] - 256).astype(np.float32), k=1)
    v.cache[("palette", samples, sigma)] = out = d[inv.ravel()].reshape(v.result_lab.shape[:2]).astype(np.float32)
    return out


# ---- the measures (each: Views -> (value, per-pixel map)) ---------------------------------------------------

def _foreign_colors(v: Views):
    far = _ramp(_palette_distance(v), 10.0, 20.0)
    return float(far.mean()), far


def _photo_colors(v: Views):
    far = _ramp(_palette_distance(v), 10.0, 20.0)
    diff = _gauss(v.result_lab, COLOR_SIGMA) - _gauss(v.photo_lab, COLOR_SIGMA)
    near_photo = 1.0 - _ramp(np.linalg.norm(diff, axis=-1), 6.0, 12.0)
    kept = far * near_photo
    return float(kept.mean()), kept


def _profiles(lum: np.ndarray, edges: np.ndarray, reach: int):
    """Where to sample along the normal of each edge pixel: x and y maps (N, 2 * reach + 1) running from the darker
    side (t < 0) to the brighter side of `lum`'s own gradient, and the edge pixels' y and x. Pixels nearer a border
    than `reach` are left out (the border measure looks there)."""
    import cv2

    h, w = lum.shape
    g = _gauss(lum, 1.0)
    gx, gy = cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)
    ys, xs = np.nonzero(edges)
    keep = (ys >= reach) & (ys < h - reach) & (xs >= reach) & (xs < w - reach)
    ys, xs = ys[keep], xs[keep]
    nx, ny = gx[ys, xs], gy[ys, xs]
    norm = np.hypot(nx, ny) + 1e-6
    nx, ny = nx / norm, ny / norm
    t = np.arange(-reach, reach + 1, dtype=np.float32)
    mx = (xs[:, None] + nx[:, None] * t).astype(np.float32)
    my = (ys[:, None] + ny[:, None] * t).astype(np.float32)
    return mx, my, ys, xs


def _sample(img: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    """img read (bilinear) at the points of the maps."""
    import cv2

    img, out = img.astype(np.float32), np.zeros(mx.shape, np.float32)
    for i in range(0, len(mx), 16384):  # remap's maps must stay under 32767 rows
        out[i:i + 16384] = cv2.remap(img, mx[i:i + 16384], my[i:i + 16384], cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT)
    return out


def _band_contrast(prof: np.ndarray, reach: int) -> np.ndarray:
    """Per profile: |mean of the band 2..reach/2 px from the edge - mean of the band beyond|, summed over both sides."""
    c, half = reach, reach // 2
    out = np.zeros(len(prof), np.float32)
    for sign in (-1, 1):
        near = prof[:, [c + sign * k for k in range(2, half + 1)]].mean(1)
        far = prof[:, [c + sign * k for k in range(half + 1, reach + 1)]].mean(1)
        out += np.abs(near - far)
    return out


def _halos(v: Views, reach: int = EDGE_REACH):
    h, w = v.result.shape[:2]
    lr, lp = v.result_lab[..., 0], v.photo_lab[..., 0]
    mx, my, ys, xs = _profiles(lp, _photo_edges(v.photo_lab), reach)
    excess = np.maximum(_band_contrast(_sample(lr, mx, my), reach) - _band_contrast(_sample(lp, mx, my), reach), 0)
    pmx, pmy, _, _ = _profiles(v.painting_lab[..., 0], _photo_edges(v.painting_lab), reach)
    own = _band_contrast(_sample(v.painting_lab[..., 0], pmx, pmy), reach)
    scale = max(float(own.mean()) if own.size else 0.0, 2.0)  # L* units; a painting without edges: 2 L*
    where = np.zeros((h, w), np.float32)
    where[ys, xs] = excess / scale
    value = float(excess.mean() / scale) if excess.size else 0.0
    return value, _gauss(where, 3.0)


def _border_profiles(lab: np.ndarray, strip: int = STRIP):
    """Per border (top, bottom, left, right): the outer strip's and the next strip's mean colour at each
    position along the border, (L, 3) each."""
    sides = {"top": lab, "bottom": lab[::-1], "left": lab.transpose(1, 0, 2), "right": lab.transpose(1, 0, 2)[::-1]}
    return {k: (a[:strip].mean(0), a[strip:2 * strip].mean(0)) for k, a in sides.items()}


def _border_bands(v: Views, strip: int = STRIP):
    h, w = v.result.shape[:2]
    if min(h, w) < 4 * strip:
        return 0.0, np.zeros((h, w), np.float32)
    res, pho = _border_profiles(v.result_lab, strip), _border_profiles(v.photo_lab, strip)
    where = np.zeros((h, w), np.float32)
    worst = 0.0
    for side in res:
        d = res[side][0] - res[side][1]
        band = float(np.linalg.norm(d.mean(0)) - np.linalg.norm((pho[side][0] - pho[side][1]).mean(0)))
        worst = max(worst, band)
        k = max(3, len(d) // 8) | 1
        local = np.linalg.norm(np.stack([np.convolve(d[:, c], np.ones(k) / k, mode="same") for c in range(3)], 1), axis=1)
        local = local * max(band, 0) / (local.mean() + 1e-6)
        if side == "top":
            where[:strip] = np.maximum(where[:strip], local[None])
        elif side == "bottom":
            where[-strip:] = np.maximum(where[-strip:], local[None])
        elif side == "left":
            where[:, :strip] = np.maximum(where[:, :strip], local[:, None])
        else:
            where[:, -strip:] = np.maximum(where[:, -strip:], local[:, None])
    return max(worst, 0.0), where


def _smooth_patches(lab: np.ndarray, min_area: int, win: int = 9, flat: float = 2.0) -> np.ndarray:
    """Pixels in connected smooth areas (local Lab std below `flat` Delta-E) of at least `min_area` pixels."""
    import cv2

    smooth = (_local_std(lab, win) < flat).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(smooth, connectivity=4)
    big = np.zeros(n, bool)
    big[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    return big[labels]


def _blotches(v: Views, win: int = 9):
    h, w = v.result.shape[:2]
    min_area = max(64, (h * w) // 400)
    textured = _local_std(v.photo_lab, win) > 8.0  # the photo has texture or an edge within win / 2 px
    lost = _smooth_patches(v.result_lab, min_area, win) & textured
    ph, pw = v.painting.shape[:2]
    painting_share = float(_smooth_patches(v.painting_lab, max(64, (ph * pw) // 400), win).mean())
    share = float(lost.sum() / max(textured.sum(), 1))
    return share * (1.0 - painting_share), lost.astype(np.float32)


def _highpass_spectrum(lum: np.ndarray) -> np.ndarray:
    """Power spectrum of the Hann-windowed high-pass of `lum` (fftshifted)."""
    hp = lum - _gauss(lum, 2.0)
    win = np.outer(np.hanning(lum.shape[0]), np.hanning(lum.shape[1])).astype(np.float32)
    return np.abs(np.fft.fftshift(np.fft.fft2(hp * win))) ** 2


def _spectral_peaks(power: np.ndarray, ratio: float = 12.0) -> np.ndarray:
    """Bins standing `ratio` times above the geometric mean of their 9 x 9 neighbourhood (isolated peaks), off the
    centre (the low frequencies every picture has)."""
    import cv2

    logp = np.log(power + 1e-12).astype(np.float32)
    base = cv2.blur(logp, (9, 9), borderType=cv2.BORDER_REFLECT)
    peaks = logp - base > math.log(ratio)
    h, w = power.shape
    yy, xx = np.ogrid[:h, :w]
    peaks &= ((yy - h // 2) / (h / 2)) ** 2 + ((xx - w // 2) / (w / 2)) ** 2 > 0.03 ** 2
    return peaks


def _grid_energy(v: Views):
    from scipy.ndimage import binary_dilation

    lr, lp = v.result_lab[..., 0] / 100.0, v.photo_lab[..., 0] / 100.0
    pr, pp = _highpass_spectrum(lr), _highpass_spectrum(lp)
    own = _spectral_peaks(pr) & ~binary_dilation(_spectral_peaks(pp), iterations=2)
    value = float(pr[own].sum() / (pr.sum() + 1e-12))
    # where the periodic part is: the high-pass filtered to the peak bins, its local amplitude
    hp = lr - _gauss(lr, 2.0)
    f = np.fft.fftshift(np.fft.fft2(hp))
    periodic = np.real(np.fft.ifft2(np.fft.ifftshift(np.where(own, f, 0))))
    return value, np.sqrt(_gauss(periodic.astype(np.float32) ** 2, 6.0))


def _long_edges(lab: np.ndarray, min_len: int) -> np.ndarray:
    """Strong thin edges (a step of ~6-12 L* or more) in connected runs of at least `min_len` pixels: outlines of
    shapes rather than the short marks of brush strokes."""
    import cv2

    e = _strong_edges(lab).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(e, connectivity=8)
    long = np.zeros(n, bool)
    long[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_len
    return long[labels]


def _imprinted_edges(v: Views, reach: int = 4):
    import cv2

    h, w = v.result.shape[:2]
    min_len = max(12, max(h, w) // 16)
    near_photo = cv2.dilate(_photo_edges(v.photo_lab).astype(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8)) > 0
    stray = _long_edges(v.result_lab, min_len) & ~near_photo
    painting_density = float(_long_edges(v.painting_lab, min_len).mean())
    density = float(stray.sum() / max((~near_photo).sum(), 1))
    return density / (painting_density + 0.02), _gauss(stray.astype(np.float32), 4.0)


@lru_cache(maxsize=1)
def _face_detector():
    """OpenCV's bundled frontal-face Haar cascade where this OpenCV has one (4.x), else OpenCV's frontal-face
    LBP cascade as bundled and run by scikit-image (OpenCV 5 ships no cascades)."""
    import cv2

    if hasattr(cv2, "CascadeClassifier") and getattr(getattr(cv2, "data", None), "haarcascades", None):
        import os

        path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
        if os.path.isfile(path):
            cascade = cv2.CascadeClassifier(path)

            def haar(rgb: np.ndarray, min_side: int):
                g = cv2.equalizeHist(cv2.cvtColor((rgb * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY))
                return [tuple(map(int, b)) for b in cascade.detectMultiScale(g, 1.1, 5, minSize=(min_side, min_side))]

            return haar
    from skimage import data
    from skimage.feature import Cascade

    cascade = Cascade(data.lbp_frontal_face_cascade_filename())

    def lbp(rgb: np.ndarray, min_side: int):
        found = cascade.detect_multi_scale(img=rgb, scale_factor=1.2, step_ratio=1, min_size=(min_side, min_side),
                                           max_size=rgb.shape[:2], min_neighbor_number=4)
        return [(int(d["c"]), int(d["r"]), int(d["width"]), int(d["height"])) for d in found]

    return lbp


def faces(photo, side: int = 320) -> list[tuple[int, int, int, int]]:
    """Frontal faces in the photo as (x, y, w, h) boxes in its pixels (searched at `side` px long side)."""
    arr = _array(photo)
    k = min(side / max(arr.shape[:2]), 1.0)
    small = _resize(arr, (max(1, round(arr.shape[0] * k)), max(1, round(arr.shape[1] * k))))
    boxes = _faces_in(small.tobytes(), small.shape)
    return [(round(x / k), round(y / k), round(w / k), round(h / k)) for x, y, w, h in boxes]


@lru_cache(maxsize=32)
def _faces_in(pixels: bytes, shape: tuple) -> tuple:
    """Face boxes of one small picture, remembered: an evaluation measures each photo against many results."""
    small = np.frombuffer(pixels, np.float32).reshape(shape)
    return tuple(_face_detector()(small, max(20, max(shape[:2]) // 16)))


def _faces_kept(v: Views, boxes=None):
    from skimage.metrics import structural_similarity

    h, w = v.result.shape[:2]
    boxes = faces(v.photo) if boxes is None else boxes
    where = np.zeros((h, w), np.float32)
    if not boxes:
        return math.nan, where
    lr, lp = v.result_lab[..., 0] / 100.0, v.photo_lab[..., 0] / 100.0
    _, smap = structural_similarity(lp, lr, data_range=1.0, gaussian_weights=True, sigma=1.5, full=True)
    total, area = 0.0, 0
    for x, y, bw, bh in boxes:
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + bw, w), min(y + bh, h)
        if x1 <= x0 or y1 <= y0:
            continue
        total += float(smap[y0:y1, x0:x1].sum())
        area += (x1 - x0) * (y1 - y0)
        where[y0:y1, x0:x1] = 1.0 - smap[y0:y1, x0:x1]
    return (total / area if area else math.nan), where


_IMPL = {"foreign_colors": _foreign_colors, "photo_colors": _photo_colors, "halos": _halos,
         "border_bands": _border_bands, "blotches": _blotches, "grid_energy": _grid_energy,
         "imprinted_edges": _imprinted_edges, "faces_kept": _faces_kept}


# ---- the public functions -------------------------------------------------------------------------------------

def _measure(name: str, doc: str):
    """The public function of one measure: its value for (result, photo, painting), any of the accepted forms."""
    def measure(result, photo, painting) -> float:
        return _IMPL[name](views(result, photo, painting))[0]

    measure.__name__ = measure.__qualname__ = name
    measure.__doc__ = doc
    return measure


foreign_colors = _measure("foreign_colors", "Share of result pixels far from every colour of the painting (soft: 0 at "
                                            "10 Delta-E, 1 from 20). Lower is better.")
photo_colors = _measure("photo_colors", "Share of result pixels within ~6-12 Delta-E of the photo's colour there and "
                                        "far from every painting colour.")
halos = _measure("halos", "Band contrast beside the photo's strong edges in the result beyond the photo's own, over "
                          "the painting's.")
border_bands = _measure("border_bands", "Worst border's Delta-E between its outer 6 px strip and the next strip (mean "
                                        "colours), beyond the photo's.")
blotches = _measure("blotches", "Share of the photo's textured area painted as large smooth patches, times the "
                                "painting's non-patch share.")
grid_energy = _measure("grid_energy", "Share of the result's high-pass spectral energy in isolated peaks the photo's "
                                      "spectrum does not have.")
imprinted_edges = _measure("imprinted_edges", "Density of long strong result edges more than 4 px from any photo edge, "
                                              "over the painting's own (+0.02).")


def faces_kept(result, photo, painting=None) -> float:
    """Mean luminance SSIM of result and photo inside the photo's frontal faces; NaN when none is found."""
    arr = _array(result)
    return _faces_kept(views(arr, photo, arr if painting is None else painting))[0]


def measure_maps(result, photo, painting, names=None) -> dict[str, tuple[float, np.ndarray]]:
    """{name: (value, HxW map of where the flaw is, higher = worse)} for the named measures (default: all)."""
    v = views(result, photo, painting)
    return {n: _IMPL[n](v) for n in (names or MEASURES)}


def all_artifacts(result, photo, painting) -> dict[str, float]:
    """Every artifact measure as a flat dict (NaN for faces_kept when the photo shows no face)."""
    return {n: value for n, (value, _) in measure_maps(result, photo, painting).items()}


def crop_side(hw) -> int:
    """Side of the square crop a report shows around a flaw: a quarter of the picture's short side, 48 px at least."""
    return int(min(min(hw), max(48, min(hw) // 4)))


def worst_place(where: np.ndarray, crop: int) -> tuple[int, int]:
    """(y, x) centre of the crop x crop window where the map is highest (where the flaw is worst)."""
    import cv2

    h, w = where.shape
    k = max(1, min(crop, h, w))
    m = cv2.blur(where.astype(np.float32), (k, k), borderType=cv2.BORDER_CONSTANT)
    half = k // 2
    y, x = np.unravel_index(int(np.argmax(m)), m.shape)
    return int(np.clip(y, half, h - k + half)), int(np.clip(x, half, w - k + half))
