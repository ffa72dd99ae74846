"""Where the main object of a photo is: the class-activation map (Zhou et al. 2016) of the EfficientNet-Lite1
ImageNet classifier that is already our loss network, so no new weights. Used by the `subject` control."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import lossnet

CAM_SIDE = 320  # long side the classifier sees (10 x 10 positions at its stride 32 for a square photo)
TOP_CLASSES = 5


@torch.no_grad()
def saliency(img: torch.Tensor, net: str = lossnet.DEFAULT_LOSS_NET) -> torch.Tensor:
    """(1, 1, H, W) in [0, 1] at img's size: the class-activation map of the classifier's top classes (weighted
    by their probability), rectified, scaled to peak 1, upsampled smoothly."""
    model = lossnet.load(net, "reflect")
    h, w = img.shape[-2:]
    s = CAM_SIDE / max(h, w)
    x = F.interpolate(img.float(), size=(max(32, round(h * s)), max(32, round(w * s))), mode="bilinear",
                      antialias=True, align_corners=False)
    last = f"proj{len(model.blocks) - 1}"
    feat = F.relu6(model.head(model(x, last)[last]))  # (1, 1280, h/32, w/32)
    probs = torch.softmax(model.fc(feat.mean((2, 3))), -1)
    p, cls = probs.topk(TOP_CLASSES, -1)
    weights = (p[0, :, None] * model.fc.weight[cls[0]]).sum(0)  # probability-weighted class weights
    cam = torch.einsum("c,nchw->nhw", weights, feat)[:, None].clamp_min(0)
    cam = cam / cam.amax().clamp_min(1e-8)
    return F.interpolate(cam, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
