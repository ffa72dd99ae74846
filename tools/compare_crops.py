"""Side-by-side crops of several methods at one resolution, to compare stroke detail (for model cards).

    python tools/compare_crops.py --methods adain,lapstyle --size 1024 -o brushwork/assets/models/lapstyle_vs_adain.jpg
Each row is one (photo, style) pair: the style, then a 256 px crop of every method's full-size result taken
at the same place, labelled with the method's name.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

import brushwork
from brushwork.core.images import load_image, to_pil

EVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval"
PAIRS = (("kodim08", "starry_night"), ("chelsea", "the_scream"), ("normal_island", "wave"))


def pick(folder: Path, part: str) -> Path:
    """The first file of `folder` whose name contains `part` (else the folder's first file)."""
    files = sorted(folder.iterdir())
    return next((f for f in files if part in f.name), files[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--methods", default="adain,lapstyle")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    methods = args.methods.split(",")
    stylizers = {m: brushwork.Stylizer(m, progress=False) for m in methods}
    c, pad, label = args.crop, 8, 22
    rows = []
    for content_part, style_part in PAIRS:
        content, style = pick(EVAL / "content", content_part), pick(EVAL / "style", style_part)
        cells = [ImageOps.fit(to_pil(load_image(style, size=2 * c)), (c, c))]
        for m in methods:
            out = to_pil(stylizers[m].stylize_tensor(content, style, size=args.size))
            x, y = (out.width - c) // 2, (out.height - c) // 2  # the same centre window for every method
            cells.append(out.crop((x, y, x + c, y + c)))
        rows.append(cells)
    names = ["style"] + [f"{m} @ {args.size} px" for m in methods]
    sheet = Image.new("RGB", (len(names) * (c + pad) + pad, label + len(rows) * (c + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for j, name in enumerate(names):
        draw.text((pad + j * (c + pad), 5), name, fill="black")
    for i, cells in enumerate(rows):
        for j, cell in enumerate(cells):
            sheet.paste(cell.crop((0, 0, c, c)), (pad + j * (c + pad), label + i * (c + pad)))
    sheet.save(args.output, quality=90)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
