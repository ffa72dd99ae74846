"""What a new user hit: thin and tiny photos, a text file given to `video`, progress bars, previews, file modes,
help text that disagrees with the code. Each test runs the real parts on real images."""
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import brushwork
from brushwork import BrushworkError, api
from brushwork.core.images import fit_size, resize, to_tensor
from conftest import EVAL_CONTENT, EVAL_STYLE, find

STYLE = find(sorted(EVAL_STYLE.iterdir()), "starry")
PHOTO = find(sorted(EVAL_CONTENT.iterdir()), "astronaut")
FAST = {"optimize": {"iterations": 2}, "lapstyle": {}, "adain": {}}


def strip(w: int, h: int) -> np.ndarray:
    """A real photo squeezed into a w x h strip (uint8 HxWx3)."""
    return np.asarray(Image.open(PHOTO).convert("RGB").resize((w, h), Image.BICUBIC))


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "brushwork.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})


def one_line_error(proc, *words):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    for w in words:
        assert w in lines[0], lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lapstyle", "adain", "optimize"])
@pytest.mark.parametrize("w,h,size", [(4000, 100, 512), (100, 4000, 512), (4000, 10, 512), (1000, 40, 2048)])
def test_thin_panoramas_are_painted_at_their_own_shape(method, w, h, size):
    """4000x100 at 512 px is 512x13 (a 256x7 lapstyle draft), 4000x10 a single row: all are painted (mirror
    context cut away after) and the result is stylized, not the photo."""
    photo = strip(w, h)
    st = api.Stylizer(method, progress=False)
    out = st.stylize_tensor(photo, STYLE, size=size, **FAST[method])
    eh, ew = fit_size(h, w, size)
    assert tuple(out.shape) == (1, 3, eh, ew)
    assert torch.isfinite(out).all()
    plain = resize(to_tensor(photo / 255.0), (eh, ew))
    assert (out - plain).abs().mean() > 0.03


def test_thin_padding_reaches_the_draft_limit():
    """The padding gives lapstyle's draft (and every method's network input) at least 16 px on the short side,
    and nothing to a picture that is thick enough."""
    opts = api.Stylizer("lapstyle").options("lapstyle")
    top, bottom, left, right = api.paint_padding(opts, (13, 512))
    assert left == right == 0 and 13 + top + bottom == 32  # one pyramid level: a 16 px draft
    small = api.Stylizer("lapstyle").options("lapstyle", draft_size=32)
    top, bottom, _, _ = api.paint_padding(small, (13, 512))
    assert 13 + top + bottom == 16 * 2 ** 4
    assert api.paint_padding(opts, (384, 512)) == (0, 0, 0, 0)
    assert api.paint_padding(api.Stylizer("adain").options("adain"), (1, 512))[:2] == (7, 8)


def test_mirror_pad_reflects_beyond_the_picture_size():
    from brushwork.core.images import mirror_pad

    t = torch.tensor([1.0, 2.0, 3.0]).view(1, 1, 1, 3)
    assert mirror_pad(t, 0, 0, 4, 5).flatten().tolist() == [3, 3, 2, 1, 1, 2, 3, 3, 2, 1, 1, 2]
    assert mirror_pad(t, 2, 1, 0, 0).shape[-2:] == (4, 3)


def test_preview_of_a_thin_picture_shows_the_picture_without_its_padding():
    seen = []
    st = api.Stylizer("lapstyle", progress=False)
    out = st.stylize_tensor(strip(4000, 100), STYLE, size=512, callback=lambda p: seen.append(p.image.shape[-2:]))
    assert seen[-1] == out.shape[-2:] == (13, 512)
    assert all(h < 16 for h, _ in seen)  # every stage's picture is cut back (the draft is 7 px high)


@pytest.mark.parametrize("method", ["lapstyle", "adain", "optimize"])
def test_a_photo_under_the_minimum_is_refused_in_one_line(method):
    with pytest.raises(BrushworkError) as exc:
        brushwork.stylize(np.zeros((1, 1, 3), np.uint8), STYLE, method=method, size=64)
    message = str(exc.value)
    assert "\n" not in message and "1x1" in message and f"at least {api.MIN_PHOTO_SIDE} px" in message


def test_a_small_photo_is_painted_with_a_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = brushwork.stylize(strip(60, 40), STYLE, size=64)
    assert out.size == (64, 43)
    assert any("60x40" in str(w.message) and "64 px" in str(w.message) for w in caught)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        brushwork.stylize(strip(96, 64), STYLE, size=64)  # at the limit: no warning


@pytest.mark.slow
def test_cli_paints_a_wide_picture_and_refuses_a_tiny_one_in_one_line(tmp_path):
    wide, tiny = tmp_path / "wide.png", tmp_path / "tiny.png"
    Image.new("RGB", (4000, 100)).save(wide)
    Image.new("RGB", (1, 1)).save(tiny)
    ok = run_cli("stylize", wide, "-s", STYLE, "-o", tmp_path / "out.png", "-q")
    assert ok.returncode == 0, ok.stderr
    assert Image.open(tmp_path / "out.png").size == (512, 13)
    one_line_error(run_cli("stylize", tiny, "-s", STYLE, "-o", tmp_path / "t.png", "-q"), "1x1", "at least 8 px")
    small = tmp_path / "small.png"
    Image.fromarray(strip(60, 40)).save(small)
    warned = run_cli("stylize", small, "-s", STYLE, "-o", tmp_path / "s.png", "-q", "--size", "64")
    assert warned.returncode == 0
    assert warned.stderr.strip().splitlines() == [warned.stderr.strip()]  # one line, no source line
    assert warned.stderr.startswith("brushwork: warning: the photo is only 60x40 px")


@pytest.mark.slow
@pytest.mark.slow
def test_video_of_a_text_file_named_jpg_is_one_line(tmp_path):
    fake = tmp_path / "notes.jpg"
    fake.write_text("not a picture\n")
    one_line_error(run_cli("video", fake, "-o", tmp_path / "out.mp4", "-s", STYLE), "notes.jpg",
                   "not a readable video")
    assert not (tmp_path / "out.mp4").exists()


def test_brush_files_get_the_mode_images_get(tmp_path):
    """A .brush is written like a picture: 0666 less the umask (0644 under the usual 022), not 0600."""
    from brushwork.loaders.brush import Brush, load_brush, save_brush
    from brushwork.core.images import load_image, save_image

    old = os.umask(0o022)
    try:
        brush = save_brush(Brush("starry", [load_image(STYLE, size=64)]), tmp_path / "starry.brush")
        image = save_image(load_image(STYLE, size=64), tmp_path / "starry.png")
    finally:
        os.umask(old)
    assert oct(brush.stat().st_mode & 0o777) == oct(image.stat().st_mode & 0o777) == oct(0o644)
    assert load_brush(brush).name == "starry"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["starry.brush", "starry.png"]  # no .part left


def optimize_run(tmp_path, *extra):
    """`brushwork stylize --method optimize` at 400 px: three scales (200, 283, 400 px) of 8, 6 and 6 iterations."""
    return run_cli("stylize", PHOTO, "-s", STYLE, "--method", "optimize", "--size", "400", "--iterations", "8",
                   "-o", tmp_path / "out.png", *extra)


@pytest.mark.slow
def test_optimize_progress_bar_shows_true_progress(tmp_path):
    """L-BFGS evaluates the loss more often than it iterates: the bar still rises steadily to exactly 100%, with
    no clamping warning and no negative time left."""
    proc = optimize_run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    shown = [int(p) for p in re.findall(r"optimize:\s+(\d+)%", proc.stderr)]
    assert shown and shown[-1] == 100, proc.stderr
    assert max(shown) == 100 and shown == sorted(shown), shown
    assert "clamping" not in proc.stderr and "-00:" not in proc.stderr


@pytest.mark.slow
def test_optimize_progress_events_count_iterations_per_scale():
    """Progress events: step 1..iterations per scale, never beyond; each scale ends at step == total; the overall
    fraction never goes back and ends at 1."""
    events = []
    st = api.Stylizer("optimize", progress=False)
    st.stylize_tensor(PHOTO, STYLE, size=400, iterations=8, start_size=256, callback=events.append)
    assert sorted({e.scale for e in events}) == [0, 1, 2]
    for scale, total in enumerate((8, 6, 6)):
        steps = [e.step for e in events if e.scale == scale]
        assert all(e.total == total for e in events if e.scale == scale)
        assert steps == sorted(set(steps)) and 1 <= steps[0] and steps[-1] == total
    overall = [e.overall for e in events]
    assert overall == sorted(overall) and overall[-1] == pytest.approx(1.0) and max(overall) <= 1.0


@pytest.mark.slow
def test_optimize_preview_follows_every_scale(tmp_path):
    """--preview-every larger than the later scales' iterations: the preview still shows each scale's result, so
    it ends as the finished picture (before, it stayed at the first, 200 px scale)."""
    preview = tmp_path / "preview.png"
    proc = optimize_run(tmp_path, "--preview", preview, "--preview-every", "8", "-q")
    assert proc.returncode == 0, proc.stderr
    final = np.asarray(Image.open(tmp_path / "out.png"), np.float32)
    shown = np.asarray(Image.open(preview), np.float32)
    assert shown.shape == final.shape == (400, 400, 3)
    assert np.abs(shown - final).mean() < 1.0


@pytest.mark.slow
def test_learn_style_bar_counts_down_the_time_budget(tmp_path):
    """learn-style runs for its time budget (3 s here), not its 100,000-iteration cap: the bar is in seconds of
    that budget and ends at 100%."""
    brush = tmp_path / "wave.brush"
    proc = run_cli("learn-style", find(sorted(EVAL_STYLE.iterdir()), "wave"), "-o", brush, "--minutes", "0.05",
                   "--content", EVAL_CONTENT, "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    assert "100000" not in proc.stderr
    totals = set(re.findall(r"\d+/(\d+) s", proc.stderr))
    assert totals == {"3"}, proc.stderr
    shown = [int(p) for p in re.findall(r"train [\w-]+:\s+(\d+)%", proc.stderr)]
    assert shown and shown[-1] == 100 and shown == sorted(shown), proc.stderr


def help_of(*command) -> str:
    proc = subprocess.run([sys.executable, "-m", "brushwork.cli", *command, "--help"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.slow
def test_help_agrees_with_the_code():
    from brushwork.core import color
    from brushwork.evaluation import votes
    from brushwork.video import stylize as video

    serve = " ".join(help_of("evaluate-serve").split())
    assert f"REPORT_DIR/{votes.VOTES_FILE}" in serve and votes.VOTES_FILE == "votes.jsonl"
    clip = " ".join(help_of("video").split())
    assert f"its fine detail at {video.DETAIL_WEIGHT:g}x that" in clip
    listed = re.search(r"--preserve-color ([\w|]+)", clip).group(1).split("|")
    assert listed == ["luminance", "meancov"] and all(color.check_mode(m) == m for m in listed)
    batch = " ".join(help_of("batch").split())
    assert re.search(r"--output-dir -o DIR Folder for the outputs", batch)


@pytest.mark.slow
@pytest.mark.parametrize("command", [("stylize",), ("video",), ("evaluate-video",), ("batch",), ("evaluate-serve",)])
def test_option_placeholders_are_words_not_python_types(command):
    """Every option shows a placeholder in words (FILE|NAME, PX, 0..1, N) or none (flags), never typer's <str>,
    <int>, <bool> or <list[str]>; only the --help row keeps typer's own."""
    rows = [ln for ln in help_of(*command).splitlines() if re.match(r"\s*│\s*\*?\s*--", ln) and "--help" not in ln]
    assert rows
    typed = [ln.split("│")[1].strip() for ln in rows if re.search(r"<[a-z\[\]]+>", ln)]
    assert not typed, typed
