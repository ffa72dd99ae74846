"""Shared fixtures: the real encoder (fetched once into BRUSHWORK_HOME) and the real eval images in ../shared."""
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
EVAL_CONTENT = SHARED / "eval" / "content"
EVAL_STYLE = SHARED / "eval" / "style"
# a trained DraftNet (the parent the shipped factored draft was distilled from): a real network for the factoring,
# distillation and fade tests; kept beside the tests, not shipped in the package
DRAFT_PARENT = REPO / "tests" / "data" / "lapstyle_draft_full.safetensors"

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


def pytest_configure(config):
    from brushwork.loaders import weights

    weights.ensure("hed-vgg16")  # the real networks, downloaded and converted once per machine
    weights.ensure("efficientnet-lite1")


@pytest.fixture(scope="session")
def eval_content():
    files = sorted(EVAL_CONTENT.iterdir())
    assert files, f"no eval content in {EVAL_CONTENT}"
    return files


@pytest.fixture(scope="session")
def eval_style():
    files = sorted(EVAL_STYLE.iterdir())
    assert files, f"no eval styles in {EVAL_STYLE}"
    return files


@pytest.fixture(scope="session")
def encoder():
    from brushwork.core.encoder import shared_encoder

    return shared_encoder()


@pytest.fixture
def cli(capsys):
    """The console entry point `brushwork.cli.main` run in this process (the same code, without a 10 s start):
    a CompletedProcess with its exit code, stdout and stderr."""
    import subprocess

    from brushwork.cli import main

    def call(*args):
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    return call


def find(files, part):
    return next(f for f in files if part in f.name)


def left_half_mask(like):
    """A (1, 1, H, W) mask: 1 on the left half of `like`, 0 on the right."""
    import torch

    h, w = like.shape[-2:]
    mask = torch.zeros(1, 1, h, w)
    mask[..., : w // 2] = 1
    return mask


def assert_halves_follow_styles(out, left_style, right_style):
    """Each half's mean colour is nearer its own style's than the other style's (8 px margin at the seam)."""
    from brushwork.core.images import load_image

    w = out.shape[-1]
    a, b = load_image(left_style).mean((0, 2, 3)), load_image(right_style).mean((0, 2, 3))
    left, right = out[..., : w // 2 - 8].mean((0, 2, 3)), out[..., w // 2 + 8:].mean((0, 2, 3))
    assert (left - a).norm() < (left - b).norm()
    assert (right - b).norm() < (right - a).norm()


def check_strength_zero_is_the_photo(st, content_file, style_file, size=256):
    """strength 0 gives the photo back exactly (by construction: up to float rounding), strength 1 does not."""
    from brushwork.core.images import load_image

    content = load_image(content_file, size=size)
    out0 = st.stylize_tensor(content_file, style_file, size=size, strength=0.0)
    out1 = st.stylize_tensor(content_file, style_file, size=size, strength=1.0)
    assert (out0 - content).abs().max() < 1e-5
    assert (out1 - content).abs().mean() > 0.05


def check_blend_and_masks(st, content_file, style_files, size):
    """Masked halves follow their own style's colours; blend weights change the picture."""
    from brushwork.core.images import load_image

    blue, warm = find(style_files, "starry"), find(style_files, "impression")
    left = left_half_mask(load_image(content_file, size=size))
    out = st.stylize_tensor(content_file, [blue, warm], masks=[left, 1 - left], size=size)
    assert_halves_follow_styles(out, blue, warm)
    mixed = st.stylize_tensor(content_file, [blue, warm], style_weights=[0.5, 0.5], size=size)
    only_blue = st.stylize_tensor(content_file, [blue, warm], style_weights=[1, 0], size=size)
    assert (mixed - only_blue).abs().mean() > 0.01
