"""Image I/O: load anything common into float RGB tensors, resize by long side, save PNG/JPEG/TIFF (8 or 16 bit).

Tensors are (1, 3, H, W) float32 in [0, 1]. Loading honours EXIF orientation, flattens alpha onto white,
expands grayscale, keeps 16-bit precision, and refuses decompression bombs, truncated and non-image files.
"""
from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..errors import BrushworkError

MAX_PIXELS = 80_000_000
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"})
ImageFile.LOAD_TRUNCATED_IMAGES = False
_LIFT_LIMIT = threading.Lock()  # held while Pillow's global pixel limit is lifted for one trusted picture


def list_images(folder, what: str = "image") -> list[Path]:
    """The image files directly inside `folder`, sorted; a clear error if it is missing or has none."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise BrushworkError(f"{what} folder {folder} does not exist")
    if not folder.is_dir():
        raise BrushworkError(f"{what} folder {folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise BrushworkError(f"{what} folder {folder} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def _pil_to_array(im: Image.Image) -> np.ndarray:
    """PIL image of any mode -> float32 HxWx3 RGB in [0, 1], alpha flattened onto white."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float32) / (65535.0 if im.mode != "I" or np.asarray(im).max() > 255 else 255.0)
        return np.repeat(arr[..., None], 3, axis=2).clip(0, 1)
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float32)
        return np.repeat(arr[..., None], 3, axis=2).clip(0, 1)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        arr = np.asarray(im, dtype=np.float32) / 255.0
        alpha = arr[..., 3:4]
        return arr[..., :3] * alpha + (1.0 - alpha)
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def _read_16bit(path: Path) -> np.ndarray | None:
    """16-bit colour PNG/TIFF via OpenCV (Pillow reduces them to 8 bit); None if not such a file."""
    import cv2

    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if arr is None or arr.dtype != np.uint16:
        return None
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    elif arr.shape[2] == 4:
        rgba = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA).astype(np.float32) / 65535.0
        return rgba[..., :3] * rgba[..., 3:] + (1.0 - rgba[..., 3:])
    else:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    return arr.astype(np.float32) / 65535.0


def _open(path: Path, allow_huge: bool) -> Image.Image:
    """Image.open under Pillow's own decompression-bomb limit, which other threads (the server's upload check)
    rely on; only a picture over that limit that the caller trusts (allow_huge) is opened with the limit lifted,
    under a lock, so concurrent loads cannot leave it lifted."""
    try:
        return Image.open(path)
    except Image.DecompressionBombError:
        if not allow_huge:
            raise
    with _LIFT_LIMIT:
        old, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = old


def load_array(source, allow_huge: bool = False) -> np.ndarray:
    """Load a path, PIL image or numpy array as float32 HxWx3 RGB in [0, 1]."""
    if isinstance(source, np.ndarray):
        return array_to_rgb(source)
    if isinstance(source, Image.Image):
        return _pil_to_array(ImageOps.exif_transpose(source))
    if isinstance(source, torch.Tensor):
        t = source.detach().float()
        t = t[0] if t.dim() == 4 else t
        return t.permute(1, 2, 0).clamp(0, 1).numpy()
    path = Path(os.fspath(source)).expanduser()
    if not path.exists():
        raise BrushworkError(f"no such file: {path}")
    if path.is_dir():
        raise BrushworkError(f"{path} is a folder, not an image")
    if path.stat().st_size == 0:
        raise BrushworkError(f"{path} is empty (0 bytes), not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = _open(path, allow_huge)
            w, h = im.size
            if w * h > MAX_PIXELS and not allow_huge:
                raise BrushworkError(
                    f"{path} is {w}x{h} ({w * h / 1e6:.0f} MP), over the {MAX_PIXELS // 1_000_000} MP safety limit "
                    "against decompression bombs; pass --allow-huge if you trust it")
            if im.mode in ("I;16", "I;16B", "I;16L", "I") or path.suffix.lower() in (".png", ".tif", ".tiff"):
                arr16 = _read_16bit(path) if im.mode not in ("P", "1", "L", "LA") else None
                if arr16 is not None:
                    orient = im.getexif().get(0x0112, 1)
                    return _apply_orientation(arr16, orient)
            im.load()
            return _pil_to_array(ImageOps.exif_transpose(im))
    except Image.DecompressionBombError:
        raise BrushworkError(f"{path} is over the {MAX_PIXELS // 1_000_000} MP safety limit against decompression "
                             "bombs; pass --allow-huge if you trust it") from None
    except UnidentifiedImageError:
        raise BrushworkError(f"{path} is not an image file Brushwork can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise BrushworkError(f"{path} could not be read as an image ({exc}); is it truncated or damaged?") from None


def _apply_orientation(arr: np.ndarray, orient: int) -> np.ndarray:
    """Apply an EXIF orientation tag (1-8) to an HxWxC array."""
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, 1)[::-1],
           8: lambda a: np.rot90(a, 1)}
    return np.ascontiguousarray(ops[orient](arr)) if orient in ops else arr


FLOAT_SLACK = 0.05  # float arrays may overshoot [0, 1] this much (resampling ringing) and are clipped


def _check_float(arr: np.ndarray) -> np.ndarray:
    """A float image array as float32, refusing NaN/inf and values far outside [0, 1] (e.g. a 0..255 float array,
    which clipping would turn white) with a message that says what to do."""
    if arr.size == 0:
        raise BrushworkError(f"an image array must not be empty, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise BrushworkError("the image array contains NaN or infinite values")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -FLOAT_SLACK or hi > 1 + FLOAT_SLACK:
        scale = " (it looks like 0..255: divide by 255 or pass uint8)" if hi <= 255 + FLOAT_SLACK and lo >= 0 else ""
        raise BrushworkError(f"a {arr.dtype} image array must hold values in 0..1, this one spans {lo:g}..{hi:g}{scale}")
    return arr.astype(np.float32)


def array_to_rgb(arr: np.ndarray) -> np.ndarray:
    """Any numpy image (HxW, HxWx1/3/4; uint8, uint16, or float in [0, 1]) -> float32 HxWx3 in [0, 1].

    Float arrays outside 0..1 (beyond a little overshoot) and NaN/inf are refused rather than clipped.
    """
    arr = np.asarray(arr)
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        arr = arr.astype(np.float32) / 65535.0
    elif arr.dtype == bool:
        arr = arr.astype(np.float32)
    elif np.issubdtype(arr.dtype, np.number):
        arr = _check_float(arr)
    else:
        raise BrushworkError(f"an image array must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise BrushworkError(f"an image array must be HxW or HxWx(1|3|4), got shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[..., :3] * arr[..., 3:] + (1.0 - arr[..., 3:])
    return arr.clip(0, 1)


def to_tensor(arr: np.ndarray) -> torch.Tensor:
    """HxWx3 float array -> (1, 3, H, W) float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).unsqueeze(0).float().contiguous()


def to_array(t: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) tensor -> HxWx3 float32 array in [0, 1]."""
    return t.detach().float()[0].clamp(0, 1).permute(1, 2, 0).contiguous().numpy()


def to_pil(t: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) tensor -> 8-bit RGB PIL image."""
    return Image.fromarray((to_array(t) * 255.0 + 0.5).astype(np.uint8))


def load_image(source, size: int | None = None, allow_huge: bool = False) -> torch.Tensor:
    """Load an image as a (1, 3, H, W) tensor, optionally resized so its long side is `size`."""
    t = to_tensor(load_array(source, allow_huge=allow_huge))
    return resize_long_side(t, size) if size else t


def fit_size(h: int, w: int, long_side: int) -> tuple[int, int]:
    """(h, w) scaled so that the long side is `long_side`, aspect ratio kept."""
    scale = long_side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def resize(t: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Antialiased bicubic resize of a (N, C, H, W) tensor to (h, w)."""
    if tuple(t.shape[-2:]) == tuple(hw):
        return t
    return F.interpolate(t, size=hw, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)


def resize_long_side(t: torch.Tensor, long_side: int) -> torch.Tensor:
    """Resize so the long side is `long_side` (up or down)."""
    return resize(t, fit_size(t.shape[-2], t.shape[-1], long_side))


def mirror_pad(t: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """`t` extended on each side by mirror images of itself (edge pixels repeated, numpy's "symmetric"), to any
    width, even beyond the picture's own size: context for a network that cannot paint a picture this thin."""
    def index(n: int, before: int, after: int) -> torch.Tensor:
        i = torch.arange(-before, n + after) % (2 * n)
        return torch.where(i < n, i, 2 * n - 1 - i)

    h, w = t.shape[-2:]
    return t.index_select(-2, index(h, top, bottom)).index_select(-1, index(w, left, right))


def check_writable(path: str | Path, overwrite: bool = False, formats=None, kind: str = "output") -> Path:
    """Fail early, touching nothing, if `path` exists (without overwrite), has an unknown suffix (of `formats`,
    default the image formats) or can't be written."""
    path = Path(path).expanduser()
    formats = SAVE_FORMATS if formats is None else formats
    if path.suffix.lower() not in formats:
        raise BrushworkError(f"{path}: unknown {kind} format; use one of {', '.join(sorted(formats))}")
    if path.exists() and not overwrite:
        raise BrushworkError(f"{path} already exists; pass --overwrite to replace it")
    if path.is_dir():
        raise BrushworkError(f"{path} is a folder")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise BrushworkError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise BrushworkError(f"cannot write {path}: folder {parent} is not writable")
    return path


def save_image(image, path: str | Path, overwrite: bool = False, bits: int = 8, quality: int = 95) -> Path:
    """Save a tensor, array or PIL image as PNG/JPEG/TIFF/WebP; bits=16 for 16-bit PNG or TIFF."""
    path = check_writable(path, overwrite)
    fmt = SAVE_FORMATS[path.suffix.lower()]
    arr = load_array(image) if not isinstance(image, np.ndarray) else array_to_rgb(image)
    tmp = path.with_name(f".{path.name}.part{path.suffix}")
    try:
        if bits == 16:
            if fmt not in ("PNG", "TIFF"):
                raise BrushworkError("16-bit output needs a .png or .tif file")
            import cv2

            out16 = (arr * 65535.0 + 0.5).astype(np.uint16)
            if not cv2.imwrite(str(tmp), cv2.cvtColor(out16, cv2.COLOR_RGB2BGR)):
                raise BrushworkError(f"cannot write {path}")
        else:
            im = Image.fromarray((arr * 255.0 + 0.5).astype(np.uint8))
            kwargs = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
            im.save(tmp, format=fmt, **kwargs)
        tmp.replace(path)
    except OSError as exc:
        raise BrushworkError(f"cannot write {path} ({exc})") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
