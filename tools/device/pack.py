"""Pack what a training run on a lent GPU machine needs into .gpu/ (git-ignored), under its 64 MiB transfer limit.

- .gpu/data: every training and eval image at 256 px on the short side, long side centre-cropped to 288 px,
  WebP quality 72 (about 23 MiB for the 2,070 training images);
- .gpu/home: fp16 copies of the loss networks' weights, only the layers training reads (VGG to conv4_1,
  EfficientNet-Lite1 to block 14, with a stub head), about 8 MiB.

    python tools/device/pack.py        # .gpu/ is git-ignored; name it in the device tool's carry
Then run tools/device/train.py there (see its docstring).

The tracked tree travels too and counts towards the limit (53 MB on 2026-12-04, most of it docs/ pictures and
blind sheets). For the device call, take what training does not read out of the tree and the index, and put it
back afterwards (from a clean, committed tree):

    rm -rf docs tests brushwork/assets/data brushwork/assets/models/*.jpg brushwork/assets/models/*.png
    git add -A docs tests brushwork/assets      # the index no longer lists them (~8 MB left)
    ...device run with carry [".gpu"]...
    git reset -q && git checkout -- .
"""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from brushwork.loaders import weights
from brushwork.core.images import IMAGE_SUFFIXES

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
VGG_KEEP = ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv4_1")


def pack_images(short: int = 256, longest: int = 288, quality: int = 72) -> int:
    total = 0
    for sub in ("train/content", "train/style", "eval/content", "eval/style"):
        out = ROOT / ".gpu" / "data" / sub
        out.mkdir(parents=True, exist_ok=True)
        for f in sorted((SHARED / sub).iterdir()):
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            im = Image.open(f)
            im.draft("RGB", (2 * short, 2 * short))
            im = im.convert("RGB")
            s = short / min(im.size)
            w, h = max(short, round(im.width * s)), max(short, round(im.height * s))
            im = im.resize((w, h), Image.BICUBIC)
            x, y = max(0, (w - longest) // 2), max(0, (h - longest) // 2)
            im = im.crop((x, y, x + min(w, longest), y + min(h, longest)))
            dst = out / (f.stem + ".webp")
            im.save(dst, quality=quality, method=4)
            total += dst.stat().st_size
    return total


def pack_weights() -> None:
    home = ROOT / ".gpu" / "home"
    home.mkdir(parents=True, exist_ok=True)
    vgg = load_file(str(weights.ensure("hed-vgg16")))
    save_file({k: v.half() for k, v in vgg.items() if k.split(".")[0] in VGG_KEEP}, str(home / "vgg16_hed.safetensors"))
    lite = load_file(str(weights.ensure("efficientnet-lite1")))
    keep = {k: v.half() for k, v in lite.items()
            if k.startswith("stem") or (k.startswith("blocks.") and int(k.split(".")[1]) <= 14)}
    c = keep["blocks.14.project.weight"].shape[0]  # a stub classifier: the losses stop at block 14
    keep.update({"head.weight": torch.zeros(8, c, 1, 1, dtype=torch.half), "head.bias": torch.zeros(8, dtype=torch.half),
                 "fc.weight": torch.zeros(10, 8, dtype=torch.half), "fc.bias": torch.zeros(10, dtype=torch.half)})
    save_file(keep, str(home / "efficientnet_lite1.safetensors"))


if __name__ == "__main__":
    print(f"images: {pack_images() / 2**20:.1f} MiB")
    pack_weights()
