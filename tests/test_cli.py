"""The CLI as a user meets it: real subprocesses, real files, one-line errors, nothing overwritten."""
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from conftest import find


def run(*args, env=None, cwd=None):
    e = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "brushwork.cli", *map(str, args)], capture_output=True, text=True,
                          env=e, cwd=cwd, timeout=600)


def assert_clean_error(proc, *words):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_stylize_writes_picture(tmp_path, eval_content):
    out = tmp_path / "out.jpg"
    p = run("stylize", eval_content[0], "--style", "starry-night", "--size", "64", "-q", "-o", out)
    assert p.returncode == 0, p.stderr
    im = Image.open(out)
    assert max(im.size) == 64


def test_draft_size_reaches_lapstyle(tmp_path, eval_content):
    """--draft-size 128 drafts at 128 px and revises up: a different picture of the same size as the default's."""
    outs = []
    for extra in ([], ["--draft-size", "128"]):
        outs.append(tmp_path / f"out{len(outs)}.png")
        p = run("stylize", eval_content[0], "--style", "starry-night", "--size", "256", "-q", "-o", outs[-1], *extra)
        assert p.returncode == 0, p.stderr
    a, b = (np.asarray(Image.open(o), dtype=np.float32) for o in outs)
    assert a.shape == b.shape and max(a.shape[:2]) == 256
    assert np.abs(a - b).mean() > 2  # out of 255


def test_missing_and_non_image_inputs(tmp_path, eval_content):
    assert_clean_error(run("stylize", tmp_path / "nope.jpg", "--style", "starry-night", "-o", tmp_path / "o.png"),
                       "nope.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    assert_clean_error(run("stylize", bad, "--style", "starry-night", "-o", tmp_path / "o.png", "--size", "32"),
                       "not an image")
    assert_clean_error(run("stylize", eval_content[0], "--style", "no-such-style", "-o", tmp_path / "o.png"),
                       "no-such-style")
    assert not (tmp_path / "o.png").exists()


def test_mismatched_counts(tmp_path, eval_content, eval_style):
    base = ["stylize", eval_content[0], "--style", eval_style[0], "--style", eval_style[1], "-o", tmp_path / "o.png"]
    assert_clean_error(run(*base, "--style-weights", "1"), "weights")
    assert_clean_error(run(*base, "--mask", eval_content[1]), "mask")
    assert_clean_error(run(*base, "--style-weights", "a,b"), "numbers")


def test_existing_output_is_not_touched(tmp_path, eval_content):
    out = tmp_path / "mine.png"
    out.write_bytes(b"precious")
    assert_clean_error(run("stylize", eval_content[0], "--style", "starry-night", "-o", out), "--overwrite")
    assert out.read_bytes() == b"precious"


def test_unwritable_directory(tmp_path, eval_content):
    assert_clean_error(run("stylize", eval_content[0], "--style", "starry-night", "-o", tmp_path / "no" / "o.png"),
                       "does not exist")
    if os.geteuid() != 0:  # root can write anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        assert_clean_error(run("stylize", eval_content[0], "--style", "starry-night", "-o", ro / "o.png"),
                           "not writable")


def test_weights_absent_while_offline(tmp_path, eval_content):
    (tmp_path / "links").mkdir()
    env = {"BRUSHWORK_HOME": str(tmp_path / "home"), "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path / "links"),
           "PIP_NO_CACHE_DIR": "1"}
    p = run("stylize", eval_content[0], "--style", "starry-night", "-o", tmp_path / "o.png", "--size", "32",
            env=env)
    assert_clean_error(p, "brushwork weights")
    assert not (tmp_path / "o.png").exists()


def test_bad_option_values(tmp_path, eval_content):
    assert_clean_error(run("stylize", eval_content[0], "--style", "starry-night", "-o", tmp_path / "o.png",
                           "--strength", "3"), "strength")
    assert_clean_error(run("stylize", eval_content[0], "--style", "starry-night", "-o", tmp_path / "o.png",
                           "--preserve-color", "purple"), "colour")
    assert_clean_error(run("stylize", eval_content[0], "--style", "starry-night", "-o", tmp_path / "o.png",
                           "--method", "magic"), "magic")
    assert_clean_error(run("stylize", eval_content[0], "--style", "starry-night", "-o", tmp_path / "o.png",
                           "--method", "adain", "--iterations", "5"), "--iterations only apply to --method optimize")
    assert_clean_error(run("stylize", eval_content[0], "--style", "starry-night", "-o", tmp_path / "o.png",
                           "--method", "adain", "--draft-size", "128"), "--draft-size only apply to --method lapstyle")
    assert_clean_error(run("stylize", eval_content[0], "--style", "starry-night", "-o", tmp_path / "o.png",
                           "--draft-size", "8"), "draft_size")


def test_styles_lists_gallery_and_writes_sheet(tmp_path):
    p = run("styles", "--sheet", tmp_path / "sheet.png")
    assert p.returncode == 0
    assert "starry-night" in p.stdout and "sample:tubingen" in p.stdout
    assert Image.open(tmp_path / "sheet.png").size[0] > 300


def test_weights_info_and_bad_import(tmp_path):
    p = run("weights", "info")
    assert p.returncode == 0 and "installed: True" in p.stdout
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"junk")
    assert_clean_error(run("weights", "import", junk), "SHA-256")


def test_learn_style_refuses_bad_requests(tmp_path, eval_style):
    assert_clean_error(run("learn-style", eval_style[0], "-o", tmp_path / "x.png"), ".brush")
    taken = tmp_path / "x.brush"
    taken.write_bytes(b"mine")
    assert_clean_error(run("learn-style", eval_style[0], "-o", taken), "--overwrite")
    assert taken.read_bytes() == b"mine"
    assert_clean_error(run("learn-style", tmp_path / "nope.jpg", "-o", tmp_path / "y.brush"), "nope.jpg")


def test_brush_file_works_as_a_style(tmp_path, eval_content, eval_style):
    from brushwork.brush import Brush, save_brush
    from brushwork.images import load_image

    brush = save_brush(Brush("wave", [load_image(find(eval_style, "wave"), size=128)]), tmp_path / "wave.brush")
    out = tmp_path / "o.png"
    p = run("stylize", eval_content[0], "--style", brush, "--size", "48", "-q", "-o", out)
    assert p.returncode == 0, p.stderr
    assert out.is_file()
