"""Expand batch inputs (files, folders, glob patterns) into a de-duplicated, ordered list of sources."""
from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

from ..core.images import IMAGE_SUFFIXES
from ..errors import BrushworkError

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"}


@dataclass(frozen=True)
class Source:
    """One input file; `subdir` is its folder relative to the folder it was found in (kept in OUTDIR)."""
    path: Path
    subdir: Path
    kind: str  # "image" or "video"


def kind_of(path: Path) -> str:
    """'video' by suffix, else 'image' (a file that is neither fails when read and is recorded as failed)."""
    return "video" if path.suffix.lower() in VIDEO_SUFFIXES else "image"


def _media(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES


def expand(inputs: list[str], recursive: bool = False) -> list[Source]:
    """Sources for INPUT...: a file as given, a folder's images and videos (all levels with `recursive`), a glob."""
    found: dict[Path, Source] = {}
    for raw in inputs:
        p = Path(raw).expanduser()
        if p.is_dir():
            files = sorted(p.rglob("*") if recursive else p.iterdir())
            batch = [Source(f, f.parent.relative_to(p), kind_of(f)) for f in files if _media(f)]
        elif p.exists():
            batch = [Source(p, Path("."), kind_of(p))]
        elif glob.has_magic(raw):
            batch = [Source(Path(f), Path("."), kind_of(Path(f)))
                     for f in sorted(glob.glob(str(p), recursive=recursive)) if _media(Path(f))]
            if not batch:
                raise BrushworkError(f"no images or videos match {raw!r}")
        else:
            raise BrushworkError(f"no such file or folder: {raw}")
        for s in batch:
            found.setdefault(s.path.resolve(), s)
    if not found:
        raise BrushworkError(f"no images or videos found in {', '.join(inputs)}")
    return list(found.values())
