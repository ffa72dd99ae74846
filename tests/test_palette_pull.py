"""Clean colours (core/palette_pull.py): colours the painting has nothing like are pulled in to its nearest."""
import pytest
import torch

from brushwork import Stylizer
from brushwork.core.images import list_images, load_image
from brushwork.core.palette_pull import RADIUS, pull_table, pull_to_palette
from brushwork.evaluation.artifacts import measure_maps

from conftest import EVAL_CONTENT, EVAL_STYLE, check_strength_zero_is_the_photo


def lab(img: torch.Tensor):
    from skimage.color import rgb2lab

    return rgb2lab(img[0].permute(1, 2, 0).clamp(0, 1).numpy())


def test_a_foreign_tint_is_pulled_in_and_the_paintings_colours_stay():
    """A clean result (a crop of the painting) with a magenta patch the painting has nowhere: the foreign-colour
    measure falls from the patch's share to at most 0.3x (0.25x measured; smoothing before the measure mixes the
    patch's edge), the patch ends within RADIUS + 2 Delta-E of the painting's colours, the rest moves by under 1
    Delta-E on average; share 0 changes nothing."""
    painting = load_image(list_images(EVAL_STYLE)[6], size=128)  # Monet's sunrise: blues, greys and orange
    clean = painting[..., :96, :96]
    tinted = clean.clone()
    tinted[..., 24:72, 24:72] = 0.6 * torch.tensor([0.85, 0.1, 0.75])[None, :, None, None] + 0.4 * clean[..., 24:72, 24:72]
    table = pull_table(painting)
    out = pull_to_palette(tinted, table)

    def foreign(x):
        return measure_maps(x, clean, painting, ["foreign_colors"])["foreign_colors"][0]

    assert foreign(tinted) > 0.2
    assert foreign(out) < 0.3 * foreign(tinted), (foreign(out), foreign(tinted))
    from scipy.spatial import cKDTree

    near, _ = cKDTree(lab(painting).reshape(-1, 3)).query(lab(out[..., 24:72, 24:72]).reshape(-1, 3))
    assert near.mean() < RADIUS + 2, near.mean()
    rest = torch.ones(96, 96, dtype=torch.bool)
    rest[24:72, 24:72] = False
    moved = ((lab(out) - lab(clean)) ** 2).sum(-1) ** 0.5
    assert moved[rest.numpy()].mean() < 1.0, moved[rest.numpy()].mean()
    assert torch.equal(pull_to_palette(tinted, table, 0.0), tinted.clamp(0, 1))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lapstyle", "attention"])
def test_clean_colors_remove_foreign_and_photo_colours(method):
    """The default `clean_colors` (1.0) against 0 on the first four eval pairs at 512 px: the foreign-colour and the
    photo-colour measures fall to under a tenth (on all ten pairs: lapstyle 0.0031 -> 0.0001, attention 0.0037 ->
    0.0002), while the halo measure does not rise; strength 0 still gives back the photo."""
    st = Stylizer(method, progress=False)
    names = ["foreign_colors", "photo_colors", "halos"]
    sums = {share: dict.fromkeys(names, 0.0) for share in (1.0, 0.0)}
    pairs = list(zip(list_images(EVAL_CONTENT), list_images(EVAL_STYLE)))[:4]
    for photo_file, painting_file in pairs:
        photo, painting = load_image(photo_file, size=512), load_image(painting_file)
        for share in sums:
            out = st.stylize_tensor(photo, painting, size=512, clean_colors=share)
            for name, (value, _) in measure_maps(out, photo, painting, names).items():
                sums[share][name] += value
    on, off = sums[1.0], sums[0.0]
    assert on["foreign_colors"] < 0.1 * off["foreign_colors"], sums
    assert on["photo_colors"] < 0.1 * off["photo_colors"], sums
    assert on["halos"] <= off["halos"], sums
    check_strength_zero_is_the_photo(st, *pairs[0])
