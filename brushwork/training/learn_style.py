"""`brushwork learn-style`: fine-tune LapStyle's networks on one style (1-5 paintings) within a time budget.

The first Revision network (and optionally the Drafting network) is fine-tuned on crops of the paintings,
with content crops from a photo folder (default: the built-in sample photos); the result is a .brush file.
"""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import torch

from ..loaders.brush import Brush, save_brush
from ..core.images import load_image, resize_long_side
from ..errors import BrushworkError
from .data import CropDataset
from .loop import TrainConfig, Trainer


def _base_nets(weights_dir: str | None):
    """fp32, trainable copies of the shipped (or given) LapStyle networks."""
    from ..methods.lapstyle import load_nets

    draft, revs = load_nets(weights_dir, torch.float32)
    unfreeze = lambda n: copy.deepcopy(n).to(memory_format=torch.contiguous_format).requires_grad_(True)  # noqa
    return unfreeze(draft), [unfreeze(r) for r in revs]


def learn_style(paintings: list[str | Path], out: str | Path, name: str | None = None, minutes: float = 20.0,
                iters: int = 100_000, content_dir: str | Path | None = None, tune_draft: bool = False,
                weights_dir: str | None = None, crop: int = 256, batch: int = 4, lr: float = 1e-4,
                threads: int = 0) -> Path:
    """Fine-tune on the paintings for at most `minutes` (or `iters`) and write the .brush file `out`."""
    from ..loaders import gallery
    from ..core.encoder import load_encoder
    from .lapstyle import DraftTask, RevisionTask

    if not 1 <= len(paintings) <= 5:
        raise BrushworkError(f"give 1 to 5 paintings, got {len(paintings)}")
    files = [Path(str(gallery.resolve(p))) for p in paintings]
    for f in files:
        load_image(f)  # clear error for missing / damaged files before any work
    out = Path(out)
    encoder = load_encoder()
    draft, revs = _base_nets(weights_dir)
    content = CropDataset(content_dir or gallery.DATA / "samples", load_size=crop * 2, crop=crop, desc="photos")
    style = CropDataset(files, load_size=crop * 2, crop=crop, desc="paintings")
    budget = minutes * 60 / (2 if tune_draft else 1)
    with tempfile.TemporaryDirectory() as tmp:
        if tune_draft:
            cfg = TrainConfig(model="lapstyle-draft", content_dir="", style_dir="", run_dir=f"{tmp}/d", iters=iters,
                              batch=batch, crop=crop // 2, lr=lr, lr_decay=0, save_every=10**9, sample_every=10**9,
                              threads=threads, max_seconds=budget)
            Trainer(cfg, DraftTask(encoder, draft), _Half(content), _Half(style)).run()
        cfg = TrainConfig(model="lapstyle-revision", content_dir="", style_dir="", run_dir=f"{tmp}/r", iters=iters,
                          batch=batch, crop=crop, lr=lr, lr_decay=0, save_every=10**9, sample_every=10**9,
                          threads=threads, max_seconds=budget)
        task = RevisionTask(encoder, draft, [], revs[0])
        trainer = Trainer(cfg, task, content, style)
        trainer.run()
    brush = Brush(name or out.stem, [resize_long_side(load_image(f), 512) for f in files],
                  draft.state_dict() if tune_draft else None,
                  [revs[0].state_dict()] + [r.state_dict() for r in revs[1:]],
                  {"iterations": trainer.iter, "seconds": round(trainer.elapsed), "paintings": [f.name for f in files]})
    return save_brush(brush, out)


class _Half:
    """A CropDataset view at half the crop size (the draft trains at half the revision resolution)."""

    def __init__(self, ds: CropDataset):
        self.ds = ds

    def sample(self, n, gen):
        return torch.nn.functional.avg_pool2d(self.ds.sample(n, gen), 2)
