"""Evaluation metrics on real pictures: zero where they must be, and moving the right way with style strength."""
import pytest
import torch

from brushwork import Stylizer
from brushwork.evaluation import metrics as M
from brushwork.core.images import load_image, resize, resize_long_side

from conftest import find


@pytest.fixture(scope="module")
def photo(eval_content):
    return load_image(eval_content[0], size=96)


@pytest.fixture(scope="module")
def starry(eval_style):
    return load_image(find(eval_style, "starry"))


def test_identical_images_are_perfect_scores(photo, encoder):
    assert M.content_loss(photo, photo, encoder) == pytest.approx(0.0, abs=1e-6)
    assert M.ssim(photo, photo) == pytest.approx(1.0)
    assert M.color_distance(photo, photo) == pytest.approx(0.0, abs=1e-9)
    per_layer = M.style_losses(photo, photo, "gram", encoder)
    assert set(per_layer) == {*M.STYLE_LAYERS, "total"}
    assert all(v == pytest.approx(0.0, abs=1e-6) for v in per_layer.values())
    scores = M.all_metrics(photo, photo, photo, encoder)
    assert scores["content_loss"] == pytest.approx(0.0, abs=1e-6) and scores["ssim"] == pytest.approx(1.0)
    assert scores["style_gram"] == pytest.approx(0.0, abs=1e-6)
    assert scores["style_meanstd"] == pytest.approx(0.0, abs=1e-6)


def test_metrics_separate_photo_from_painting(photo, starry, encoder):
    other = resize(starry, tuple(photo.shape[-2:]))
    assert M.content_loss(other, photo, encoder) > 0.5
    assert M.ssim(other, photo) < 0.5
    # the painting at another size keeps its palette; the photo's palette is far from it
    assert M.color_distance(resize_long_side(starry, 300), starry) < 0.35 * M.color_distance(photo, starry)
    total = M.style_losses(photo, starry, "meanstd", encoder)
    assert total["total"] == pytest.approx(sum(total[k] for k in M.STYLE_LAYERS) / len(M.STYLE_LAYERS))
    # inputs of another size are resized to the output's (content) or its long side (style)
    big = resize(photo, (160, 160))
    assert M.content_loss(photo, big, encoder) < 0.1
    with pytest.raises(ValueError):
        M.style_losses(photo, starry, "nope", encoder)


@pytest.mark.slow
def test_stronger_style_moves_metrics_the_right_way(eval_content, eval_style, encoder):
    st = Stylizer("optimize", progress=False)
    style_path = find(eval_style, "starry")
    content = load_image(eval_content[0], size=64)
    style = load_image(style_path)
    weak, strong = (M.all_metrics(st.stylize_tensor(eval_content[0], style_path, size=64, strength=s, iterations=25),
                                  content, style, encoder) for s in (0.2, 0.9))
    # optimize works on EfficientNet-Lite1 by default: its own judge must see the stronger style
    assert strong["lite_style"] < weak["lite_style"]
    assert strong["lite_content"] > weak["lite_content"]
    assert strong["color_swd"] < weak["color_swd"]


def test_measure_reports_time_and_peak_memory():
    def work(n_mb):
        block = torch.ones(n_mb * 2**18)  # n_mb MB of float32, touched
        return float(block.sum())

    result, cost = M.measure(work, 150)
    assert result == 150 * 2**18
    assert cost.seconds > 0
    assert 120 < cost.peak_rss_mb < 400
    _, idle = M.measure(lambda: None)
    assert idle.peak_rss_mb < 50


def test_every_metric_has_a_direction():
    for key in ("content_loss", "style_gram", "style_meanstd", "ssim", "color_swd", "seconds", "peak_rss_mb"):
        label, direction = M.DIRECTIONS[key]
        assert label and direction in (-1, 1)
    assert M.DIRECTIONS["ssim"][1] == 1 and M.DIRECTIONS["content_loss"][1] == -1
