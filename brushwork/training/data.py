"""Random-crop datasets over image folders, held in memory as uint8 so sampling costs almost nothing."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..core.images import list_images


def _load_short_side(path: Path, short: int) -> np.ndarray:
    im = Image.open(path)
    im.draft("RGB", (short * 2, short * 2))  # fast JPEG downscale on decode
    im = im.convert("RGB")
    scale = short / min(im.size)
    im = im.resize((max(short, round(im.width * scale)), max(short, round(im.height * scale))), Image.BICUBIC)
    return np.array(im, dtype=np.uint8)


class CropDataset:
    """All images of a folder resized to `load_size` on the short side; `sample` draws random flipped crops."""

    def __init__(self, folder: str | Path | list, load_size: int = 512, crop: int = 256, desc: str = "images"):
        self.files = [Path(f) for f in folder] if isinstance(folder, list) else list_images(folder, "training")
        self.crop = crop
        self.images = [torch.from_numpy(_load_short_side(p, load_size)).permute(2, 0, 1)
                       for p in tqdm(self.files, desc=f"loading {desc}", leave=False)]

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """A (n, 3, crop, crop) float batch in [0, 1]."""
        idx = torch.randint(len(self.images), (n,), generator=gen).tolist()
        out = torch.empty(n, 3, self.crop, self.crop)
        for j, i in enumerate(idx):
            img = self.images[i]
            y = int(torch.randint(img.shape[1] - self.crop + 1, (1,), generator=gen))
            x = int(torch.randint(img.shape[2] - self.crop + 1, (1,), generator=gen))
            c = img[:, y:y + self.crop, x:x + self.crop]
            if torch.rand((), generator=gen) < 0.5:
                c = c.flip(2)
            out[j] = c.float() / 255.0
        return out
