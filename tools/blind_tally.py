"""Tally blind votes over both side orders: every docs/blind/NAME with a NAME_mirrored beside it (the same sheets
with LEFT and RIGHT swapped: `blind_ab.py make` with the two labels given in the other order and the same seed).

Raters lean to one side on close calls (two raters of one set voted RIGHT on 11 of 12 sheets), so a comparison
is rated in both orders and counted together.

    python tools/blind_tally.py [docs/blind]
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path


def wins(folder: Path) -> tuple[Counter, int]:
    """Votes per label over all of a folder's votes_*.json (ties counted apart), and the number of votes."""
    key = {k.removesuffix(".png"): v for k, v in json.loads((folder / "key.json").read_text()).items()}
    total, n = Counter(), 0
    for path in sorted(folder.glob("votes_*.json")):
        for sheet, side in json.loads(path.read_text()).items():
            total[key[sheet.removesuffix(".png")][side] if side in ("left", "right") else "tie"] += 1
            n += 1
    return total, n


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "docs" / "blind")
    for mirrored in sorted(root.glob("*_mirrored")):
        base = mirrored.with_name(mirrored.name.removesuffix("_mirrored"))
        (a, na), (b, nb) = wins(base), wins(mirrored)
        both = a + b
        print(f"{base.name}: " + ", ".join(f"{label} {both[label]} of {na + nb}" for label in sorted(both))
              + f"  (orders: {dict(a)} / {dict(b)})")


if __name__ == "__main__":
    main()
