"""The CLI as a user meets it: the entry point (in subprocesses and in-process), real files, one-line errors, nothing overwritten."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import EVAL_CONTENT, find


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


@pytest.mark.slow
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


def test_missing_and_non_image_inputs(tmp_path, eval_content, cli):
    assert_clean_error(cli("stylize", tmp_path / "nope.jpg", "--style", "starry-night", "-o", tmp_path / "o.png"),
                       "nope.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    assert_clean_error(cli("stylize", bad, "--style", "starry-night", "-o", tmp_path / "o.png", "--size", "32"),
                       "not an image")
    assert_clean_error(cli("stylize", eval_content[0], "--style", "no-such-style", "-o", tmp_path / "o.png"),
                       "no-such-style")
    assert not (tmp_path / "o.png").exists()


def test_mismatched_counts(tmp_path, eval_content, eval_style, cli):
    base = ["stylize", eval_content[0], "--style", eval_style[0], "--style", eval_style[1], "-o", tmp_path / "o.png"]
    assert_clean_error(cli(*base, "--style-weights", "1"), "weights")
    assert_clean_error(cli(*base, "--mask", eval_content[1]), "mask")
    assert_clean_error(cli(*base, "--style-weights", "a,b"), "numbers")


def test_existing_output_is_not_touched(tmp_path, eval_content, cli):
    out = tmp_path / "mine.png"
    out.write_bytes(b"precious")
    assert_clean_error(cli("stylize", eval_content[0], "--style", "starry-night", "-o", out), "--overwrite")
    assert out.read_bytes() == b"precious"


def test_unwritable_directory(tmp_path, eval_content, cli):
    assert_clean_error(cli("stylize", eval_content[0], "--style", "starry-night", "-o", tmp_path / "no" / "o.png"),
                       "does not exist")
    if os.geteuid() != 0:  # root can write anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        assert_clean_error(cli("stylize", eval_content[0], "--style", "starry-night", "-o", ro / "o.png"),
                           "not writable")


def test_weights_absent_while_offline(tmp_path, eval_content):
    (tmp_path / "links").mkdir()
    env = {"BRUSHWORK_HOME": str(tmp_path / "home"), "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path / "links"),
           "PIP_NO_CACHE_DIR": "1"}
    p = run("stylize", eval_content[0], "--style", "starry-night", "-o", tmp_path / "o.png", "--size", "32",
            env=env)
    assert_clean_error(p, "brushwork weights")
    assert not (tmp_path / "o.png").exists()


def test_bad_option_values(tmp_path, eval_content, cli):
    assert_clean_error(cli("stylize", eval_content[0], "--style", "starry-night", "-o", tmp_path / "o.png",
                           "--strength", "3"), "strength")
    assert_clean_error(cli("stylize", eval_content[0], "--style", "starry-night", "-o", tmp_path / "o.png",
                           "--preserve-color", "purple"), "colour")
    assert_clean_error(cli("stylize", eval_content[0], "--style", "starry-night", "-o", tmp_path / "o.png",
                           "--method", "magic"), "magic")
    assert_clean_error(cli("stylize", eval_content[0], "--style", "starry-night", "-o", tmp_path / "o.png",
                           "--method", "adain", "--iterations", "5"), "--iterations only applies to --method optimize")
    assert_clean_error(cli("stylize", eval_content[0], "--style", "starry-night", "-o", tmp_path / "o.png",
                           "--method", "adain", "--draft-size", "128"), "--draft-size only applies to --method lapstyle")
    assert_clean_error(cli("stylize", eval_content[0], "--style", "starry-night", "-o", tmp_path / "o.png",
                           "--draft-size", "8"), "draft_size")


def test_styles_lists_gallery_and_writes_sheet(tmp_path):
    p = run("styles", "--sheet", tmp_path / "sheet.png")
    assert p.returncode == 0
    assert "starry-night" in p.stdout and "sample:tubingen" in p.stdout
    assert Image.open(tmp_path / "sheet.png").size[0] > 300


@pytest.mark.slow
def test_weights_info_and_bad_import(tmp_path):
    p = run("weights", "info")
    assert p.returncode == 0 and "installed: True" in p.stdout
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"junk")
    assert_clean_error(run("weights", "import", junk), "SHA-256")


@pytest.mark.slow
def test_learn_style_refuses_bad_requests(tmp_path, eval_style):
    assert_clean_error(run("learn-style", eval_style[0], "-o", tmp_path / "x.png"), ".brush")
    taken = tmp_path / "x.brush"
    taken.write_bytes(b"mine")
    assert_clean_error(run("learn-style", eval_style[0], "-o", taken), "--overwrite")
    assert taken.read_bytes() == b"mine"
    assert_clean_error(run("learn-style", tmp_path / "nope.jpg", "-o", tmp_path / "y.brush"), "nope.jpg")


@pytest.mark.slow
def test_learn_style_then_paint_with_the_brush(tmp_path, eval_content, eval_style):
    """The whole learn-style path through the CLI: fine-tune on a painting, write a .brush, paint with it."""
    from brushwork.loaders.brush import load_brush

    brush = tmp_path / "wave.brush"
    p = run("learn-style", find(eval_style, "wave"), "-o", brush, "--minutes", "0.02", "--content", EVAL_CONTENT,
            "--threads", "1")
    assert p.returncode == 0, p.stderr
    meta = load_brush(brush).meta
    assert meta["iterations"] >= 1
    outs = {}
    for name, style in (("brush", brush), ("plain", find(eval_style, "wave"))):
        outs[name] = tmp_path / f"{name}.png"
        p = run("stylize", eval_content[0], "--style", style, "--size", "96", "-q", "-o", outs[name])
        assert p.returncode == 0, p.stderr
    a, b = (np.asarray(Image.open(outs[k]), dtype=float) for k in ("brush", "plain"))
    assert a.shape == b.shape
    # the fine-tuned network painted it: the picture is the one the shipped draft with the brush's revision
    # networks, laid out as a weights folder, paints from the brush's painting (up to 8-bit rounding)
    import shutil

    import brushwork
    from safetensors.torch import save_file

    from brushwork.methods.lapstyle import WEIGHTS_DIR

    tuned = tmp_path / "tuned"
    tuned.mkdir()
    shutil.copyfile(WEIGHTS_DIR / "lapstyle_draft.safetensors", tuned / "lapstyle_draft.safetensors")
    for i, rev in enumerate(load_brush(brush).revisions, 1):
        save_file({k: v.contiguous() for k, v in rev.items()}, str(tuned / f"lapstyle_rev{i}.safetensors"))
    painting = load_brush(brush).paintings[0][0].permute(1, 2, 0).numpy()
    want = brushwork.Stylizer("lapstyle", progress=False).stylize_tensor(eval_content[0], painting, size=96,
                                                                          weights_dir=str(tuned))
    want = want[0].permute(1, 2, 0).numpy() * 255
    assert np.abs(a - want).max() <= 1.0


def test_brush_file_works_as_a_style(tmp_path, eval_content, eval_style):
    from brushwork.loaders.brush import Brush, save_brush
    from brushwork.core.images import load_image

    brush = save_brush(Brush("wave", [load_image(find(eval_style, "wave"), size=128)]), tmp_path / "wave.brush")
    out = tmp_path / "o.png"
    p = run("stylize", eval_content[0], "--style", brush, "--size", "48", "-q", "-o", out)
    assert p.returncode == 0, p.stderr
    assert out.is_file()


# --- what a new user hit: first-run errors -----------------------------------------------------------------------




def test_usage_mistakes_are_one_line_and_exit_2(tmp_path, eval_content, cli, monkeypatch):
    """No arguments, no --style, an unknown option, a non-number, an unknown command: one line, exit 2."""
    p = run("stylize", cwd=tmp_path)  # once through the installed entry point, in its own process
    assert_clean_error(p, "brushwork: error:", "CONTENT")
    assert p.returncode == 2
    monkeypatch.chdir(tmp_path)
    photo = eval_content[0]
    cases = {("stylize",): "CONTENT", ("stylize", photo): "--style",
             ("stylize", photo, "-s", "starry-night", "--bogus"): "--bogus",
             ("stylize", photo, "-s", "starry-night", "--size", "abc"): "--size",
             ("paint",): "paint"}
    for args, word in cases.items():
        p = cli(*args)
        assert_clean_error(p, "brushwork: error:", word)
        assert p.returncode == 2, (args, p.returncode)
    assert not list(tmp_path.iterdir())


def test_help_exits_0_and_bare_command_shows_help(cli):
    p = cli("stylize", "--help")
    assert p.returncode == 0 and "Usage" in p.stdout and not p.stderr
    p = cli()
    assert "Usage" in p.stdout + p.stderr and "Traceback" not in p.stderr


def test_size_that_cannot_fit_is_refused_up_front(tmp_path, eval_content, cli):
    """--size 100000 would need hundreds of GiB: a one-line error with the largest size that fits, nothing written."""
    for method in ("lapstyle", "adain", "optimize"):
        p = cli("stylize", eval_content[0], "-s", "starry-night", "--method", method, "--size", "100000",
                "-o", tmp_path / "o.png")
        assert_clean_error(p, "size 100000", "GiB", "largest size that fits is")
        largest = int(re.search(r"largest size that fits is (\d+)", p.stderr).group(1))
        assert 16 <= largest < 100000
        assert ("tiles" in p.stderr)
    assert not (tmp_path / "o.png").exists()


def test_mask_of_another_aspect_ratio_is_refused(tmp_path, eval_content, eval_style, cli):
    """A square photo with a 2:1 mask: an error naming both sizes instead of a silently stretched mask."""
    mask = tmp_path / "wide.png"
    Image.new("L", (200, 100), 255).save(mask)
    p = cli("stylize", eval_content[0], "-s", eval_style[0], "--mask", mask, "--size", "64", "-o", tmp_path / "o.png")
    assert_clean_error(p, "200x100", "500x500", "aspect ratio")
    assert not (tmp_path / "o.png").exists()


def test_unknown_style_name_suggests_the_closest(tmp_path, eval_content, cli):
    p = cli("stylize", eval_content[0], "--style", "starry-nite", "-o", tmp_path / "o.png")
    assert_clean_error(p, "starry-nite", "did you mean starry-night?")
    p = cli("stylize", "sample:tubigen", "--style", "starry-night", "-o", tmp_path / "o.png")
    assert_clean_error(p, "did you mean sample:tubingen?")


def test_default_output_name_has_no_colon(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = cli("stylize", "sample:tubingen", "--style", "great-wave", "--size", "48", "-q")
    assert p.returncode == 0, p.stderr
    assert [f.name for f in tmp_path.iterdir()] == ["tubingen-great-wave.png"]


def test_help_shows_defaults_and_marks_method_only_options(cli, monkeypatch):
    """--help: the defaults of --method, --strength (one for every method, as the methods define it), --output; each
    method-only option marked; readable types instead of TEXT/INTEGER/FLOAT."""
    from brushwork.methods import adain, lapstyle, optimize

    for k, v in {"COLUMNS": "240", "TERM": "dumb", "NO_COLOR": "1"}.items():
        monkeypatch.setenv(k, v)
    p = cli("stylize", "--help")
    assert p.returncode == 0
    text = re.sub(r"[\s│]+", " ", p.stdout)
    assert "[default: (lapstyle)]" in text
    strengths = {m.Options().strength for m in (lapstyle, adain, optimize)}
    assert len(strengths) == 1 and f"[default: ({strengths.pop()})]" in text  # one default for every method
    assert "CONTENT-STYLE.png" in text
    only = {"--iterations", "--optimizer", "--style-loss", "--init", "--loss-net", "--content-layer", "--tv-weight",
            "--preview-every"}
    for opt in only:
        assert re.search(re.escape(opt) + r" \S+ \[optimize only\]", text), opt
    assert re.search(r"--draft-size \S+ \[lapstyle, attention\]", text)
    assert re.search(r"--palette \S+ \[lapstyle, attention, adain\]", text)
    assert f"[default: ({optimize.Options().loss_net})]" in text
    assert f"[default: ({lapstyle.Options().draft_size})]" in text
    for vague in (" TEXT ", " INTEGER ", " FLOAT "):
        assert vague not in text, vague


def test_loss_net_reaches_optimize(tmp_path, eval_content, cli):
    """--loss-net goes to optimize's Options (an unknown network is refused there, naming the real ones) and
    paints with it; other methods refuse it."""
    out = tmp_path / "vgg.png"
    p = cli("stylize", eval_content[0], "-s", "starry-night", "--method", "optimize", "--loss-net", "hed-vgg16",
            "--size", "48", "--iterations", "2", "-q", "-o", out)
    assert p.returncode == 0, p.stderr
    assert Image.open(out).size == (48, 48)
    assert_clean_error(cli("stylize", eval_content[0], "-s", "starry-night", "--loss-net", "hed-vgg16",
                           "-o", tmp_path / "x.png"), "--loss-net only applies to --method optimize")
    assert_clean_error(cli("stylize", eval_content[0], "-s", "starry-night", "--method", "optimize",
                           "--loss-net", "resnet", "-o", tmp_path / "x.png"), "resnet", "efficientnet-lite1")
    assert_clean_error(cli("stylize", eval_content[0], "-s", "starry-night", "--preview-every", "5",
                           "-o", tmp_path / "x.png"), "--preview-every only applies to --method optimize")


def test_empty_file_says_it_is_empty(tmp_path, eval_content, cli):
    empty = tmp_path / "photo.jpg"
    empty.touch()
    assert_clean_error(cli("stylize", empty, "-s", "starry-night", "-o", tmp_path / "o.png"), "photo.jpg is empty")
    assert_clean_error(cli("stylize", eval_content[0], "-s", empty, "-o", tmp_path / "o.png"), "photo.jpg is empty")
