"""ONNX export and the onnxruntime backend: the exported graphs, run by onnxruntime, paint the PyTorch picture."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import EVAL_CONTENT, EVAL_STYLE, find

ort = pytest.importorskip("onnxruntime")

import brushwork  # noqa: E402
from brushwork.core.images import load_image, resize  # noqa: E402

PHOTO = EVAL_CONTENT / "cszn__FFDNet__testsets_Kodak24__kodim13.jpg"
SIZES = [(384, 512), (512, 320)]  # (height, width): landscape 4:3 and portrait 5:8, both one pyramid level



def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def photo(hw):
    """The eval photo resized to exactly (h, w), as the float array the API and the graph both take."""
    return resize(load_image(PHOTO), hw)


def torch_picture(content, style):
    """The PyTorch picture the exported graphs paint: the default pipeline without `clean_colors`, which is not in
    the graphs (the onnxruntime backend runs it after them)."""
    array = content[0].permute(1, 2, 0).numpy()
    with torch.no_grad():
        return brushwork.Stylizer("lapstyle", progress=False).stylize_tensor(
            array, style, method="lapstyle", precision="fp32", size=max(content.shape[-2:]), clean_colors=0.0).numpy()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx") / "model"
    sizes = brushwork.export(folder, levels=1, int8=True)
    return folder, sizes


@pytest.mark.slow
def test_graphs_paint_the_pytorch_picture(exported, eval_style):
    """Style encoder then painter in onnxruntime: within 1/255 mean absolute error of PyTorch at two shapes."""
    folder, _ = exported
    style_file = find(eval_style, "wave")
    painting = brushwork.Stylizer("lapstyle", progress=False)._style(style_file, False)[0]
    style = session(folder / "style_encoder.onnx").run(None, {"painting": painting.numpy()})[0]
    painter = session(folder / "painter.onnx")
    for hw in SIZES:
        content = photo(hw)
        picture = painter.run(None, {"photo": content.numpy(), "style": style})[0]
        reference = torch_picture(content, style_file)
        assert picture.shape == reference.shape == (1, 3, *hw)
        assert np.abs(picture - reference).mean() < 1 / 255, hw
        assert np.abs(picture - content.numpy()).mean() > 0.05  # painted, not the photo passed through


@pytest.mark.slow
def test_export_writes_readme_metadata_and_a_smaller_int8_painter(exported, eval_style):
    folder, sizes = exported
    assert set(sizes) == {"style_encoder.onnx", "painter.onnx", "painter_int8.onnx", "README.md", "brushwork.json"}
    meta = json.loads((folder / "brushwork.json").read_text())
    assert meta["long_side"] == [257, 512] and meta["levels"] == 1
    assert sum(p["length"] for p in meta["style_layout"]) == meta["style_dim"]
    readme = (folder / "README.md").read_text()
    for word in ("painting", "photo", "picture", "[0, 1]", "257 to 512 px", "onnxruntime", "InferenceSession"):
        assert word in readme, word
    assert sizes["painter_int8.onnx"] < 0.6 * sizes["painter.onnx"]
    example = readme.split("```python\n")[1].split("```")[0]  # the README's example runs as written
    shutil.copy(PHOTO, folder / "photo.jpg")
    shutil.copy(find(eval_style, "wave"), folder / "painting.jpg")
    run = subprocess.run([sys.executable, "-c", example], cwd=folder, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert Image.open(folder / "picture.png").size == (512, 512)  # the 500 px photo at the top of the range
    style = session(folder / "style_encoder.onnx").run(None, {"painting": load_image(find(eval_style, "wave")).numpy()})[0]
    content = photo(SIZES[0]).numpy()
    fp32 = session(folder / "painter.onnx").run(None, {"photo": content, "style": style})[0]
    int8 = session(folder / "painter_int8.onnx").run(None, {"photo": content, "style": style})[0]
    assert int8.shape == fp32.shape
    assert 0 < np.abs(int8 - fp32).mean() < 0.02  # 8-bit convolutions: close to fp32, not identical


@pytest.mark.slow
def test_export_style_writes_the_encoder_vector(exported, cli, tmp_path, eval_style):
    """`export-style` saves what the style encoder graph computes, so an app can ship the painter alone."""
    folder, _ = exported
    style_file = find(eval_style, "wave")
    out = tmp_path / "wave.npz"
    p = cli("export-style", style_file, "-o", out, "-q")
    assert p.returncode == 0, p.stderr
    saved = np.load(out)["style"]
    painting = brushwork.Stylizer("lapstyle", progress=False)._style(style_file, False)[0]
    graph = session(folder / "style_encoder.onnx").run(None, {"painting": painting.numpy()})[0]
    assert saved.shape == graph.shape
    np.testing.assert_allclose(saved, graph, rtol=1e-4, atol=1e-4)  # float32 sums in two engines: ~3e-5 apart
    again = cli("export-style", style_file, "-o", out, "-q")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_export_refuses_a_folder_with_files(cli, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    keep = folder / "notes.txt"
    keep.write_text("mine")
    p = cli("export", "--format", "onnx", "-o", folder)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "not empty" in lines[0] and "--overwrite" in lines[0]
    assert keep.read_text() == "mine" and sorted(folder.iterdir()) == [keep]
    bad = cli("export", "--format", "tflite", "-o", tmp_path / "other")
    assert bad.returncode == 2 and "format" in bad.stderr


def test_backend_refuses_what_the_graphs_do_not_paint(tmp_path):
    style = EVAL_STYLE / "jcjohnson__fast-neural-style__images_styles__wave.jpg"
    for options, words in [({"subject": 0.5}, "no subject control"),
                           ({"method": "adain"}, "lapstyle only"), ({"backend": "tensorrt"}, "unknown backend")]:
        with pytest.raises(brushwork.BrushworkError, match=words):
            brushwork.stylize(PHOTO, [style], size=64, **{"backend": "onnxruntime", **options})
    with pytest.raises(brushwork.BrushworkError, match="one style"):
        brushwork.stylize(PHOTO, [style, style], size=64, style_weights=[0.5, 0.5], backend="onnxruntime")


@pytest.mark.slow
def test_missing_onnxruntime_is_a_one_line_error(tmp_path):
    code = ("import sys; sys.modules['onnxruntime'] = None\n"
            "from brushwork.cli import main\n"
            f"main(['stylize', {str(PHOTO)!r}, '--style', 'starry-night', '--size', '64', '-q',"
            f" '-o', {str(tmp_path / 'x.png')!r}, '--backend', 'onnxruntime'])")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert "onnxruntime is not installed" in p.stderr and "brushwork[onnx]" in p.stderr
    assert not (tmp_path / "x.png").exists()


@pytest.mark.slow
def test_stylize_backend_onnxruntime_matches_torch_and_caches_the_graphs(cli, tmp_path, monkeypatch):
    """`brushwork stylize --backend onnxruntime`: exported once into BRUSHWORK_HOME/onnx, the PyTorch picture."""
    from brushwork.loaders import weights

    home = tmp_path / "home"
    home.mkdir()
    real = weights.ensure("hed-vgg16")
    (home / real.name).symlink_to(real)  # the real converted encoder, seen from a fresh cache folder
    monkeypatch.setenv("BRUSHWORK_HOME", str(home))
    from brushwork.exports import runtime

    runtime.cache_folder.cache_clear()
    runtime.session.cache_clear()
    style = EVAL_STYLE / "jcjohnson__fast-neural-style__images_styles__wave.jpg"
    out = tmp_path / "ort.png"
    p = cli("stylize", PHOTO, "--style", style, "--size", "448", "--backend", "onnxruntime", "-q", "-o", out)
    assert p.returncode == 0, p.stderr
    graphs = sorted((home / "onnx").glob("*/*.onnx"))
    assert [g.name for g in graphs] == ["painter_L1_p0.65_e1.onnx", "style_encoder_512.onnx"]
    stamps = [g.stat().st_mtime_ns for g in graphs]
    ort_picture = np.asarray(load_image(out))
    reference = brushwork.Stylizer("lapstyle", progress=False).stylize_tensor(PHOTO, style, size=448,
                                                                               precision="fp32").numpy()
    assert ort_picture.shape == reference.shape
    assert np.abs(ort_picture - reference).mean() < 1 / 255
    again = brushwork.stylize(PHOTO, style, size=448, backend="onnxruntime")
    assert [g.stat().st_mtime_ns for g in sorted((home / "onnx").glob("*/*.onnx"))] == stamps  # reused
    assert np.abs(np.asarray(again, np.float32) / 255 - reference[0].transpose(1, 2, 0)).mean() < 1 / 255
    runtime.cache_folder.cache_clear()
    runtime.session.cache_clear()


@pytest.mark.slow
def test_video_backend_onnxruntime_steadies_the_draft_as_torch_does(tmp_path):
    """Video through onnxruntime runs the drafter and reviser graphs with the draft steadied in between: frames
    within 1/255 of PyTorch's (without the steadied draft they drift 2-5/255 from the second frame on)."""
    from test_video import cut

    from brushwork import stylize_video

    src = cut(tmp_path / "clip.mp4", frames=5, width=320)
    runs = {}
    for backend, options in [("onnxruntime", {}), ("torch", {"precision": "fp32"})]:
        frames = []
        stylize_video(src, tmp_path / f"{backend}.mp4", "starry-night", size=320, progress=False, backend=backend,
                      on_frame=lambda i, o: frames.append(o.astype(np.float32)), **options)
        runs[backend] = frames
    assert len(runs["onnxruntime"]) == len(runs["torch"]) == 5
    for ort_frame, torch_frame in zip(runs["onnxruntime"], runs["torch"]):
        assert np.abs(ort_frame - torch_frame).mean() < 1.0  # 8-bit levels


def test_video_cli_refuses_an_unknown_backend(cli, tmp_path):
    p = cli("video", tmp_path / "in.mp4", "-o", tmp_path / "out.mp4", "-s", "starry-night", "--backend", "tflite")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "unknown backend" in p.stderr
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.slow
def test_backend_onnxruntime_paints_any_strength_as_torch_does():
    """Below strength 1 the backend runs the graphs with a strength input: the PyTorch picture at 0.4, the photo
    itself at 0."""
    style = EVAL_STYLE / "jcjohnson__neural-style__examples_inputs__shipwreck.jpg"
    content = photo((320, 480))
    array = content[0].permute(1, 2, 0).numpy()
    st = brushwork.Stylizer("lapstyle", progress=False)
    for strength in (0.4, 0.0):
        ours = st.stylize_tensor(array, style, size=480, backend="onnxruntime", strength=strength).numpy()
        reference = st.stylize_tensor(array, style, size=480, precision="fp32", strength=strength).numpy()
        assert np.abs(ours - reference).mean() < 1 / 255, strength
    assert np.abs(ours - content.numpy()).max() < 1e-4  # strength 0: the photo


@pytest.mark.slow
def test_backend_onnxruntime_finishes_as_torch_does():
    """finish (the finished picture's colours onto the painting's palette) through onnxruntime: the PyTorch
    picture with the same finish, within 1/255, and visibly moved from the unfinished one."""
    style = EVAL_STYLE / "jcjohnson__neural-style__examples_inputs__shipwreck.jpg"
    array = photo((320, 480))[0].permute(1, 2, 0).numpy()
    st = brushwork.Stylizer("lapstyle", progress=False)
    for strength, moved in ((1.0, 4 / 255), (0.4, 2 / 255)):  # measured: 4.8 and 2.9 levels
        ours = st.stylize_tensor(array, style, size=480, backend="onnxruntime", strength=strength, finish=0.5)
        reference = st.stylize_tensor(array, style, size=480, precision="fp32", strength=strength, finish=0.5)
        plain = st.stylize_tensor(array, style, size=480, precision="fp32", strength=strength)
        assert (ours - reference).abs().mean() < 1 / 255, strength
        assert (reference - plain).abs().mean() > moved, strength  # the step did something worth matching


@pytest.mark.slow
def test_export_with_finish_bakes_the_step_into_the_painter(tmp_path):
    """export(finish=0.5): the painter graph paints the PyTorch picture with finish=0.5 within 1/255, a picture
    visibly moved from the unfinished one, and says so in brushwork.json."""
    folder = tmp_path / "model"
    brushwork.export(folder, levels=1, finish=0.5)
    assert json.loads((folder / "brushwork.json").read_text())["finish"] == 0.5
    style_file = EVAL_STYLE / "jcjohnson__neural-style__examples_inputs__shipwreck.jpg"
    st = brushwork.Stylizer("lapstyle", progress=False)
    style = session(folder / "style_encoder.onnx").run(None, {"painting": st._style(style_file, False)[0].numpy()})[0]
    content = photo((320, 480))
    picture = session(folder / "painter.onnx").run(None, {"photo": content.numpy(), "style": style})[0]
    array = content[0].permute(1, 2, 0).numpy()
    reference = st.stylize_tensor(array, style_file, size=480, precision="fp32", finish=0.5, clean_colors=0.0).numpy()
    plain = st.stylize_tensor(array, style_file, size=480, precision="fp32", clean_colors=0.0).numpy()
    assert np.abs(picture - reference).mean() < 1 / 255
    assert np.abs(reference - plain).mean() > 4 / 255  # the step did something worth matching (4.8 levels)


@pytest.mark.slow
def test_export_with_a_strength_input(tmp_path):
    """--strength-input: the painter takes a strength; 0 gives back the photo, 1 the strength-1 painter's picture."""
    folder = tmp_path / "model"
    brushwork.export(folder, levels=1, strength_input=True)
    painter = session(folder / "painter.onnx")
    assert [i.name for i in painter.get_inputs()] == ["photo", "style", "strength"]
    assert "strength" in (folder / "README.md").read_text()
    painting = load_image(EVAL_STYLE / "jcjohnson__fast-neural-style__images_styles__wave.jpg")
    style = session(folder / "style_encoder.onnx").run(None, {"painting": painting.numpy()})[0]
    content = photo(SIZES[1]).numpy()
    zero = painter.run(None, {"photo": content, "style": style, "strength": np.zeros(1, np.float32)})[0]
    half = painter.run(None, {"photo": content, "style": style, "strength": np.full(1, 0.5, np.float32)})[0]
    full = painter.run(None, {"photo": content, "style": style, "strength": np.ones(1, np.float32)})[0]
    assert np.abs(zero - content).max() < 1e-4
    reference = torch_picture(torch.from_numpy(content), EVAL_STYLE / "jcjohnson__fast-neural-style__images_styles__wave.jpg")
    assert np.abs(full - reference).mean() < 1 / 255
    assert np.abs(half - content).mean() < np.abs(full - content).mean()


@pytest.mark.slow
def test_static_int8_painter_is_calibrated_and_close_to_fp32(cli, tmp_path):
    """--int8-mode static: ranges calibrated on the built-in samples (QDQ nodes in the graph), the picture close
    to the fp32 painter's on an eval photo and style it was not calibrated on."""
    import onnx

    folder = tmp_path / "model"
    p = cli("export", "-o", folder, "--int8", "--int8-mode", "static", "-q")
    assert p.returncode == 0, p.stderr
    ops = {n.op_type for n in onnx.load(str(folder / "painter_int8.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert json.loads((folder / "brushwork.json").read_text())["int8"] == "static"
    painting = load_image(EVAL_STYLE / "jcjohnson__neural-style__examples_inputs__shipwreck.jpg")
    style = session(folder / "style_encoder.onnx").run(None, {"painting": painting.numpy()})[0]
    feed = {"photo": photo(SIZES[0]).numpy(), "style": style}
    fp32 = session(folder / "painter.onnx").run(None, feed)[0]
    int8 = session(folder / "painter_int8.onnx").run(None, feed)[0]
    assert 0 < np.abs(int8 - fp32).mean() < 0.04
    bad = cli("export", "-o", tmp_path / "other", "--int8", "--int8-mode", "fast")
    assert bad.returncode == 2 and "--int8-mode" in bad.stderr
