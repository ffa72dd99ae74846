"""The controls through the CLI (--preview, --color-from, --bits 16, --mask), `brushwork train` (--init-from,
--export, argument errors) and `api.stylize()`: real networks, real eval images, real files."""

import numpy as np
import pytest
import torch
from PIL import Image

import brushwork
from brushwork.core.images import load_image, save_image

from conftest import EVAL_CONTENT, EVAL_STYLE, REPO, assert_halves_follow_styles, find, left_half_mask

SHIPPED_DRAFT = REPO / "brushwork" / "assets" / "models" / "lapstyle_draft.safetensors"



def assert_one_line_error(proc, *words):
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("brushwork: error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w in lines[0], lines[0]


def mean_colour(img) -> torch.Tensor:
    return img.mean((0, 2, 3))


def test_api_stylize_returns_pil_image_of_requested_size(eval_content, eval_style):
    img = brushwork.stylize(eval_content[0], eval_style[0], size=96, seed=0)
    assert isinstance(img, Image.Image) and img.mode == "RGB"
    src = Image.open(eval_content[0])
    assert max(img.size) == 96
    assert abs(img.size[0] / img.size[1] - src.size[0] / src.size[1]) < 0.05  # aspect ratio kept
    arr = np.asarray(img, dtype=np.float32) / 255
    photo = np.asarray(src.convert("RGB").resize(img.size, Image.BILINEAR), dtype=np.float32) / 255
    assert np.abs(arr - photo).mean() > 0.03  # painted, not the photo passed through


def test_preview_is_written_through_the_cli(tmp_path, eval_content, cli):
    out, preview = tmp_path / "out.png", tmp_path / "preview.png"
    p = cli("stylize", eval_content[1], "--style", "starry-night", "--method", "optimize", "--size", "64",
            "--iterations", "6", "--preview", preview, "--preview-every", "2", "-q", "-o", out)
    assert p.returncode == 0, p.stderr
    assert out.is_file() and preview.is_file()
    assert max(Image.open(preview).size) == 64
    assert not list(tmp_path.glob("*.tmp*"))  # temporary names renamed away


def test_preview_every_for_another_method_is_refused(tmp_path, eval_content, cli):
    out = tmp_path / "out.png"
    p = cli("stylize", eval_content[1], "--style", "starry-night", "--method", "lapstyle", "--size", "64",
            "--preview", tmp_path / "p.png", "--preview-every", "2", "-q", "-o", out)
    assert_one_line_error(p, "--preview-every", "optimize")
    assert not out.exists()


def test_color_from_takes_the_other_pictures_colours(tmp_path, eval_content, eval_style, cli):
    blue, warm = find(eval_style, "starry"), find(eval_style, "impression")
    plain, recoloured = tmp_path / "plain.png", tmp_path / "recoloured.png"
    base = ("stylize", eval_content[2], "--style", blue, "--size", "128", "-q")
    assert cli(*base, "-o", plain).returncode == 0
    p = cli(*base, "--color-from", warm, "-o", recoloured)
    assert p.returncode == 0, p.stderr
    target = mean_colour(load_image(warm))
    a, b = mean_colour(load_image(plain)), mean_colour(load_image(recoloured))
    assert (b - target).norm() < 0.5 * (a - target).norm()


def test_bits_16_writes_a_16_bit_png(tmp_path, eval_content, cli):
    import cv2

    out = tmp_path / "deep.png"
    p = cli("stylize", eval_content[3], "--style", "starry-night", "--size", "96", "--bits", "16", "-q", "-o", out)
    assert p.returncode == 0, p.stderr
    arr = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert arr.dtype == np.uint16 and arr.ndim == 3 and max(arr.shape[:2]) == 96
    assert (arr % 257 != 0).mean() > 0.5  # real 16-bit values, not 8-bit ones scaled up


def test_bad_bits_is_one_line(tmp_path, eval_content, cli):
    p = cli("stylize", eval_content[3], "--style", "starry-night", "--bits", "12", "-q", "-o", tmp_path / "o.png")
    assert_one_line_error(p, "--bits")


def test_masks_through_the_cli_give_each_half_its_style(tmp_path, eval_content, eval_style, cli):
    blue, warm = find(eval_style, "starry"), find(eval_style, "impression")
    left = left_half_mask(load_image(eval_content[4], size=128))
    save_image(left.expand(1, 3, -1, -1), tmp_path / "left.png")
    save_image(1 - left.expand(1, 3, -1, -1), tmp_path / "right.png")
    out = tmp_path / "regions.png"
    p = cli("stylize", eval_content[4], "--style", blue, "--style", warm, "--mask", tmp_path / "left.png",
            "--mask", tmp_path / "right.png", "--size", "128", "-q", "-o", out)
    assert p.returncode == 0, p.stderr
    assert_halves_follow_styles(load_image(out), blue, warm)


@pytest.fixture(scope="module")
def tiny_sets(tmp_path_factory):
    """Two eval photos and two paintings in their own folders (training reads whole folders)."""
    root = tmp_path_factory.mktemp("sets")
    for name, src in (("content", EVAL_CONTENT), ("style", EVAL_STYLE)):
        (root / name).mkdir()
        for f in sorted(src.iterdir())[:2]:
            (root / name / f.name).write_bytes(f.read_bytes())
    return root / "content", root / "style"


def test_train_init_from_and_export(tmp_path, tiny_sets, cli):
    """A 2-step AdAIN run from the shipped decoder: the export exists, loads, moved off the init, stayed near it."""
    from safetensors.torch import load_file

    content, style = tiny_sets
    export = tmp_path / "mine.safetensors"
    p = cli("train", "lapstyle-draft", "--content", content, "--style", style, "--run-dir", tmp_path / "run", "--iters", "2",
            "--batch", "1", "--crop", "64", "--load-size", "96", "--threads", "1", "--eval-content", content,
            "--eval-style", style, "--init-from", SHIPPED_DRAFT, "--export", export)
    assert p.returncode == 0, p.stderr
    assert export.is_file()
    init, got = load_file(str(SHIPPED_DRAFT)), load_file(str(export))
    assert got.keys() == init.keys()
    diffs = [(got[k].float() - init[k].float()).abs().max().item() for k in init]
    # trained from the --init-from weights: Adam's first steps move each weight by about the learning rate
    # (1e-4) a step, so after 2 steps most tensors moved by one to two steps (give or take fp16 rounding), none
    # by much more (a random start would be ~0.1 away everywhere)
    moved = [d for d in diffs if d > 0.5e-4]
    assert len(moved) > 0.8 * len(diffs), sorted(diffs)
    assert max(diffs) < 3e-4, max(diffs)
    from brushwork.nets.lapstyle import draft_design, load_draft

    dec = load_draft(str(export))  # the export loads as the model it trained (strict keys), of the shipped design
    assert draft_design(dec.state_dict()) == draft_design(init)
    assert all(torch.isfinite(v).all() for v in dec.state_dict().values())


@pytest.mark.parametrize("args,needle", [
    (("bogus",), "unknown model"),
    (("adain", "--content", "{missing}"), "does not exist"),
    (("lapstyle-revision", "--levels", "0"), "--levels"),
])
def test_train_argument_errors_are_one_line(tmp_path, tiny_sets, cli, args, needle):
    content, style = tiny_sets
    args = [a.format(missing=tmp_path / "nowhere") for a in args]
    if "--content" not in args:
        args += ["--content", str(content)]
    p = cli("train", *args, "--style", style, "--run-dir", tmp_path / "run", "--iters", "1")
    assert_one_line_error(p, needle)
    assert not (tmp_path / "run").exists()
