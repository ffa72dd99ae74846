"""Ship a trained model: export fp16 weights from a run, record the SHA-256, render the eval grid, write the card.

    python tools/ship_model.py adain runs/adain --command "brushwork train adain ..."
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path

from brushwork.training.run import export_checkpoint
from card import write_card  # tools/card.py (this folder is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "brushwork" / "assets" / "models"
TITLES = {"adain": "Model card: AdaIN decoder (VGG16-HED relu4_1)",
          "lapstyle_draft": "Model card: LapStyle Drafting network (arbitrary style, VGG16-HED)",
          "lapstyle_rev1": "Model card: LapStyle Revision network, level 1 (arbitrary style)"}


def record_sha(name: str) -> None:
    sums = MODELS / "SHA256SUMS"
    lines = {ln.split()[1]: ln for ln in sums.read_text().splitlines() if ln.strip()} if sums.exists() else {}
    lines[name] = f"{hashlib.sha256((MODELS / name).read_bytes()).hexdigest()}  {name}"
    sums.write_text("\n".join(lines[k] for k in sorted(lines)) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model")
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--command", required=True, help="the training command, for the card")
    ap.add_argument("--grid-size", type=int, default=256)
    ap.add_argument("--note", default="", help="Markdown appended to the card (a file path or the text)")
    ap.add_argument("--method", help="method whose eval grid goes in the card (default: the model name; "
                                     "lapstyle for its networks)")
    args = ap.parse_args()
    weights = export_checkpoint(args.run_dir, MODELS / f"{args.model}.safetensors")
    record_sha(weights.name)
    method = args.method or ("lapstyle" if args.model.startswith("lapstyle") else args.model)
    grid = MODELS / f"{method}_eval_grid.jpg"  # one per method: LapStyle's networks share theirs
    note = Path(args.note).read_text() if args.note and Path(args.note).is_file() else args.note
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_grid.py"), method, "--size", str(args.grid_size),
                    "--work", f"/tmp/brushwork-grid-ship-{weights.stat().st_mtime_ns}", "-o", str(grid)], check=True)
    extra = (f"## Eval-set results\n\nRows: the 10 eval photos; columns: 4 eval styles (top row), "
             f"{args.grid_size} px, default options of `method=\"{method}\"`.\n\n![eval grid]({grid.name})\n\n{note}\n")
    write_card(weights, args.run_dir, MODELS / f"{args.model}.md", TITLES.get(args.model, args.model),
               args.command, extra)
    print(f"shipped {weights}")


if __name__ == "__main__":
    main()
