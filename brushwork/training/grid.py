"""Picture grids: batches of images laid out side by side, for sample sheets and reports."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def grid_image(rows: list[list[torch.Tensor]], cell: int = 192, pad: int = 4) -> Image.Image:
    """rows[r][c] is a (3, H, W) or (1, 3, H, W) tensor; each is fitted into a cell x cell square on white."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    sheet = np.ones((n_rows * (cell + pad) + pad, n_cols * (cell + pad) + pad, 3), dtype=np.float32)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            if img is None:
                continue
            img = img if img.dim() == 4 else img[None]
            h, w = img.shape[-2:]
            s = cell / max(h, w)
            hh, ww = max(1, round(h * s)), max(1, round(w * s))
            small = F.interpolate(img.float(), size=(hh, ww), mode="bilinear", antialias=True, align_corners=False)
            arr = small[0].clamp(0, 1).permute(1, 2, 0).numpy()
            y = pad + r * (cell + pad) + (cell - hh) // 2
            x = pad + c * (cell + pad) + (cell - ww) // 2
            sheet[y:y + hh, x:x + ww] = arr
    return Image.fromarray((sheet * 255 + 0.5).astype(np.uint8))


def save_rows(columns: list[torch.Tensor], path: Path, cell: int = 192) -> Path:
    """columns[k] is an (N, 3, H, W) batch; row i shows item i of every batch (e.g. content | style | result)."""
    rows = [[col[i] for col in columns] for i in range(columns[0].shape[0])]
    grid_image(rows, cell).save(path, quality=90)
    return Path(path)
