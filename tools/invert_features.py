"""Feature inversion: what one layer of the encoder still knows about a photo (for the AdaIN model card).

    python tools/invert_features.py -o docs/hed_vgg_inversion.jpg
Pixels start grey and are optimised (L-BFGS, 300 steps) until their features at one layer match the
photo's; whatever the layer does not encode (colour, here) the inversion cannot bring back. Columns: the
photo, then inversions from relu3_1, relu4_1 and relu5_1.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image

from brushwork.core.encoder import shared_encoder
from brushwork.core.images import load_image, to_pil

PHOTO = Path(__file__).resolve().parents[2] / "shared/data/eval/content/scikit-image__scikit-image__src__skimage2_data__coffee.jpg"


def invert(enc, photo: torch.Tensor, layer: str, steps: int = 300) -> tuple[torch.Tensor, float]:
    """Pixels whose `layer` features match the photo's, and the remaining relative feature error."""
    with torch.no_grad():
        target = enc(photo, (layer,))[layer]
    x = torch.full_like(photo, 0.5).add_(0.1 * torch.randn_like(photo)).requires_grad_(True)
    opt = torch.optim.LBFGS([x], max_iter=steps, history_size=20, line_search_fn="strong_wolfe")

    def loss_fn():
        return (enc(x, (layer,))[layer] - target).pow(2).mean() / target.pow(2).mean()

    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return x.detach().clamp(0, 1), float(loss_fn())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--photo", default=str(PHOTO))
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    torch.manual_seed(0)
    enc = shared_encoder("max", "zeros", torch.float32)
    photo = load_image(args.photo, size=args.size)
    tiles = [to_pil(photo)]
    for layer in ("relu3_1", "relu4_1", "relu5_1"):
        x, err = invert(enc, photo, layer)
        print(f"{layer}: feature error {err:.4f}, mean |pixel - photo| {float((x - photo).abs().mean()):.3f}")
        tiles.append(to_pil(x))
    w, h = tiles[0].size
    sheet = Image.new("RGB", (len(tiles) * (w + 4) - 4, h), "white")
    for i, t in enumerate(tiles):
        sheet.paste(t, (i * (w + 4), 0))
    sheet.save(args.output, quality=90)


if __name__ == "__main__":
    main()
