import numpy as np
import pytest
import torch
from PIL import Image

from brushwork.errors import BrushworkError
from brushwork.core.images import (check_writable, fit_size, load_array, load_image, resize_long_side, save_image,
                              to_tensor)


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = 255  # left half white
    im = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    im.save(tmp_path / "r.jpg", exif=exif, quality=100)
    out = load_array(tmp_path / "r.jpg")
    assert out.shape == (40, 20, 3)
    assert out[:15].mean() > 0.9 and out[25:].mean() < 0.1  # white half now on top


def test_alpha_grayscale_and_palette(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :4, 3] = 0  # left transparent -> white
    rgba[:, 4:, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = load_array(tmp_path / "a.png")
    assert np.allclose(out[:, :4], 1.0) and np.allclose(out[:, 4:], [1, 0, 0])
    Image.fromarray(np.full((8, 8), 128, np.uint8), "L").save(tmp_path / "g.png")
    g = load_array(tmp_path / "g.png")
    assert g.shape == (8, 8, 3) and np.allclose(g, 128 / 255)


def test_16bit_round_trip_keeps_precision(tmp_path):
    ramp = np.linspace(0, 1, 1000, dtype=np.float32)
    img = np.stack([np.tile(ramp, (4, 1))] * 3, axis=2)
    img[..., 1] = 1 - img[..., 1]
    for name in ("o.png", "o.tif"):
        save_image(to_tensor(img), tmp_path / name, bits=16)
        back = load_array(tmp_path / name)
        assert np.abs(back - img).max() < 1e-4  # 8 bit would be off by up to 2e-3
    save_image(to_tensor(img), tmp_path / "o8.png")
    assert np.abs(load_array(tmp_path / "o8.png") - img).max() > 1e-3


def test_decompression_bomb_refused(tmp_path):
    Image.new("1", (9000, 9000)).save(tmp_path / "bomb.png")  # 81 MP, tiny file
    with pytest.raises(BrushworkError, match="allow-huge"):
        load_array(tmp_path / "bomb.png")


def test_truncated_and_non_images(tmp_path, eval_content):
    data = eval_content[0].read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(BrushworkError, match="truncated"):
        load_array(tmp_path / "t.jpg")
    (tmp_path / "n.jpg").write_text("hello")
    with pytest.raises(BrushworkError, match="not an image"):
        load_array(tmp_path / "n.jpg")
    with pytest.raises(BrushworkError, match="no such file"):
        load_array(tmp_path / "missing.png")


def test_resize_long_side_keeps_aspect(eval_content):
    t = load_image(eval_content[0])
    r = resize_long_side(t, 100)
    assert max(r.shape[-2:]) == 100
    assert abs(r.shape[-1] / r.shape[-2] - t.shape[-1] / t.shape[-2]) < 0.02
    assert fit_size(300, 600, 200) == (100, 200)


def test_arrays_and_pil_accepted():
    u8 = np.full((4, 6, 3), 255, np.uint8)
    assert load_image(u8).shape == (1, 3, 4, 6)
    assert torch.allclose(load_image(Image.fromarray(u8)), torch.ones(1, 3, 4, 6))
    with pytest.raises(BrushworkError):
        load_array(np.zeros((4, 4, 7)))


def test_check_writable_never_overwrites(tmp_path):
    f = tmp_path / "x.png"
    f.write_bytes(b"precious")
    with pytest.raises(BrushworkError, match="exists"):
        check_writable(f)
    with pytest.raises(BrushworkError, match="does not exist"):
        check_writable(tmp_path / "nope" / "x.png")
    with pytest.raises(BrushworkError, match="format"):
        check_writable(tmp_path / "x.xyz")
    assert f.read_bytes() == b"precious"


def test_loads_leave_pillows_pixel_limit_alone(tmp_path, eval_content):
    """Pillow's global decompression-bomb limit (the server's upload check relies on it) stays in force while
    threads load pictures at once, and after; a picture over it still loads when trusted (allow_huge)."""
    import sys
    import threading

    limit = Image.MAX_IMAGE_PIXELS
    files = []
    for i, f in enumerate(eval_content[:4]):
        Image.open(f).resize((32, 24)).save(tmp_path / f"{i}.png")
        files.append(tmp_path / f"{i}.png")
    seen, done = set(), threading.Event()

    def watch():
        while not done.is_set():
            seen.add(Image.MAX_IMAGE_PIXELS)

    def load():
        for _ in range(60):
            for f in files:
                load_array(f)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        watcher = threading.Thread(target=watch)
        watcher.start()
        loaders = [threading.Thread(target=load) for _ in range(3)]
        for t in loaders:
            t.start()
        for t in loaders:
            t.join()
        done.set()
        watcher.join()
    finally:
        sys.setswitchinterval(switch)
    assert seen == {limit} and Image.MAX_IMAGE_PIXELS == limit
    Image.new("1", (14000, 14000)).save(tmp_path / "huge.png")  # 196 MP: over Pillow's own limit
    with pytest.raises(BrushworkError, match="allow-huge"):
        load_array(tmp_path / "huge.png")
    from brushwork.core.images import _open

    assert _open(tmp_path / "huge.png", allow_huge=True).size == (14000, 14000)  # (not decoded: 2 GB as floats)
    assert Image.MAX_IMAGE_PIXELS == limit
