"""A markdown table of per-method means from a `brushwork evaluate` results.json (metrics and artifact measures),
with each method's ratio to a reference label; for BENCHMARKS.md and the model cards.

    python tools/split_table.py report/results.json --reference reference --split test
"""
from __future__ import annotations

import argparse
import json
import math

COLUMNS = [("lite_content", "Lite1 content", "lower"), ("lite_style", "Lite1 style", "lower"),
           ("color_swd", "colour distance", "lower"), ("ssim", "SSIM", "higher"),
           ("foreign_colors", "foreign colours", "lower"), ("photo_colors", "photo colours", "lower"),
           ("halos", "halos", "lower"), ("border_bands", "border bands", "lower"), ("blotches", "blotches", "lower"),
           ("grid_energy", "grid energy", "lower"), ("imprinted_edges", "imprinted edges", "lower"),
           ("faces_kept", "faces kept", "higher")]


def means(runs: list[dict]) -> dict[str, dict[str, float]]:
    """{method: {metric: mean over its runs}} (NaN / None values left out)."""
    out: dict[str, dict[str, list]] = {}
    for r in runs:
        for key, _, _ in COLUMNS:
            v = r.get(key)
            if isinstance(v, (int, float)) and not math.isnan(v):
                out.setdefault(r["method"], {}).setdefault(key, []).append(v)
    return {m: {k: sum(v) / len(v) for k, v in d.items()} for m, d in out.items()}


def table(results: str, reference: str | None, split: str) -> str:
    runs = json.load(open(results))
    runs = runs if isinstance(runs, list) else runs["runs"]
    runs = list(runs.values()) if isinstance(runs, dict) else runs
    m = means(runs)
    n = {meth: sum(1 for r in runs if r["method"] == meth) for meth in m}
    head = "| method (pairs) | " + " | ".join(f"{label} ({d})" for _, label, d in COLUMNS) + " |"
    lines = [f"Split: **{split}**. Means over the pairs; arrows: which way is better.", "", head,
             "| --- | " + " | ".join("---:" for _ in COLUMNS) + " |"]
    for meth, vals in m.items():
        cells = []
        for key, _, _ in COLUMNS:
            v = vals.get(key)
            cell = "—" if v is None else f"{v:.3g}"
            ref = m.get(reference, {}).get(key) if reference else None
            if v is not None and ref and meth != reference:
                cell += f" ({v / ref:.2f}x)"
            cells.append(cell)
        lines.append(f"| {meth} ({n[meth]}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("--reference")
    ap.add_argument("--split", required=True)
    args = ap.parse_args()
    print(table(args.results, args.reference, args.split))


if __name__ == "__main__":
    main()
