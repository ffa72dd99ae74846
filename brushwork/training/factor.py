"""A FactoredDraftNet made from a trained DraftNet, before any distillation step.

Each of the parent's convs is run on real AdaIN-ed features; the top principal components of its responses span
the rank-r subspace the factored pair keeps (response reconstruction, as Zhang et al. 2015 compress VGG): the 3x3
conv projects onto it, the 1x1 conv maps back and adds the responses' mean. The pair then reproduces the parent's
responses up to the variance left out (1-3% per layer at the default ranks), so distillation starts close.
"""
from __future__ import annotations

import torch
from torch import nn

from ..nets.blocks import UpConv
from ..nets.lapstyle import FACTORED_RANKS, DraftNet, FactoredDraftNet


def factor_draft(parent: DraftNet, batches, ranks=FACTORED_RANKS, stride: int = 7) -> FactoredDraftNet:
    """FactoredDraftNet(ranks) fitted to `parent`'s conv responses over `batches` (AdaIN-ed feature dicts; every
    `stride`-th position is kept)."""
    convs = [m for m in parent.decoder.net if isinstance(m, nn.Conv2d)]
    moments = [[0, 0.0, 0.0] for _ in ranks]  # count, sum, sum of outer products (float64)

    def record(i):
        def hook(module, args, out):
            y = out.detach().permute(0, 2, 3, 1).reshape(-1, out.shape[1])[::stride].double()
            m = moments[i]
            m[0], m[1], m[2] = m[0] + len(y), m[1] + y.sum(0), m[2] + y.t() @ y
        return hook

    hooks = [c.register_forward_hook(record(i)) for i, c in enumerate(convs[:len(ranks)])]
    try:
        with torch.no_grad():
            for t in batches:
                parent(t)
    finally:
        for h in hooks:
            h.remove()
    net = FactoredDraftNet(ranks)
    with torch.no_grad():
        for i, (n, s, ss) in enumerate(moments):
            mean = s / n
            _, vecs = torch.linalg.eigh(ss / n - torch.outer(mean, mean))
            basis = vecs[:, -ranks[i]:].flip(1)  # (cout, r): the top components
            w, b = convs[i].weight.double(), convs[i].bias.double()
            reduce, expand = net.convs[i]
            reduce = reduce if isinstance(reduce, UpConv) else reduce[1]
            reduce.weight.copy_(torch.einsum("or,oikl->rikl", basis, w))
            reduce.bias.copy_(basis.t() @ (b - mean))
            expand.weight.copy_(basis[..., None, None])
            expand.bias.copy_(mean)
        net.rgb[1].load_state_dict(convs[-1].state_dict())
        net.skip31.load_state_dict(parent.skip31.state_dict())
        net.skip21.load_state_dict(parent.skip21.state_dict())
    return net
