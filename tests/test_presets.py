"""Quality presets: --quality fast|balanced|best (and quality= in the API) stand for a method and its options, with
their time stated; anything the user gives explicitly wins."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import brushwork
from brushwork import BrushworkError, api
from conftest import EVAL_CONTENT, EVAL_STYLE, find

PHOTO = find(sorted(EVAL_CONTENT.iterdir()), "chelsea")
STYLE = find(sorted(EVAL_STYLE.iterdir()), "starry")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "brushwork.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"})


def test_presets_name_a_method_and_its_options():
    assert api.apply_quality("fast", None, {}) == ("lapstyle", {"draft_size": 128})
    assert api.apply_quality("balanced", None, {}) == ("lapstyle", {})
    assert api.apply_quality("best", None, {}) == ("optimize", {"size": 512})
    assert api.apply_quality(None, None, {}) == (api.DEFAULT_METHOD, {})


def test_explicit_options_and_method_override_the_preset():
    assert api.apply_quality("fast", None, {"draft_size": 256, "size": 1024}) == ("lapstyle",
                                                                                  {"draft_size": 256, "size": 1024})
    assert api.apply_quality("best", None, {"size": 256, "iterations": 5}) == ("optimize",
                                                                               {"size": 256, "iterations": 5})
    assert api.apply_quality("best", "adain", {"size": 256}) == ("adain", {"size": 256})  # preset's options dropped
    assert api.apply_quality("fast", None, {"draft_size": None}) == ("lapstyle", {"draft_size": 128})


def test_unknown_preset_is_a_one_line_error():
    with pytest.raises(BrushworkError) as exc:
        brushwork.stylize(PHOTO, STYLE, quality="turbo", size=64)
    assert str(exc.value) == "unknown quality 'turbo'; choose one of fast, balanced, best"


def test_every_preset_states_its_time():
    for quality, (method, _, cost) in api.QUALITY.items():
        assert method in cost and " s" in cost and "about" in cost, (quality, cost)
    assert all(q in brushwork.stylize.__doc__ for q in ('"fast"', '"balanced"', '"best"'))


def test_fast_preset_paints_what_its_method_and_options_paint():
    fast = brushwork.stylize(PHOTO, STYLE, quality="fast", size=256)
    same = brushwork.stylize(PHOTO, STYLE, method="lapstyle", draft_size=128, size=256)
    default = brushwork.stylize(PHOTO, STYLE, size=256)
    assert np.array_equal(np.asarray(fast), np.asarray(same))
    assert not np.array_equal(np.asarray(fast), np.asarray(default))  # the preset did change the picture
    assert np.array_equal(np.asarray(brushwork.stylize(PHOTO, STYLE, quality="balanced", size=256)),
                          np.asarray(default))


@pytest.mark.slow
def test_stylizer_takes_a_preset_and_a_call_can_override_it():
    st = api.Stylizer(quality="best", progress=False)
    assert st.method == "optimize"
    best = st.stylize_tensor(PHOTO, STYLE, size=64, iterations=2)
    plain = api.Stylizer("optimize", progress=False).stylize_tensor(PHOTO, STYLE, size=64, iterations=2)
    assert torch.equal(best, plain)
    adain = st.stylize_tensor(PHOTO, STYLE, size=64, method="adain")
    assert torch.equal(adain, api.Stylizer("adain", progress=False).stylize_tensor(PHOTO, STYLE, size=64))
    fast = st.stylize_tensor(PHOTO, STYLE, size=128, quality="fast")
    assert torch.equal(fast, api.Stylizer(progress=False).stylize_tensor(PHOTO, STYLE, size=128, draft_size=128))


@pytest.mark.slow
def test_cli_quality_flag(tmp_path):
    fast, same = tmp_path / "fast.png", tmp_path / "same.png"
    p = run_cli("stylize", PHOTO, "-s", STYLE, "--quality", "fast", "--size", "128", "-q", "-o", fast)
    assert p.returncode == 0, p.stderr
    p = run_cli("stylize", PHOTO, "-s", STYLE, "--draft-size", "128", "--size", "128", "-q", "-o", same)
    assert p.returncode == 0, p.stderr
    assert np.array_equal(np.asarray(Image.open(fast)), np.asarray(Image.open(same)))
    best = run_cli("stylize", PHOTO, "-s", STYLE, "--quality", "best", "--iterations", "2", "--size", "64", "-q",
                   "-o", tmp_path / "best.png")
    assert best.returncode == 0, best.stderr  # --iterations belongs to the preset's method, optimize
    wrong = run_cli("stylize", PHOTO, "-s", STYLE, "--quality", "fast", "--iterations", "2", "-o", tmp_path / "x.png")
    assert wrong.returncode == 2 and "only applies to --method optimize" in wrong.stderr
    bad = run_cli("stylize", PHOTO, "-s", STYLE, "--quality", "turbo", "-o", tmp_path / "y.png")
    assert bad.returncode == 2 and bad.stderr.strip() == ("brushwork: error: unknown quality 'turbo'; choose one of "
                                                          "fast, balanced, best")
    helptext = " ".join(run_cli("stylize", "--help").stdout.split())
    assert "fast|balanced|best" in helptext and "~0.1 s" in helptext and "~15 s" in helptext


@pytest.mark.slow
def test_video_quality_flag(tmp_path):
    """`video --quality fast` paints the frames --draft-size 128 paints, and not the default's."""
    import av

    from test_video import cut

    clip = cut(tmp_path / "clip.mp4", frames=3, width=256)

    def frames(*extra):
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}.mp4"
        p = run_cli("video", clip, "-o", out, "-s", STYLE, "--size", "256", "--consistency", "0", "-q", *extra)
        assert p.returncode == 0, p.stderr
        with av.open(str(out)) as c:
            return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]).astype(np.float32)

    fast, same, default = frames("--quality", "fast"), frames("--draft-size", "128"), frames()
    assert fast.shape == same.shape == default.shape and len(fast) == 3
    assert np.abs(fast - same).mean() < 1.0
    assert np.abs(fast - default).mean() > 5.0
