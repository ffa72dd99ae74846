"""The Python API as a new user meets it: clear errors up front, arrays understood or refused, help."""
import dataclasses
import inspect
import re

import numpy as np
import pytest
from PIL import Image

import brushwork
from brushwork import BrushworkError, api
from brushwork.loaders import gallery
from brushwork.core import budget
from brushwork.core.images import load_image
from brushwork.methods import adain, attention, lapstyle, optimize

METHOD_OPTIONS = {"lapstyle": lapstyle.Options, "adain": adain.Options, "optimize": optimize.Options,
                  "attention": attention.Options}


def error_of(**kwargs) -> str:
    kwargs.setdefault("style", "starry-night")
    with pytest.raises(BrushworkError) as exc:
        brushwork.stylize(kwargs.pop("content", "sample:tubingen"), kwargs.pop("style"), **kwargs)
    message = str(exc.value)
    assert "\n" not in message
    return message


def largest_in(message: str, name: str) -> float:
    found = re.search(rf"the largest {name} that fits is ([\d.]+)", message)
    assert found, message
    return float(found.group(1))


@pytest.mark.parametrize("method", ["lapstyle", "adain", "optimize"])
def test_size_that_cannot_fit_is_refused_with_the_largest_that_does(method):
    """size=100000 (90 GB and more) is refused before any work, naming a size that the same guard accepts."""
    message = error_of(method=method, size=100000)
    assert message.startswith("size 100000 needs about") and "GiB" in message
    best = int(largest_in(message, "size"))
    assert 16 <= best < 100000
    h, w = load_image(gallery.resolve("sample:tubingen")).shape[-2:]
    opts = api.Stylizer(method).options(method, size=best)
    assert budget.estimate(method, opts, h, w) <= budget.available() * 1.2  # memory moves a little between calls


@pytest.mark.parametrize("method,option", [("lapstyle", "style_size"), ("adain", "style_size"),
                                           ("lapstyle", "draft_size")])
def test_style_and_draft_sizes_that_cannot_fit_are_refused(method, option):
    """style_size / draft_size far beyond memory: refused, naming the option and its largest workable value."""
    message = error_of(method=method, size=60000 if option == "draft_size" else 512, **{option: 60000})
    assert message.startswith(f"{option} 60000") or message.startswith("size 60000"), message
    assert "largest" in message


def test_style_scale_of_optimize_is_guarded():
    message = error_of(method="optimize", size=512, style_scale=400.0)
    assert message.startswith("style_scale 400.0")
    assert 0 < largest_in(message, "style_scale") < 400


@pytest.mark.parametrize("method", ["lapstyle", "adain", "optimize"])
def test_largest_size_is_exact_for_a_given_budget(method):
    """The size the error names fits the budget and one pixel more does not (no machine dependence)."""
    h, w = 576, 768
    opts = api.Stylizer(method).options(method, size=100000)
    limit = 3 * budget.GiB
    with pytest.raises(BrushworkError) as exc:
        budget.check(method, opts, h, w, budget=limit)
    best = int(largest_in(str(exc.value), "size"))
    assert budget.estimate(method, dataclasses.replace(opts, size=best), h, w) <= limit
    assert budget.estimate(method, dataclasses.replace(opts, size=best + 1), h, w) > limit
    budget.check(method, dataclasses.replace(opts, size=best), h, w, budget=limit)  # accepted


def test_a_normal_request_passes_the_guard():
    out = brushwork.stylize("sample:tubingen", "starry-night", size=64)
    assert max(out.size) == 64


def test_unknown_names_suggest_the_closest_built_in():
    assert "did you mean starry-night?" in error_of(style="starry-nite")
    assert "did you mean the-scream?" in error_of(style="the_scream")
    assert "did you mean sample:tubingen?" in error_of(content="sample:tubigen")
    assert "did you mean starry-night?" in error_of(color_from="starry-nigth")
    assert "did you mean" not in error_of(style="/no/such/folder/painting.jpg")


def test_count_checks_live_in_the_api():
    """One weight and one mask per style, checked by the API itself (the CLI and batch call the same check)."""
    assert "give one per style" in error_of(style=["starry-night", "great-wave"], style_weights=[1.0])
    assert "give one mask per style" in error_of(style=["starry-night", "great-wave"], masks=["sample:tubingen"])
    assert "not all zero" in error_of(style=["starry-night", "great-wave"], style_weights=[0, 0])
    assert api.check_blend(2, ["0.7", 0.3]) == [0.7, 0.3]


def test_mask_of_another_aspect_ratio_is_an_error_naming_both_sizes():
    photo = np.asarray(Image.open(gallery.resolve("sample:tubingen")))  # 768x576
    h, w = photo.shape[:2]
    square = np.ones((200, 200), np.uint8) * 255
    message = error_of(style=["starry-night", "great-wave"], masks=[square, square])
    assert "mask 1 is 200x200" in message and f"the photo is {w}x{h}" in message


def test_mask_of_the_same_aspect_at_another_resolution_is_resized():
    """A half-resolution mask paints the same regions as the full-resolution one."""
    h, w = 576, 768
    left = np.zeros((h, w), np.uint8)
    left[:, : w // 2] = 255
    small = np.asarray(Image.fromarray(left).resize((w // 4, h // 4), Image.NEAREST))
    st = brushwork.Stylizer("lapstyle", progress=False)
    kwargs = dict(style=["starry-night", "great-wave"], size=128)
    full = st.stylize_tensor("sample:tubingen", masks=[left, 255 - left], **kwargs)
    quarter = st.stylize_tensor("sample:tubingen", masks=[small, 255 - small], **kwargs)
    only_first = st.stylize_tensor("sample:tubingen", style_weights=[1, 0], **kwargs)
    assert (full - quarter).abs().mean() < 0.01
    assert (full - only_first).abs().mean() > 0.02  # the masks do matter: the right half has the other style


def test_float_array_in_0_255_is_refused_not_whitened():
    photo = np.asarray(Image.open(gallery.resolve("sample:tubingen")))
    message = error_of(content=photo.astype(np.float32))
    assert "0..1" in message and "255" in message
    as_uint8 = brushwork.stylize(photo, "starry-night", size=64)
    as_unit_float = brushwork.stylize(photo.astype(np.float32) / 255, "starry-night", size=64)
    assert np.abs(np.asarray(as_uint8, np.float32) - np.asarray(as_unit_float, np.float32)).max() <= 1


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_arrays_are_errors(bad):
    arr = np.random.default_rng(0).random((64, 64, 3), dtype=np.float32)
    arr[5, 5, 1] = bad
    assert "NaN or infinite" in error_of(content=arr)
    assert "NaN or infinite" in error_of(style=arr)


def test_empty_file_says_it_is_empty(tmp_path):
    empty = tmp_path / "photo.jpg"
    empty.touch()
    assert "photo.jpg is empty" in error_of(content=empty)
    assert "photo.jpg is empty" in error_of(style=empty)


def test_help_explains_every_common_option_with_its_default():
    """help(brushwork.stylize) names each common option with the default the code has, and each method's Options."""
    doc = inspect.getdoc(brushwork.stylize)
    common = {"size", "strength", "style_weights", "masks", "preserve_color", "color_from", "style_scale", "seed",
              "precision", "allow_huge", "callback", "backend", "feather", "quality"}
    sig = inspect.signature(api.Stylizer.stylize_tensor).parameters
    assert {n for n in sig if sig[n].kind == inspect.Parameter.KEYWORD_ONLY} - {"method"} <= common
    for name in common:
        assert re.search(rf"^\s+{name}[=:]", doc, re.M), name
    for field in ("size", "style_scale", "seed", "precision"):
        defaults = {getattr(o(), field) for o in METHOD_OPTIONS.values()}
        assert len(defaults) == 1, field
        value = next(iter(defaults))
        assert (f'{field}="{value}"' if isinstance(value, str) else f"{field}={value!r}") in doc, field
    strengths = {m: o().strength for m, o in METHOD_OPTIONS.items()}
    assert len(set(strengths.values())) == 1 and f"default {strengths['lapstyle']} for every method" in doc
    for method in METHOD_OPTIONS:
        assert f"brushwork.methods.{method}.Options" in doc
        assert f'"{method}"' in brushwork.__doc__  # the package docstring names every method
    assert set(METHOD_OPTIONS) == set(api.METHODS)


def test_unknown_option_names_the_known_ones():
    message = error_of(method="lapstyle", iterations=5)
    assert "iterations" in message and "draft_size" in message
