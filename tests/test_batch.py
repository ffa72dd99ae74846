"""`brushwork batch` for real: worker processes, a local Ray instance on loopback, eval photos, a corrupt file."""
import io
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from brushwork import BrushworkError
from brushwork.batch import BatchSettings, run_batch
from brushwork.batch.manifest import read

SIZE = 128  # small: a loaded 2-core machine; the engines' work, not the painting, is under test
pytestmark = pytest.mark.slow  # each test starts worker processes (or Ray) that load the networks


def cli(*args):
    return subprocess.run([sys.executable, "-m", "brushwork.cli", "batch", *map(str, args)], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})


def pixels(path):
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def photos(tmp_path_factory, eval_content):
    """A folder of 7 eval photos, one truncated JPEG and a text file (not picked up from a folder)."""
    folder = tmp_path_factory.mktemp("photos")
    for f in eval_content[:7]:
        shutil.copy(f, folder / f.name)
    (folder / "broken.jpg").write_bytes(eval_content[7].read_bytes()[:3000])
    (folder / "notes.txt").write_text("not a picture")
    return folder


@pytest.fixture(scope="module")
def local_run(photos, tmp_path_factory):
    """The local engine through the CLI: 2 worker processes (1 thread each) at 256 px."""
    out = tmp_path_factory.mktemp("local")
    proc = cli(photos, "-o", out, "--style", "starry-night", "--size", SIZE, "--workers", 2, "-q")
    return proc, out


def test_local_engine_paints_folder_and_records_the_corrupt_file(local_run, photos):
    proc, out = local_run
    assert proc.returncode == 1, proc.stderr  # one item failed
    assert "Traceback" not in proc.stderr
    assert "7 done, 0 skipped, 1 failed of 8" in proc.stderr.strip().splitlines()[-1]
    records = {os.path.basename(r["input"]): r for r in read(out)}
    assert len(records) == 8 and "notes.txt" not in records
    bad = records.pop("broken.jpg")
    assert bad["status"] == "failed" and "broken.jpg" in bad["error"] and not os.path.exists(bad["output"])
    workers = set()
    for name, rec in records.items():
        assert rec["status"] == "done" and rec["error"] is None and rec["seconds"] > 0
        assert rec["settings"]["size"] == SIZE and rec["settings"]["method"] == "lapstyle"
        im = Image.open(rec["output"])
        assert max(im.size) == SIZE
        photo = np.asarray(Image.open(photos / name).convert("RGB").resize(im.size))
        assert np.abs(pixels(rec["output"]).astype(float) - photo).mean() > 10  # painted, not copied
        workers.add(rec["worker"])
    assert len(workers) == 2  # two processes shared the work
    assert not list(out.glob(".*part*"))


def test_rerun_skips_finished_items(local_run, photos):
    _, out = local_run
    before = {p: p.stat().st_mtime_ns for p in out.glob("*.png")}
    proc = cli(photos, "-o", out, "--style", "starry-night", "--size", SIZE, "--workers", 2, "-q")
    assert proc.returncode == 1  # the corrupt file is tried again and fails again
    assert "1 done" not in proc.stderr and "0 done, 7 skipped, 1 failed of 8" in proc.stderr
    assert {p: p.stat().st_mtime_ns for p in out.glob("*.png")} == before  # nothing rewritten
    rerun = read(out)[8:]
    assert sorted(r["status"] for r in rerun) == ["failed"] + ["skipped"] * 7


def test_styles_grid_and_bad_settings(photos, tmp_path):
    """--styles-grid paints each input once per style; bad settings fail before any work, in one line."""
    one = tmp_path / "one"
    one.mkdir()
    src = next(p for p in sorted(photos.glob("*.jpg")) if p.name != "broken.jpg")
    shutil.copy(src, one / src.name)
    s = BatchSettings(styles=["starry-night", "the-scream"], options={"size": 64}, styles_grid=True, workers=1)
    summary = run_batch([str(one / "*.jpg")], tmp_path / "grid", s, progress=False)
    assert (summary.done, summary.failed) == (2, 0), summary.failures
    names = sorted(p.name for p in (tmp_path / "grid").glob("*.png"))
    assert names == [f"{src.stem}-starry-night.png", f"{src.stem}-the-scream.png"]
    from brushwork.loaders import gallery

    colour = lambda a: a.reshape(-1, 3).astype(float).mean(0)  # noqa: E731
    styles = {n: colour(pixels(gallery.resolve(n))) for n in ("starry-night", "the-scream")}
    for own, other in (("starry-night", "the-scream"), ("the-scream", "starry-night")):
        got = colour(pixels(tmp_path / "grid" / f"{src.stem}-{own}.png"))  # each painted in its own style alone
        assert np.linalg.norm(got - styles[own]) < np.linalg.norm(got - styles[other]), own
    for settings, words in ((dict(options={"strength": 3.0}), "strength"), (dict(engine="spark"), "engine"),
                            (dict(styles_grid=True), "two or more")):
        with pytest.raises(BrushworkError, match=words):
            run_batch([str(one)], tmp_path / "x", BatchSettings(styles=["starry-night"], **settings), progress=False)
    p = cli(tmp_path / "missing", "-o", tmp_path / "x", "--style", "starry-night")
    assert p.returncode == 2 and p.stderr.strip() == f"brushwork: error: no such file or folder: {tmp_path / 'missing'}"
    assert not (tmp_path / "x").exists()


def test_ctrl_c_stops_cleanly_and_the_next_run_resumes(photos, tmp_path):
    """SIGINT after the first picture: the workers stop, nothing half-written; the same run again does the rest."""
    import psutil

    s = BatchSettings(styles=["starry-night"], options={"size": 64}, workers=1)
    inputs = [str(photos / "*.jpg")]

    def ctrl_c(record):
        if record["status"] == "done":
            signal.raise_signal(signal.SIGINT)  # as a terminal's Ctrl-C reaches the batch's process

    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even when the tests
    try:  # run as a shell's background job, which starts with Ctrl-C ignored
        first = run_batch(inputs, tmp_path, s, progress=False, on_record=ctrl_c)
    finally:
        signal.signal(signal.SIGINT, before)
    assert first.interrupted and first.done == 1  # (broken.jpg, first in order, failed before it)
    assert not [c for c in psutil.Process().children(recursive=True)
                if c.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(c.cmdline())]  # workers gone
    assert not list(tmp_path.glob(".*part*")) and len(list(tmp_path.glob("*.png"))) == 1
    second = run_batch(inputs, tmp_path, s, progress=False)
    assert not second.interrupted and (second.skipped, second.done, second.failed) == (1, 6, 1)
    assert len({r["output"] for r in read(tmp_path) if r["status"] == "done"}) == 7


@pytest.fixture(scope="module")
def ray_local():
    """A real local Ray instance on loopback with 2 CPUs (no dashboard)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield ray
    ray.shutdown()


def worker_killer():
    """(pids killed, an on_record callback that SIGKILLs the worker of the first finished photo, once)."""
    killed = []

    def kill_first_worker(record):
        if record["status"] == "done" and not killed:
            pid = int(record["worker"].rsplit(":", 1)[1])
            os.kill(pid, signal.SIGKILL)  # it has its next photo in hand
            killed.append(pid)

    return killed, kill_first_worker


def test_ray_matches_local_and_survives_a_killed_worker(ray_local, local_run, photos, tmp_path):
    """2 actors paint what the local engine painted, pixel for pixel, though one actor is SIGKILLed mid-run."""
    _, local_out = local_run
    killed, kill_first_worker = worker_killer()

    s = BatchSettings(styles=["starry-night"], options={"size": SIZE}, engine="ray", workers=2, threads=1)
    summary = run_batch([str(photos / "*.jpg")], tmp_path, s, progress=False, on_record=kill_first_worker)
    assert killed and (summary.done, summary.failed, summary.skipped) == (7, 1, 0)
    records = read(tmp_path)
    done = [r for r in records if r["status"] == "done"]
    assert len(done) == 7 and len({r["output"] for r in done}) == 7  # each output recorded once
    assert any(r["attempt"] == 2 for r in done)  # the killed actor's photo was painted again elsewhere
    assert str(killed[0]) not in {r["worker"].rsplit(":", 1)[1] for r in done if r["attempt"] == 2}
    for r in done:
        local = local_out / os.path.basename(r["output"])
        assert np.array_equal(pixels(r["output"]), pixels(local)), r["output"]
    assert not list(tmp_path.glob(".*part*"))
    again = run_batch([str(photos / "*.jpg")], tmp_path, s, progress=False)
    assert (again.done, again.skipped, again.failed) == (0, 7, 1)


def audio_seconds(path):
    """Seconds of sound in a file's first audio stream (first packet's start to last packet's end); 0 if none."""
    import av

    with av.open(str(path)) as c:
        if not c.streams.audio:
            return 0.0
        stream = c.streams.audio[0]
        spans = [(p.pts, p.pts + p.duration) for p in c.demux(stream) if p.pts is not None and p.duration]
    return float((max(e for _, e in spans) - min(s for s, _ in spans)) * stream.time_base)


def test_rerun_with_other_settings_refused_unless_overwrite(photos, tmp_path):
    """Outputs painted with other settings are neither skipped as done nor repainted unasked: the re-run stops
    before any work and says which setting changed; with overwrite it paints them again and the manifest records
    the new settings, which the next re-run matches. A clip in the batch keeps its sound."""
    from test_video import cut

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    photo = next(p for p in sorted(photos.glob("*.jpg")) if p.name != "broken.jpg")
    shutil.copy(photo, src / photo.name)
    clip = cut(src / "clip.mp4", frames=8, width=96)
    first_settings = BatchSettings(styles=["starry-night"], options={"size": 64}, workers=1)
    first = run_batch([str(src)], out, first_settings, progress=False)
    assert (first.done, first.failed) == (2, 0), first.failures
    painted = out / f"{photo.stem}-starry-night.png"
    sound_in, sound_out = audio_seconds(clip), audio_seconds(out / "clip-starry-night.mp4")
    assert sound_in > 0.2 and abs(sound_out - sound_in) < 0.05  # the clip's sound, for as long
    files = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()}
    lighter = BatchSettings(styles=["starry-night"], options={"size": 64, "strength": 0.5}, workers=1)
    with pytest.raises(BrushworkError) as refused:
        run_batch([str(src)], out, lighter, progress=False)
    assert str(refused.value) == (f"clip-starry-night.mp4 and 1 more in {out} were painted with other settings "
                                  "(strength: 'unset' -> 0.5); pass --overwrite to paint them again, or choose "
                                  "another --output-dir")
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()} == files  # nothing written
    same = run_batch([str(src)], out, first_settings, progress=False)
    assert (same.done, same.skipped) == (0, 2)
    lighter.overwrite = True
    again = run_batch([str(src)], out, lighter, progress=False)
    assert (again.done, again.skipped, again.failed) == (2, 0, 0)
    photo_px = np.asarray(Image.open(photo).convert("RGB").resize(Image.open(painted).size)).astype(float)
    before = np.asarray(Image.open(io.BytesIO(files[painted][1])).convert("RGB")).astype(float)
    assert np.abs(pixels(painted) - photo_px).mean() < 0.8 * np.abs(before - photo_px).mean()  # half strength
    lighter.overwrite = False
    matched = run_batch([str(src)], out, lighter, progress=False)
    assert (matched.done, matched.skipped) == (0, 2)
    assert [r["settings"].get("strength") for r in read(out) if r["status"] == "done"] == [None, None, 0.5, 0.5]


def test_a_run_beside_another_leaves_its_temporary_files(photos, tmp_path):
    """Temporary files in OUTDIR are removed by a run only when no other batch run works there: beside one they
    may be its outputs being written. Alone, a run removes what killed workers left."""
    import time

    photos_a, photo_b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    photos_a.mkdir()
    photo_b.mkdir()
    jpgs = [p for p in sorted(photos.glob("*.jpg")) if p.name != "broken.jpg"]
    for p in jpgs[:-1]:
        shutil.copy(p, photos_a / p.name)
    shutil.copy(jpgs[-1], photo_b / jpgs[-1].name)
    s = BatchSettings(styles=["starry-night"], options={"size": 64}, workers=1)
    assert run_batch([str(photo_b)], out, s, progress=False).done == 1
    part = out / f".{jpgs[-1].stem}-starry-night.part.png"  # as save_image names its temporary file
    other = subprocess.Popen([sys.executable, "-m", "brushwork.cli", "batch", str(photos_a), "-o", str(out),
                              "--style", "starry-night", "--size", str(SIZE), "--workers", "1", "-q"],
                             env={**os.environ, "OMP_NUM_THREADS": "1"}, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while len(read(out)) < 2 and other.poll() is None and time.time() < deadline:
            time.sleep(0.1)  # the other run has painted its first photo: it is working in OUT
        assert other.poll() is None, other.stderr.read()
        part.write_bytes(b"being written")
        beside = run_batch([str(photo_b)], out, s, progress=False)
        assert beside.skipped == 1 and part.read_bytes() == b"being written"
        assert other.poll() is None  # (still working when this run started and ended)
    finally:
        other.wait(timeout=600)
    assert other.returncode == 0, other.stderr.read()
    other.stderr.close()
    alone = run_batch([str(photo_b)], out, s, progress=False)
    assert alone.skipped == 1 and not part.exists()


def test_local_engine_survives_a_killed_worker(local_run, photos, tmp_path):
    """A worker process SIGKILLed mid-run: its pool is rebuilt, the photos in flight are painted again (attempt 2),
    every other photo finishes, pixel for pixel as an undisturbed run paints them."""
    _, local_out = local_run
    killed, kill_first_worker = worker_killer()

    s = BatchSettings(styles=["starry-night"], options={"size": SIZE}, workers=2, threads=1)
    summary = run_batch([str(photos / "*.jpg")], tmp_path, s, progress=False, on_record=kill_first_worker)
    assert killed and (summary.done, summary.failed, summary.skipped) == (7, 1, 0), summary.failures
    done = [r for r in read(tmp_path) if r["status"] == "done"]
    assert len(done) == 7 and len({r["output"] for r in done}) == 7  # each output recorded once
    assert any(r["attempt"] == 2 for r in done)  # the killed worker's photo was painted again
    assert str(killed[0]) not in {r["worker"].rsplit(":", 1)[1] for r in done if r["attempt"] == 2}
    for r in done:
        assert np.array_equal(pixels(r["output"]), pixels(local_out / os.path.basename(r["output"]))), r["output"]
    assert not list(tmp_path.glob(".*part*"))
