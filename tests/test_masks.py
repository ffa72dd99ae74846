"""Region masks: a soft seam between regions, each region at its own style's full strength, no unpainted gaps."""
import pytest
import torch

from brushwork import api
from brushwork.core.images import load_image
from brushwork.core.masks import feather_sigma, region_weights
from conftest import EVAL_CONTENT, EVAL_STYLE, find

PHOTO = find(sorted(EVAL_CONTENT.iterdir()), "kodim23")
STARRY = find(sorted(EVAL_STYLE.iterdir()), "starry")
WAVE = find(sorted(EVAL_STYLE.iterdir()), "wave")
SIZE = 384


def halves(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    left = torch.zeros(1, 1, h, w)
    left[..., : w // 2] = 1
    return left, 1 - left


def edge_width(profile: torch.Tensor) -> int:
    """Pixels over which a falling 1 -> 0 profile goes from 0.9 to 0.1."""
    return int(((profile < 0.9) & (profile > 0.1)).sum())


def test_region_weights_share_every_pixel_with_a_soft_edge():
    h, w = 288, 384
    left, right = halves(h, w)
    a, b = region_weights([left, right])
    assert torch.allclose(a + b, torch.ones_like(a), atol=1e-5)
    sigma = feather_sigma((h, w))
    assert edge_width(a[0, 0, h // 2]) >= 2 * sigma  # about 2.5 sigma from 90% to 10%
    assert a[..., : w // 2 - round(4 * sigma)].min() > 0.999 and b[..., w // 2 + round(4 * sigma):].min() > 0.999
    hard, _ = region_weights([left, right], sigma=0)
    assert edge_width(hard[0, 0, h // 2]) == 0


def test_a_gap_between_masks_goes_to_the_styles_by_weight():
    h, w = 96, 128
    left, right = torch.zeros(1, 1, h, w), torch.zeros(1, 1, h, w)
    left[..., :40], right[..., 88:] = 1, 1
    a, b = region_weights([left, right], [3.0, 1.0])
    assert torch.allclose(a + b, torch.ones_like(a), atol=1e-5)
    assert a[..., 64].mean().item() == pytest.approx(0.75, abs=0.01)  # far from both masks: the blend weights
    overlap = region_weights([torch.ones(1, 1, h, w), torch.ones(1, 1, h, w)])
    assert torch.allclose(overlap[0], torch.full_like(overlap[0], 0.5))


def column_jumps(out: torch.Tensor) -> torch.Tensor:
    """Colour change from each column's mean to the next."""
    col = out.mean(2)[0]
    return (col[:, 1:] - col[:, :-1]).norm(dim=0)


def colour_stats(t: torch.Tensor) -> torch.Tensor:
    flat = t.flatten(2)[0]
    return torch.cat([flat.mean(1), flat.std(1)])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lapstyle", "adain"])
def test_seam_is_soft_and_each_region_has_its_style_at_full_strength(method):
    """Starry Night on the left, The Wave on the right. The hard mask made the seam the sharpest column-to-column
    step in the picture (2-7x the largest elsewhere on the eval photos); feathered, it is no sharper than the
    picture's own steps. Each half's colour statistics are its own painting's (nearer them than the other
    painting's, and as near as that style alone paints the same half)."""
    st = api.Stylizer(method, progress=False)
    content = load_image(PHOTO, size=SIZE)
    h, w = content.shape[-2:]
    masks = list(halves(h, w))
    soft = st.stylize_tensor(content, [STARRY, WAVE], masks=masks, size=SIZE)
    hard = st.stylize_tensor(content, [STARRY, WAVE], masks=masks, size=SIZE, feather=0)
    near = slice(w // 2 - 20, w // 2 + 20)
    jumps_soft, jumps_hard = column_jumps(soft), column_jumps(hard)
    rest = torch.cat([jumps_soft[: w // 2 - 40], jumps_soft[w // 2 + 40:]]).max()
    assert jumps_soft[near].max() < 1.3 * rest  # feathered: no sharper than the picture's own steps
    if method == "adain":  # lapstyle's per-region palette steps leave no column step at a hard seam to compare with
        assert jumps_hard[near].max() > 1.5 * rest  # the measure sees the hard seam
        assert jumps_soft[near].max() < 0.5 * jumps_hard[near].max()


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lapstyle", "adain"])
def test_each_region_has_its_own_painting_s_colours(method):
    """Starry Night left, The Wave right: each half's colour mean and spread are its own painting's (nearer them
    than the other painting's, and about as near as that style alone paints the same half). The Wave's half came
    out pale: its palette transport was learned on the whole picture, whose dark blue half took the Wave's darks."""
    st = api.Stylizer(method, progress=False)
    content = load_image(PHOTO, size=SIZE)
    h, w = content.shape[-2:]
    soft = st.stylize_tensor(content, [STARRY, WAVE], masks=list(halves(h, w)), size=SIZE)
    paintings = {s: colour_stats(load_image(s, size=256)) for s in (STARRY, WAVE)}
    for style, other, cols in ((STARRY, WAVE, slice(0, w // 2 - 24)), (WAVE, STARRY, slice(w // 2 + 24, w))):
        region = colour_stats(soft[..., cols])
        alone = colour_stats(st.stylize_tensor(content, style, size=SIZE)[..., cols])
        own = (region - paintings[style]).norm()
        assert own < (region - paintings[other]).norm()
        assert own < (alone - paintings[style]).norm() + 0.03


def test_optimize_starts_each_region_in_its_own_painting_s_palette():
    """optimize's "matched" start: each masked region's colours moved onto its painting's whole palette (the
    transport learned on that region; on the whole photo the left half kept a third of Starry Night's colours)."""
    from brushwork.methods import optimize

    content = load_image(PHOTO, size=256)
    h, w = content.shape[-2:]
    left, right = halves(h, w)
    styles = [load_image(STARRY, size=256), load_image(WAVE, size=256)]
    opts = optimize.Options(init="matched")
    opts.check()
    start = optimize._init_image(opts, content, styles, [0.5, 0.5], [left, right], torch.Generator())
    for painting, cols in ((styles[0], slice(0, w // 2)), (styles[1], slice(w // 2, w))):
        assert (colour_stats(start[..., cols]) - colour_stats(painting)).norm() < 0.03


def test_transfer_palette_learns_on_the_given_pixels_only():
    from brushwork.core.color import transfer_palette

    content = load_image(PHOTO, size=128)
    painting = load_image(WAVE, size=128)
    h, w = content.shape[-2:]
    left, _ = halves(h, w)
    region = transfer_palette(content, painting, where=left)[..., : w // 2]
    whole = transfer_palette(content, painting)[..., : w // 2]
    target = colour_stats(painting)
    assert (colour_stats(region) - target).norm() < 0.5 * (colour_stats(whole) - target).norm()


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lapstyle", "adain"])
def test_a_gap_no_mask_covers_is_painted_not_left_flat(method):
    """Masks that leave the middle fifth uncovered: before, that strip was painted a flat dark grey."""
    st = api.Stylizer(method, progress=False)
    content = load_image(PHOTO, size=SIZE)
    h, w = content.shape[-2:]
    left, right = torch.zeros(1, 1, h, w), torch.zeros(1, 1, h, w)
    left[..., : int(w * 0.35)], right[..., int(w * 0.65):] = 1, 1
    out = st.stylize_tensor(content, [STARRY, WAVE], masks=[left, right], size=SIZE)
    blend = st.stylize_tensor(content, [STARRY, WAVE], size=SIZE)
    mid = slice(int(w * 0.42), int(w * 0.58))
    assert out[..., mid].std() > 0.1
    assert (out[..., mid] - blend[..., mid]).abs().mean() < 0.08  # the styles blended there, as without masks


def test_transfer_palette_of_a_small_picture_maps_its_pixels_once():
    """A picture under twice the sample size is its own sample: the map learned on it is applied to it once, and
    gives the same colours as learning on every pixel through `where` and applying the map to the picture."""
    from brushwork.core.color import transfer_palette

    content = load_image(PHOTO, size=80)  # an 80 px draft: under 8,192 pixels
    painting = load_image(WAVE, size=128)
    everywhere = torch.ones(1, 1, *content.shape[-2:])
    once = transfer_palette(content, painting)
    assert (once - transfer_palette(content, painting, where=everywhere)).abs().max() < 1e-4
    assert (once - content).abs().mean() > 0.02  # and it did recolour


@pytest.mark.parametrize("size", [96, 256])  # ~6,900 pixels: sampled at stride 1; ~49,000: stride 12
def test_transfer_palette_in_chunks_is_the_same_picture(size):
    """Big pictures go through the learned map a chunk of pixels at a time: the chunk size changes nothing."""
    from brushwork.core.color import transfer_palette

    content = load_image(PHOTO, size=size)
    painting = load_image(WAVE, size=128)
    whole = transfer_palette(content, painting)
    assert torch.equal(whole, transfer_palette(content, painting, chunk=1000))
    assert whole.is_contiguous() and (whole - content).abs().mean() > 0.02
