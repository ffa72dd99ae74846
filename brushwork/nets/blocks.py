"""The layers LapStyle's networks share: reflection padding kept in its input's dtype, the folded upsampling
conv, and the VGG16-mirror decoder the Drafting network and AdaIN paint with."""
import torch
import torch.nn.functional as F
from torch import nn


class ReflectPad(nn.ReflectionPad2d):
    """Reflection padding in its input's dtype. Autocast runs reflection_pad2d in fp32: with bf16 activations that
    made two dtype copies and an fp32 pad (and its backward) around every conv (~7% of a draft training step)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x)


class UpConv(nn.Conv2d):
    """Nearest-neighbour 2x upsampling, reflection padding and a 3x3 conv, computed at the input's resolution.

    After a nearest 2x upsampling each output phase (row parity, column parity) sees only a 2x2 window of the
    input, so the 3x3 kernel folds into four 2x2 kernels run as one conv: 16 instead of 36 multiply-adds per input
    pixel and channel pair, the same numbers (reflecting the upsampled map = replicating the input's edge)."""

    PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))  # (row, column) parity of the output pixels, in kernel order

    def __init__(self, cin: int, cout: int):
        super().__init__(cin, cout, 3)

    def phase_weight(self) -> torch.Tensor:
        """(4 * cout, cin, 2, 2): the kernels of the PHASES, folded in fp32."""
        w = self.weight.float()

        def fold(w, dim):  # phase 0 reads (i-1, i), phase 1 reads (i, i+1)
            a, b, c = w.unbind(dim)
            return torch.stack([a, b + c], dim), torch.stack([a + b, c], dim)

        rows = fold(w, 2)
        return torch.cat([k for r in rows for k in fold(r, 3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        c = self.out_channels
        with torch.autocast(x.device.type, enabled=False):  # keep bf16 activations bf16 (as ReflectPad)
            xp = F.pad(x, (1, 1, 1, 1), mode="replicate")
        y = F.conv2d(xp, self.phase_weight().to(xp.dtype), self.bias.repeat(4).to(xp.dtype))
        phases = [y[:, k * c:(k + 1) * c, a:a + h, b:b + w] for k, (a, b) in enumerate(self.PHASES)]
        if torch.is_grad_enabled() and y.requires_grad:  # differentiable interleave
            z = torch.stack(phases, 2).view(n, c, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c, 2 * h, 2 * w)
            return z.contiguous(memory_format=torch.channels_last)
        out = torch.empty(n, 2 * h, 2 * w, c, dtype=y.dtype, device=y.device)  # channels-last, filled in place
        view = out.view(n, h, 2, w, 2, c)
        for (a, b), p in zip(self.PHASES, phases):
            view[:, :, a, :, b].copy_(p.permute(0, 2, 3, 1))
        return out.permute(0, 3, 1, 2)


def _block(cin: int, cout: int, relu: bool = True) -> list[nn.Module]:
    layers = [ReflectPad(1), nn.Conv2d(cin, cout, 3)]
    return layers + [nn.ReLU(inplace=True)] if relu else layers


class Decoder(nn.Module):
    """Mirror of VGG16 up to relu4_1: reflection padding, nearest-neighbour upsampling, RGB out in ~[0, 1].

    `stages` splits it at the 1/4 and 1/2 scales so LapStyle's DraftNet can add relu3_1 / relu2_1 skips.
    """

    def __init__(self):
        super().__init__()
        up = lambda: nn.Upsample(scale_factor=2, mode="nearest")  # noqa: E731
        self.net = nn.Sequential(
            *_block(512, 256), up(),
            *_block(256, 256), *_block(256, 256), *_block(256, 128), up(),
            *_block(128, 128), *_block(128, 64), up(),
            *_block(64, 64), *_block(64, 3, relu=False),
        )

    def stages(self) -> tuple[nn.Sequential, nn.Sequential, nn.Sequential]:
        """(relu4_1 -> 1/4 scale, 256 ch), (-> 1/2 scale, 128 ch), (-> RGB)."""
        return self.net[:4], self.net[4:14], self.net[14:]

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.net(feat)
