"""Crop replay: a step computes the frozen networks' features of a few fresh crops only, and fills the rest of its
batch with recent crops whose features it kept.

The encoder and the loss network are frozen, so kept features are exact, not stale. Content and style crops are
replayed independently, so every pairing is new; with `share` = 0.875 each crop serves eight steps on average and a
LapStyle draft step pays an eighth of its no-grad feature passes (~40% of a step on a CPU without replay).
Kept crops live in memory only: a resumed run fills them again in its first steps (all fresh until then).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable

import torch


def _rows(tree, i: int):
    """Row i of every tensor in a (nested) dict of batched tensors (or None), as one-row slices (their memory
    format kept)."""
    if tree is None:
        return None
    return {k: _rows(v, i) for k, v in tree.items()} if isinstance(tree, dict) else tree[i:i + 1]


def _cat(items: list):
    """The inverse of _rows over a list of rows (torch.cat keeps channels_last, so the networks see no reorder)."""
    first = items[0]
    if first is None:
        return None
    if isinstance(first, dict):
        return {k: _cat([it[k] for it in items]) for k in first}
    return torch.cat(items)


class Replay:
    """Recent crops with their features; `draw` returns a full batch of which only the fresh part was computed."""

    def __init__(self, share: float, capacity: int = 32, seed: int = 0):
        if not 0.0 <= share < 1.0:
            raise ValueError(f"replay share must be in [0, 1), got {share}")
        self.share = share
        self.kept: deque = deque(maxlen=capacity)
        self.gen = torch.Generator().manual_seed(seed)

    def draw(self, batch: torch.Tensor, features: Callable[[torch.Tensor], dict]) -> tuple[torch.Tensor, dict]:
        """(crops, their features) for a batch the size of `batch`: its first crops fresh (features computed
        now), the rest drawn from kept crops once enough are kept (until then, all fresh)."""
        n = len(batch)
        old = min(round(self.share * n), n - 1)  # at least one fresh crop a step
        if old == 0 or len(self.kept) < max(old, self.kept.maxlen // 2):
            old = 0
        fresh = batch[:n - old]
        feats = features(fresh)
        rows = [(fresh[i:i + 1], _rows(feats, i)) for i in range(len(fresh))]
        if old:
            pick = torch.randperm(len(self.kept), generator=self.gen)[:old].tolist()
            rows += [self.kept[i] for i in pick]
        self.kept.extend(rows[:len(fresh)])
        return _cat([r[0] for r in rows]), _cat([r[1] for r in rows])
