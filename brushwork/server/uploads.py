"""Uploaded files, checked by content: size limits (413), image type sniffed by Pillow, decompression-bomb guard.

The server never takes a path from a client: every picture arrives as bytes and is decoded here. Images are
shrunk on arrival to the size they will be used at, so queued work holds little memory.
"""
from __future__ import annotations

import io
import threading
import warnings

from fastapi import HTTPException, UploadFile
from PIL import Image, ImageOps, UnidentifiedImageError

from ..core.images import MAX_PIXELS

IMAGE_FORMATS = {"PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"}
VIDEO_SIGNATURES = {b"ftyp": "video/mp4", b"\x1aE\xdf\xa3": "video/webm", b"RIFF": "video/x-msvideo"}


class UploadBudget:
    """Bytes of request bodies on their way in at once, over all requests: the form parser spools uploads to
    disk, so this bounds the disk they can take (each request takes its share and gives it back when done)."""

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0
        self.lock = threading.Lock()

    def take(self, n: int) -> bool:
        """Reserve n bytes; False (nothing taken) when that would go over the limit."""
        with self.lock:
            if self.used + n > self.limit:
                return False
            self.used += n
            return True

    def give(self, n: int) -> None:
        """Return n bytes taken before."""
        with self.lock:
            self.used = max(0, self.used - n)


def check_size(upload: UploadFile, limit: int, what: str) -> None:
    """413 if the file is over `limit` bytes."""
    size = upload.size if upload.size is not None else len(upload.file.read())
    upload.file.seek(0)
    if size > limit:
        raise HTTPException(413, f"{what} is {size / 2**20:.1f} MB, over the {limit // 2**20} MB limit")
    if size == 0:
        raise HTTPException(400, f"{what} is empty")


def read_image(upload: UploadFile, limit: int, what: str, long_side: int | None = None) -> Image.Image:
    """An uploaded picture as an RGB(A) PIL image (EXIF orientation applied), at most `long_side` px long."""
    check_size(upload, limit, what)
    data = upload.file.read()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            if im.format not in IMAGE_FORMATS:
                raise HTTPException(415, f"{what} is a {im.format} file; send PNG, JPEG, WebP, GIF, BMP or TIFF")
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise HTTPException(413, f"{what} is {w}x{h} pixels, over the {MAX_PIXELS // 10**6} MP limit")
            if long_side and im.format == "JPEG":
                im.draft("RGB", (long_side, long_side))  # decode JPEGs at a reduced scale when that is enough
            im = ImageOps.exif_transpose(im)
            im.load()
    except HTTPException:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise HTTPException(413, f"{what} has too many pixels (decompression-bomb guard)") from None
    except UnidentifiedImageError:
        raise HTTPException(415, f"{what} is not an image (sniffed by content; send PNG, JPEG or WebP)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise HTTPException(400, f"{what} could not be decoded ({exc}); is it truncated or damaged?") from None
    if im.mode not in ("RGB", "RGBA", "L", "LA"):
        im = im.convert("RGBA" if "transparency" in im.info or im.mode in ("PA", "P") else "RGB")
    if long_side and max(im.size) > long_side:
        im.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
    return im


def sniff_video(upload: UploadFile, limit: int) -> str:
    """The media type of an uploaded video, from its first bytes (MP4/MOV, WebM/MKV, AVI); 415 otherwise."""
    check_size(upload, limit, "video")
    head = upload.file.read(16)
    upload.file.seek(0)
    for sig, media in VIDEO_SIGNATURES.items():
        if (sig == b"ftyp" and head[4:8] == sig) or head.startswith(sig):
            return media
    raise HTTPException(415, "video is not an MP4, MOV, WebM or AVI file (sniffed by content)")
