import math

import pytest
import torch

from brushwork.core import losses as L
from brushwork.core.images import load_image


def test_gram_of_known_tensor():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)  # C=2, 2 positions
    # F = [[1, 2], [3, 4]]; G = F F^T / 2
    assert torch.allclose(L.gram(f), torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 2)


def test_masked_gram_only_sees_the_region():
    f = torch.zeros(1, 1, 2, 2)
    f[..., 0, :] = 2.0
    mask = torch.zeros(1, 1, 2, 2)
    mask[..., 0, :] = 1.0
    assert L.gram(f, mask).item() == pytest.approx(4.0)
    assert L.gram(f).item() == pytest.approx(2.0)


def test_content_loss_zero_for_same_positive_otherwise(encoder, eval_content):
    from brushwork.core.images import load_image

    x = load_image(eval_content[0], size=96)
    y = load_image(eval_content[1], size=96)[..., : x.shape[-2], : x.shape[-1]]
    fx = encoder(x, "relu4_2")["relu4_2"]
    assert L.content_loss(fx, fx).item() == 0.0
    x2 = x[..., : y.shape[-2], : y.shape[-1]]
    assert L.content_loss(encoder(x2, "relu4_2")["relu4_2"], encoder(y, "relu4_2")["relu4_2"]).item() > 0.1


@pytest.mark.parametrize("kind", ["gram", "meanstd", "wasserstein"])
def test_style_losses_zero_for_same_positive_otherwise(kind):
    torch.manual_seed(0)
    a = torch.rand(1, 8, 6, 6)
    b = torch.rand(1, 8, 6, 6) * 3
    target = L.style_stats(kind, a)
    assert L.style_loss(kind, a, target).item() == pytest.approx(0.0, abs=1e-4)
    assert L.style_loss(kind, b, target).item() > 0.05


def test_w2_matches_closed_form_for_diagonal_gaussians():
    m1, m2 = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0])
    c1, c2 = torch.diag(torch.tensor([1.0, 4.0])), torch.diag(torch.tensor([4.0, 1.0]))
    # W2^2 = |m1-m2|^2 + sum (sqrt(s1) - sqrt(s2))^2 = 1 + 1 + 1
    assert L.w2_gaussian(m1, c1, m2, c2).item() == pytest.approx(3.0, abs=1e-3)


def test_tv_loss():
    assert L.tv_loss(torch.ones(1, 3, 8, 8)).item() == 0.0
    noisy = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert L.tv_loss(noisy).item() > 0.05


def test_blend_stats_is_weighted_mean():
    a, b = torch.ones(2, 2), torch.zeros(2, 2)
    assert torch.allclose(L.blend_stats([a, b], [0.25, 0.75]), torch.full((2, 2), 0.25))
    m = L.blend_stats([(a, a), (b, b)], [0.5, 0.5])
    assert isinstance(m, tuple) and math.isclose(m[0][0, 0].item(), 0.5)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_batch_gram_matches_the_plain_product_in_every_layout(encoder, eval_content, layout, dtype):
    """The one-product symmetric backward and the channels-last reading give the textbook Gram and gradient."""
    from brushwork.core.losses import batch_gram, gram_distance

    img = load_image(eval_content[0], size=96)
    feat = encoder(img, ("relu2_1",))["relu2_1"].float().detach()
    target = batch_gram(encoder(load_image(eval_content[1], size=96), ("relu2_1",))["relu2_1"].float())
    grads, values = [], []
    for fast in (False, True):
        x = feat.to(dtype).clone(memory_format=layout).requires_grad_(True)  # a fresh leaf each time
        if fast:
            g = batch_gram(x)
        else:
            f = x.float().flatten(2)
            g = f @ f.transpose(1, 2) / f.shape[2]
        ((g - target) ** 2).sum().backward()
        grads.append(x.grad.float())
        values.append(g.detach())
    tol = 1e-5 if dtype == torch.float32 else 1e-2
    assert values[1].dtype == torch.float32
    assert (values[1] - values[0]).abs().max() <= tol * values[0].abs().max()
    assert (grads[1] - grads[0]).norm() <= tol * grads[0].norm()
    assert gram_distance(feat, target) > 0


@pytest.mark.parametrize("size", [64, 256])
def test_gram_distance_to_style_features_matches_the_gram_matrices(size, eval_content, eval_style):
    """The position-by-position form (deep, small maps) and the Gram form give the same distance and gradient."""
    from brushwork.core import lossnet
    from brushwork.core.losses import batch_gram, gram_distance, gram_distance_to

    net = lossnet.load()
    taps = lossnet.LITE_STYLE_TAPS
    with torch.no_grad():
        fo = net(load_image(eval_content[0], size=size), taps)
        fs = net(load_image(eval_style[0], size=size + 32), taps)
    small = [k for k in taps if 2 * fs[k].shape[-1] * fs[k].shape[-2] < fs[k].shape[1]]
    assert small and small != list(taps)  # both forms are exercised at these sizes
    for k in taps:
        x, y = fo[k].clone().requires_grad_(True), fo[k].clone().requires_grad_(True)
        a, b = gram_distance_to(x, fs[k]), gram_distance(y, batch_gram(fs[k]))
        assert a > 0 and torch.allclose(a, b, rtol=1e-3), k
        a.backward()
        b.backward()
        assert torch.allclose(x.grad, y.grad, rtol=1e-3, atol=1e-3 * y.grad.abs().max()), k
