"""Built-in public-domain styles and sample photos shipped as package data, usable by name."""
from __future__ import annotations

import csv
import difflib
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "assets" / "data"


@lru_cache(maxsize=None)
def _table(folder: str, index: str) -> dict[str, dict]:
    with open(DATA / folder / index, newline="") as fh:
        return {row["name"]: row for row in csv.DictReader(fh, delimiter="\t")}


def styles() -> dict[str, dict]:
    """name -> {'title', 'path'} of every built-in style."""
    return {n: {**r, "path": DATA / "styles" / f"{n}.jpg"} for n, r in _table("styles", "STYLES.tsv").items()}


def samples() -> dict[str, Path]:
    """name -> path of every sample photo."""
    return {n: DATA / "samples" / f"{n}.jpg" for n in _table("samples", "SAMPLES.tsv")}


def resolve(ref):
    """A path for a built-in style or sample name (e.g. 'starry-night', 'sample:tubingen'); else ref unchanged."""
    if not isinstance(ref, str) or Path(ref).exists():
        return ref
    name = ref.removeprefix("sample:")
    if ref in styles():
        return styles()[ref]["path"]
    if name in samples():
        return samples()[name]
    return ref


def suggest(ref: str, what: str = "style", n: int = 3) -> list[str]:
    """Built-in names closest to a mistyped one (difflib), e.g. 'starry-nite' -> ['starry-night'].

    Styles are matched against the style names, anything else (a photo) against the samples, as 'sample:NAME'.
    """
    names, prefix = (list(styles()), "") if what == "style" else (list(samples()), "sample:")
    for key in (ref.removeprefix("sample:").lower(), Path(ref).stem.lower()):
        found = difflib.get_close_matches(key, names, n=n, cutoff=0.6)
        if found:
            return [prefix + f for f in found]
    return []


def contact_sheet(path: str | Path, cell: int = 160) -> Path:
    """A thumbnail sheet of the built-in styles with their names, as a picture file."""
    from PIL import Image, ImageDraw

    items = list(styles().items())
    cols = 3
    rows = (len(items) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * (cell + 8) + 8, rows * (cell + 28) + 8), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (name, row) in enumerate(items):
        im = Image.open(row["path"]).convert("RGB")
        im.thumbnail((cell, cell))
        x, y = 8 + (i % cols) * (cell + 8), 8 + (i // cols) * (cell + 28)
        sheet.paste(im, (x + (cell - im.width) // 2, y + (cell - im.height) // 2))
        draw.text((x, y + cell + 6), name, fill="black")
    sheet.save(path)
    return Path(path)
