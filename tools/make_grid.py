"""Render the eval-set grid of a method: 10 contents (rows) x 4 styles (columns), styles along the top.

    python tools/make_grid.py optimize --size 256 -o docs/optimize_grid.jpg
Results are cached in a work folder so an interrupted run continues where it stopped.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import brushwork
from brushwork.core.images import load_image, save_image
from brushwork.training.grid import grid_image

EVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval"
STYLES = ("starry_night", "wave", "the_scream", "composition_vii")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("method")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--styles", default=",".join(STYLES), help="substrings of eval style file names")
    ap.add_argument("--work", type=Path, default=Path("/tmp/brushwork-grid"))
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    contents = sorted((EVAL / "content").iterdir())
    all_styles = sorted((EVAL / "style").iterdir())
    styles = [next(s for s in all_styles if part in s.name) for part in args.styles.split(",")]
    work = args.work / f"{args.method}-{args.size}"
    work.mkdir(parents=True, exist_ok=True)
    st = brushwork.Stylizer(args.method, progress=False)
    rows = [[None] + [load_image(s, size=args.size) for s in styles]]
    for i, c in enumerate(contents):
        row = [load_image(c, size=args.size)]
        for j, s in enumerate(styles):
            f = work / f"{i:02d}_{j:02d}.png"
            if not f.exists():
                save_image(st.stylize_tensor(c, s, size=args.size), f)
                print(f"{f.name}", flush=True)
            row.append(load_image(f))
        rows.append(row)
    grid_image(rows, cell=args.size // 2 if args.size > 256 else 128).save(args.output, quality=88)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
