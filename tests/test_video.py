"""Video: real frames and sound of Big Buck Bunny (a short low-resolution cut), the real networks, the real CLI."""
import os
import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest

from conftest import EVAL_CONTENT, SHARED

CLIP = SHARED / "video" / "bigbuckbunny.mp4"
FRAMES = 12
WIDTH = 192


def cut(dst, frames=FRAMES, width=WIDTH, video=True, audio=True, rotation=0):
    """Re-encode the first `frames` frames of the clip at `width` px and copy its audio for as long."""
    with av.open(str(CLIP)) as src, av.open(str(dst), "w") as out:
        vin, ain = src.streams.video[0], src.streams.audio[0]
        h = round(vin.codec_context.height * width / vin.codec_context.width / 2) * 2
        if video:
            vout = out.add_stream("libx264", rate=vin.average_rate)
            vout.width, vout.height, vout.pix_fmt = width, h, "yuv420p"
            if rotation:
                vout.set_display_rotation(rotation)
        aout = out.add_stream_from_template(ain) if audio else None
        end = (frames or FRAMES) / vin.average_rate  # zero frames: a video stream with only sound in the file
        n = 0
        for packet in src.demux(vin, ain):
            if packet.stream.type == "audio":
                if aout is not None and packet.dts is not None and packet.pts * packet.time_base < end:
                    packet.stream = aout
                    out.mux(packet)
                continue
            for frame in packet.decode():
                if n < frames and video:
                    small = frame.reformat(width=width, height=h, format="yuv420p")
                    small.pts = n
                    small.time_base = Fraction(1, 1) / vin.average_rate
                    out.mux(vout.encode(small))
                n += 1
            if n >= frames and packet.pts * packet.time_base > end + 1:
                break
        if video:
            out.mux(vout.encode(None))
    return dst


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return cut(tmp_path_factory.mktemp("clips") / "bunny.mp4")


def brushwork(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "brushwork.cli", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=300)


def streams(path):
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        audio = c.streams.audio[0].codec_context.name if c.streams.audio else None
    with av.open(str(path)) as c:
        apackets = sum(1 for p in c.demux(audio=0) if p.size) if c.streams.audio else 0
    return frames, audio, apackets


@pytest.mark.slow
def test_cli_keeps_frames_and_copies_audio(clip, tmp_path):
    out = tmp_path / "styled.mp4"
    r = brushwork("video", clip, "-o", out, "--style", "starry-night", "--size", WIDTH, "-q")
    assert r.returncode == 0, r.stderr
    frames_in, audio_in, packets_in = streams(clip)
    frames_out, audio_out, packets_out = streams(out)
    assert len(frames_out) == len(frames_in) == FRAMES
    assert audio_out == audio_in == "aac" and packets_out == packets_in > 0
    assert "audio copied" in r.stderr
    assert np.abs(frames_out[5].astype(float) - frames_in[5]).mean() > 20  # it is painted, not the input
    assert [p.name for p in tmp_path.iterdir()] == ["styled.mp4"]  # no temporary file left behind


def test_webm_reencodes_audio_and_rotation_is_kept(tmp_path):
    from brushwork import stylize_video

    src = cut(tmp_path / "rotated.mp4", frames=4, width=128, rotation=90)
    res = stylize_video(src, tmp_path / "out.webm", "the-scream", size=128, progress=False)
    assert res.frames == 4 and res.audio == "re-encoded"
    with av.open(str(tmp_path / "out.webm")) as c:
        assert c.streams.audio[0].codec_context.name == "opus"
        frames = list(c.decode(video=0))
    assert len(frames) == 4 and frames[0].rotation == 90


@pytest.mark.slow
def test_consistency_lowers_flicker(clip, tmp_path):
    from brushwork import stylize_video
    from brushwork.video.flow import warping_error

    def run(consistency):
        pairs = []
        stylize_video(clip, tmp_path / f"c{consistency}.mp4", "starry-night", size=WIDTH, consistency=consistency,
                      progress=False, on_frame=lambda i, o: pairs.append((i, o)))
        return np.mean([warping_error(po, o, pi, i) for (pi, po), (i, o) in zip(pairs, pairs[1:])])

    from brushwork.video.stylize import DEFAULT_CONSISTENCY

    plain, steady = run(0.0), run(DEFAULT_CONSISTENCY)
    assert steady < 0.8 * plain


@pytest.mark.slow
def test_meancov_recolours_the_style_once_per_clip(tmp_path):
    """preserve_color="meancov" matches the style's colours to the first frame once for the whole clip: the
    frames are those of its old name "histogram", the Stylizer caches one style entry as without it (not one per
    frame), and the recoloured style brings the clip's own colours back."""
    from brushwork import Stylizer, stylize_video

    src = cut(tmp_path / "c.mp4", frames=6, width=128)
    runs = {}
    for mode in ("meancov", "histogram", None):
        st, frames = Stylizer("lapstyle", progress=False), []
        stylize_video(src, tmp_path / f"{mode}.mp4", "starry-night", size=128, preserve_color=mode, stylizer=st,
                      progress=False, on_frame=lambda i, o: frames.append((i, o)))
        runs[mode] = frames, len(st.cache)
    (meancov, entries), (histogram, _), (plain, plain_entries) = runs["meancov"], runs["histogram"], runs[None]
    assert len(meancov) == len(plain) == 6 and entries == plain_entries
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(meancov, histogram))
    for (photo, kept), (_, painted) in zip(meancov, plain):
        colour = lambda x: x.reshape(-1, 3).astype(float).mean(0)  # noqa: E731
        assert np.linalg.norm(colour(kept) - colour(photo)) < 0.5 * np.linalg.norm(colour(painted) - colour(photo))


def test_lapstyle_draft_is_steadied_along_the_motion():
    """The pyramid steadier warps the previous draft along the input's motion (scaled to the draft's size): with a
    real frame moved 12 px, the previous frame's draft, steadied, lands on the moved frame's own draft."""
    import cv2
    import torch

    from brushwork.methods.common import Progress
    from brushwork.video.flow import FlowEstimator, gray
    from brushwork.video.stylize import PyramidSteadier, to_float, to_tensor

    with av.open(str(CLIP)) as c:
        a = next(f for i, f in enumerate(c.decode(video=0)) if i == 40).to_ndarray(format="rgb24")
    a = cv2.resize(a, (640, 360), interpolation=cv2.INTER_AREA)
    b = np.roll(a, 12, axis=1)  # the camera pans: everything moves 12 px to the right
    small = [to_tensor(cv2.resize(x, (160, 90), interpolation=cv2.INTER_AREA)) for x in (a, b)]
    steadier = PyramidSteadier(1.0)
    first = steadier.callback(None)(Progress("draft", 1, 1, small[0]))
    assert torch.equal(first, small[0])  # nothing to blend with at the first frame
    assert steadier.callback(None)(Progress("revise", 2, 2, small[0])) is None  # the last level is left alone
    kept = steadier.callback(None)(Progress("revise", 1, 2, small[0]))  # a lower level is kept like the draft
    assert torch.equal(kept, small[0])
    motion = FlowEstimator().motion(gray(a), gray(b))
    inner = (slice(10, -10), slice(10, -10))
    moved = np.abs(to_float(small[0]) - to_float(small[1]))[inner].mean()
    for stage, step, total in (("draft", 1, 1), ("revise", 1, 2)):
        out = to_float(steadier.callback(motion)(Progress(stage, step, total, small[1])))
        assert np.abs(out - to_float(small[1]))[inner].mean() < 0.35 * moved, stage


def test_lapstyle_takes_a_steadied_lower_level_but_not_the_last():
    """A tensor the callback returns for a revision level below the last replaces that level (video steadies them
    this way); one returned for the last level is ignored (the output blend steadies that)."""
    import torch

    from brushwork import Stylizer
    from brushwork.core.images import list_images, load_image

    st = Stylizer("lapstyle", progress=False)
    photo = load_image(list_images(EVAL_CONTENT)[0], size=256)
    seen = []

    def grey(lower: bool):
        def cb(p):
            seen.append((p.stage, p.step, p.total))
            if p.stage == "revise" and (p.step < p.total) == lower:
                return torch.full_like(p.image, 0.5)
            return None
        return cb

    plain = st.stylize_tensor(photo, "starry-night", size=256, draft_size=64)
    last = st.stylize_tensor(photo, "starry-night", size=256, draft_size=64, callback=grey(False))
    assert ("revise", 1, 2) in seen and ("revise", 2, 2) in seen  # two levels above a 64 px draft
    assert torch.equal(last, plain)
    lower = st.stylize_tensor(photo, "starry-night", size=256, draft_size=64, callback=grey(True))
    assert (lower - plain).abs().mean() > 0.05


@pytest.fixture(scope="module")
def bad_inputs(clip, tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    data = clip.read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])
    cut(d / "empty.mkv", frames=0)
    cut(d / "sound.m4a", video=False)
    return d


@pytest.mark.parametrize("name, needle", [("noise.mp4", "not a readable video"),
                                          ("truncated.mp4", "not a readable video"),
                                          ("empty.mkv", "no frames"),
                                          ("sound.m4a", "audio-only")])
def test_bad_inputs_one_line_no_output(bad_inputs, tmp_path, name, needle):
    out = tmp_path / "out.mp4"
    r = brushwork("video", bad_inputs / name, "-o", out, "--style", "starry-night", "--size", 64, "-q")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("brushwork: error:") and needle in lines[0], r.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_bad_outputs_one_line_nothing_touched(clip, tmp_path):
    existing = tmp_path / "taken.mp4"
    existing.write_bytes(b"mine")
    for target, needle in [(existing, "already exists"), (tmp_path / "no-such-dir" / "o.mp4", "does not exist"),
                           (tmp_path / "o.gif", "unknown video format"), ("/proc/brushwork-out.mp4", "cannot write")]:
        r = brushwork("video", clip, "-o", target, "--style", "starry-night", "--size", 64, "-q")
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and needle in lines[0], (target, r.stderr)
    assert existing.read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.mp4"]


def test_ctrl_c_leaves_no_file(clip, tmp_path):
    import signal
    import time

    out = tmp_path / "o.mp4"
    p = subprocess.Popen([sys.executable, "-m", "brushwork.cli", "video", str(clip), "-o", str(out), "--style",
                          "starry-night", "--size", "96", "-q"], stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"},
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    part = tmp_path / ".o.part.mp4"
    deadline = time.time() + 120
    while not part.exists() and p.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert part.exists(), "the temporary output never appeared"
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=60)
    assert p.returncode != 0 and list(tmp_path.iterdir()) == []


def test_cli_finish_takes_every_frame_onto_the_painting_palette(tmp_path):
    """`brushwork video --finish 1`: each frame's colours are the painting's (the CLI passes the option through to
    every frame): colour distance to the painting under 0.7x the unfinished frames' (measured 0.64x)."""
    import torch

    from brushwork.loaders import gallery
    from brushwork.core.images import load_image
    from brushwork.evaluation.metrics import color_distance

    src = cut(tmp_path / "c.mp4", frames=3, width=256)
    painting = load_image(gallery.resolve("starry-night"), size=256)
    distance = {}
    for finish in ("0", "1"):
        out = tmp_path / f"finish{finish}.mp4"
        r = brushwork("video", src, "-o", out, "--style", "starry-night", "--size", 256, "--finish", finish, "-q")
        assert r.returncode == 0, r.stderr
        frames = streams(out)[0]
        distance[finish] = max(color_distance(torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255, painting)
                               for f in frames)
    assert distance["1"] < 0.7 * distance["0"], distance  # measured 2.4 against 3.8
