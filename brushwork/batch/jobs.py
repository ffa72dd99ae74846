"""Plan the batch: one job per (input, style or style blend), each with its own output path in OUTDIR."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from .inputs import Source


@dataclass
class Job:
    """One unit of work: paint `input` with `styles` into `output`; `planned` is the output's identity at planning."""
    input: str
    output: str
    kind: str
    styles: list[str]
    planned: tuple[int, int] | None = None  # (inode, mtime_ns) of an output --overwrite will replace; None if absent
    attempt: int = 1
    extra: dict = field(default_factory=dict)


def style_tag(style: str) -> str:
    """A short name for a style in file names: a built-in name or the style file's stem."""
    return Path(str(style)).stem


def identity(path: Path) -> tuple[int, int] | None:
    """(inode, mtime_ns) of a file, or None: tells a file an earlier attempt renamed into place from the one planned."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def plan(sources: list[Source], outdir: Path, styles: list[str], styles_grid: bool, image_format: str) -> list[Job]:
    """Jobs in input order; with `styles_grid` one per style, else one blending all styles.

    Output: OUTDIR/<subfolder>/<stem>-<style>.<format> (videos: .mp4); clashing names get a hash of the input path.
    """
    style_sets = [[s] for s in styles] if styles_grid else [list(styles)]
    jobs, taken = [], set()
    for src in sources:
        suffix = ".mp4" if src.kind == "video" else "." + image_format.lstrip(".")
        for group in style_sets:
            name = f"{src.path.stem}-{'+'.join(style_tag(s) for s in group)}"
            out = outdir / src.subdir / (name + suffix)
            if out in taken:
                tag = hashlib.sha1(str(src.path.resolve()).encode()).hexdigest()[:6]
                out = outdir / src.subdir / f"{name}-{tag}{suffix}"
            taken.add(out)
            jobs.append(Job(str(src.path), str(out), src.kind, group))
    return jobs
