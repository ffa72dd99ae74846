"""Per-region colour distance on the test split: does each region of the photo take the colours of the matching
region of the painting? -> BENCHMARKS.md section "regions".

Five test pairs where photo and painting share a sky above land or water. The masks are drawn by hand as
horizontal bands (rows above `sky` are sky, rows below `land` are land or water; the band between is left out),
fixed before any result was looked at. For each method: the sliced-Wasserstein colour distance (Lab) between the
result's sky and the painting's sky, and between the result's land and the painting's land, at 512 px.

    python benchmarks/bench_regions.py --methods lapstyle,attention
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, write_section  # noqa: E402

TEST = ROOT.parent / "shared" / "data" / "test"
# (photo file stem part, its sky end, its land start), (painting stem part, sky end, land start): fractions of height
PAIRS = [
    (("CSun_Hays80_mountain", 0.12, 0.30), ("full_227full", 0.12, 0.35)),  # Roerich's peaks
    (("Scene-Classifier__samples_paris", 0.50, 0.80), ("full_41full", 0.50, 0.80)),  # Matisse, The Dance
    (("canal_urban", 0.30, 0.70), ("full_134full", 0.20, 0.60)),  # Renoir's bridge over a river
    (("samples_bridge", 0.30, 0.60), ("full_110full", 0.45, 0.65)),  # Rousseau, The Sleeping Gypsy
    (("Scene-Classifier__samples_ruins", 0.30, 0.60), ("full_123full", 0.30, 0.65)),  # a snowy landscape
]


def find(folder: Path, part: str) -> Path:
    hits = [f for f in sorted(folder.iterdir()) if part in f.name]
    if len(hits) != 1:
        raise SystemExit(f"{part!r} matches {len(hits)} files in {folder}")
    return hits[0]


def bands(img: torch.Tensor, sky: float, land: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(sky rows, land rows) of a (1, 3, H, W) picture."""
    h = img.shape[-2]
    return img[..., : max(1, round(sky * h)), :], img[..., round(land * h):, :]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="lapstyle,attention")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import brushwork
    from brushwork.core.images import load_image
    from brushwork.evaluation.metrics import color_distance

    methods = args.methods.split(",")
    rows = []
    totals = {m: [] for m in methods}
    for (pp, psky, pland), (sp, ssky, sland) in PAIRS:
        photo, painting = find(TEST / "content", pp), find(TEST / "style", sp)
        style = load_image(painting)
        s_sky, s_land = bands(style, ssky, sland)
        cells = []
        for m in methods:
            out = brushwork.Stylizer(m, progress=False).stylize_tensor(str(photo), str(painting), size=args.size)
            o_sky, o_land = bands(out, psky, pland)
            d = (color_distance(o_sky, s_sky), color_distance(o_land, s_land))
            totals[m].append(sum(d) / 2)
            cells.append(f"{d[0]:.2f} / {d[1]:.2f}")
        rows.append(f"| {photo.stem[-28:]} | {painting.stem[-28:]} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    head = " | ".join(f"{m}: sky / land" for m in methods)
    lines = [f"### Per-region colour distance, test split (`benchmarks/bench_regions.py`, {time.strftime('%Y-%m-%d')})",
             "", f"Machine: {machine()}. Split: **test** (held out; masks drawn by hand before any result was seen). "
             f"Sliced-Wasserstein colour distance in Lab (lower = closer) between each region of the result and the "
             f"same region of the painting, {args.size} px, strength 1.", "",
             f"| photo | painting | {head} |", "| --- | --- | " + " | ".join("---:" for _ in methods) + " |",
             *rows, "| **mean of both regions** | | " + " | ".join(f"**{sum(v) / len(v):.2f}**" for v in totals.values())
             + " |"]
    write_section("regions", "\n".join(lines))


if __name__ == "__main__":
    main()
