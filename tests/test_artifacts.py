"""Artifact measures: each rises when its flaw is painted into a clean result, and stays put on clean results.

Clean results are the package's own default (lapstyle) output for real eval pairs at 256 px; each flaw is
injected the way it shows in real results (a foreign-coloured blob, the photo pasted back, overshoot along the
photo's edges, a dark border strip, a flat patch, a periodic grid, another picture's edges, a blurred face).
"""
import io
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image
from scipy.spatial import cKDTree
from skimage.color import rgb2lab

import brushwork
from brushwork.evaluation import artifacts as A

from conftest import find

# (photo, painting) pairs from eval: a face, a photo with colours the painting lacks, an animal on a flat field
PAIRS = [("astronaut", "grande-jatte"), ("coffee", "shipwreck"), ("chelsea", "wave")]
SIZE = 256


def _array(img) -> np.ndarray:
    return np.asarray(img.convert("RGB"), np.float32) / 255


@pytest.fixture(scope="module")
def clean(eval_content, eval_style):
    """{photo name: (clean result, photo at the result's size, painting)} as HxWx3 float arrays."""
    out = {}
    for c, s in PAIRS:
        photo, painting = find(eval_content, c), find(eval_style, s)
        result = _array(brushwork.stylize(photo, painting, size=SIZE))
        h, w = result.shape[:2]
        out[c] = (result, _array(Image.open(photo).resize((w, h), Image.Resampling.LANCZOS)), _array(Image.open(painting)))
    return out


def reencoded(a: np.ndarray) -> np.ndarray:
    """A light re-encoding: 8-bit JPEG at quality 95, no chroma subsampling."""
    buf = io.BytesIO()
    Image.fromarray((a * 255).round().astype(np.uint8)).save(buf, "JPEG", quality=95, subsampling=0)
    buf.seek(0)
    return _array(Image.open(buf))


def _disc(h, w, cy, cx, r):
    yy, xx = np.ogrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def _far_colour(painting):
    """Of a few saturated colours, the one farthest (Lab) from every pixel of the painting."""
    cands = np.array([[1, 0, 1], [0, 1, 0], [0, 1, 1], [1, 1, 0], [0, 0, 1], [1, 0, 0], [1, .5, .8]], np.float32)
    d = cKDTree(rgb2lab(painting).reshape(-1, 3)[::7]).query(rgb2lab(cands[None])[0])[0]
    return cands[int(np.argmax(d))]


# each: (result, photo, painting, other picture) -> the result with that flaw painted in
def foreign_blob(r, ph, pa, other):
    h, w = r.shape[:2]
    out = r.copy()
    out[_disc(h, w, h // 2, w // 2, min(h, w) * 0.15)] = _far_colour(pa)  # ~7% of the picture
    return out


def photo_pasted(r, ph, pa, other):
    h, w = r.shape[:2]
    where = A.measure_maps(ph, ph, pa, ["foreign_colors"])["foreign_colors"][1]  # the photo's colours the painting lacks
    y, x = A.worst_place(where, min(h, w) // 3)
    k, out = min(h, w) // 6, r.copy()
    out[y - k:y + k, x - k:x + k] = ph[y - k:y + k, x - k:x + k]
    return out


def overshoot(r, ph, pa, other):
    lum = ph.mean(2)
    return np.clip(r + 0.6 * (lum - cv2.GaussianBlur(lum, (0, 0), 3))[..., None], 0, 1)  # unsharp mask of the photo


def dark_border(r, ph, pa, other):
    """The outer 5 px darkened along the border where the photo itself shows the least band."""
    own = {k: np.linalg.norm((o - i).mean(0)) for k, (o, i) in A._border_profiles(rgb2lab(ph)).items()}
    side = min(own, key=own.get)
    out = r.copy()
    strip = {"top": (slice(0, 5),), "bottom": (slice(-5, None),), "left": (slice(None), slice(0, 5)),
             "right": (slice(None), slice(-5, None))}[side]
    out[strip] *= 0.4
    return out


def flat_patch(r, ph, pa, other):
    h, w = r.shape[:2]
    texture = cv2.blur(A._local_std(rgb2lab(ph), 9), (min(h, w) // 4,) * 2)
    m = h // 8, w // 8
    y, x = np.unravel_index(np.argmax(texture[m[0]:-m[0], m[1]:-m[1]]), (h - 2 * m[0], w - 2 * m[1]))
    y, x, k = y + m[0], x + m[1], min(h, w) // 8
    out = r.copy()
    out[y - k:y + k, x - k:x + k] = r[y - k:y + k, x - k:x + k].mean((0, 1))  # where the photo is most textured
    return out


def grid(r, ph, pa, other):
    out = r.copy()
    out[::4] *= 0.9
    out[:, ::4] *= 0.9
    return out


def foreign_edges(r, ph, pa, other):
    h, w = r.shape[:2]
    edges = cv2.Canny((cv2.resize(other, (w, h)).mean(2) * 255).astype(np.uint8), 100, 200) > 0
    out = r.copy()
    out[edges] = 0.05
    return out


def blurred_faces(r, ph, pa, other):
    out, soft = r.copy(), cv2.GaussianBlur(r, (0, 0), 6)
    for x, y, w, h in A.faces(ph):
        out[y:y + h, x:x + w] = soft[y:y + h, x:x + w]
    return out


# measure -> (injection, the least rise it must show (a drop for faces_kept), re-encoding tolerance)
CASES = {
    "foreign_colors": (foreign_blob, 0.035, 0.002),
    "photo_colors": (photo_pasted, 0.03, 0.002),
    "halos": (overshoot, 0.15, 0.005),
    "border_bands": (dark_border, 5.0, 0.2),
    "blotches": (flat_patch, 0.02, 0.01),
    "grid_energy": (grid, 0.05, 0.003),
    "imprinted_edges": (foreign_edges, 0.25, 0.03),
    "faces_kept": (blurred_faces, 0.2, 0.01),
}


def test_every_measure_has_a_test_and_a_report_label():
    assert set(CASES) == set(A.MEASURES)
    assert all(d in (-1, 1) and label and text for label, d, text in A.MEASURES.values())


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_an_injected_flaw_raises_its_measure(name, clean, eval_style):
    """The flaw painted into a clean result moves its number by at least the stated bound, on every pair
    (faces_kept: on the pair whose photo shows a face, where it must drop)."""
    inject, bound, _ = CASES[name]
    other = _array(Image.open(find(eval_style, "starry_night")))
    fn = getattr(A, name)
    for photo, (r, ph, pa) in clean.items():
        if name == "faces_kept" and not A.faces(ph):
            continue
        before, after = fn(r, ph, pa), fn(inject(r, ph, pa, other), ph, pa)
        if A.MEASURES[name][1] > 0:
            assert before - after >= bound, (photo, before, after)
        else:
            assert after - before >= bound, (photo, before, after)
    if name == "imprinted_edges":  # also relative: the painted edges at least 1.4 times what was there
        r, ph, pa = clean["coffee"]
        assert fn(inject(r, ph, pa, other), ph, pa) >= 1.4 * fn(r, ph, pa)


@pytest.mark.slow
def test_measures_stay_flat_on_clean_results(clean):
    """A lightly re-encoded copy of a clean result scores within each measure's tolerance of the result."""
    for photo, (r, ph, pa) in clean.items():
        a, b = A.all_artifacts(r, ph, pa), A.all_artifacts(reencoded(r), ph, pa)
        for name, (_, _, tol) in CASES.items():
            if np.isnan(a[name]):
                assert np.isnan(b[name]), (photo, name)
                continue
            assert abs(a[name] - b[name]) <= tol, (photo, name, a[name], b[name])


@pytest.mark.slow
def test_the_photo_scored_as_its_own_result_has_no_halos_bands_or_grid(clean):
    """Measures taken beyond the photo's own are exactly zero when the result is the photo."""
    for r, ph, pa in clean.values():
        assert A.halos(ph, ph, pa) == 0.0
        assert A.border_bands(ph, ph, pa) == 0.0
        assert A.grid_energy(ph, ph, pa) == 0.0
        assert A.faces_kept(ph, ph, pa) == pytest.approx(1.0) or not A.faces(ph)


@pytest.mark.slow
def test_faces_are_found_only_where_there_is_one(clean):
    """The astronaut's face is found and boxed near its real place; a cup of coffee has none: faces_kept is NaN."""
    r, ph, pa = clean["astronaut"]
    boxes = A.faces(ph)
    assert boxes
    # the astronaut's face at 256 px lies around x 85-135, y 25-85
    assert any(abs(x + w / 2 - 110) < 25 and abs(y + h / 2 - 55) < 25 for x, y, w, h in boxes), boxes
    r, ph, pa = clean["coffee"]
    assert A.faces(ph) == [] and np.isnan(A.faces_kept(r, ph, pa))


@pytest.mark.slow
def test_maps_point_at_the_injected_flaw(clean, eval_style):
    """The worst place of each map (the centre of the report's crop) lies on the painted flaw."""
    r, ph, pa = clean["coffee"]
    h, w = r.shape[:2]
    maps = A.measure_maps(foreign_blob(r, ph, pa, None), ph, pa, ["foreign_colors"])
    y, x = A.worst_place(maps["foreign_colors"][1], A.crop_side((h, w)))
    assert _disc(h, w, h // 2, w // 2, min(h, w) * 0.15)[y, x]
    maps = A.measure_maps(dark_border(r, ph, pa, None), ph, pa, ["border_bands"])
    y, x = A.worst_place(maps["border_bands"][1], A.crop_side((h, w)))
    ys, xs = np.nonzero(np.abs(dark_border(r, ph, pa, None) - r).max(2) > 0)
    half = A.crop_side((h, w)) // 2
    inside = (np.abs(ys - y) <= half) & (np.abs(xs - x) <= half)
    assert inside.mean() > 0.15  # the crop holds a good part of the darkened strip, not some other place


def test_tiny_and_tensor_inputs_are_measured(eval_content, eval_style):
    """Tensors and arrays of any size (down to 16 px) give a number for every measure, no error."""
    from brushwork.core.images import load_image

    photo, painting = load_image(find(eval_content, "coffee"), size=16), load_image(find(eval_style, "wave"), size=64)
    found = A.all_artifacts(photo, photo, painting)
    assert set(found) == set(A.MEASURES)
    assert all(np.isfinite(v) for k, v in found.items() if k != "faces_kept")


@pytest.mark.slow
def test_evaluate_reports_artifacts_and_their_worst_crops(clean, eval_content, eval_style, tmp_path):
    """`brushwork evaluate --methods lapstyle --content DIR --style DIR --outputs reference=DIR`: every measure in
    results.json and .csv for both; the reference with a foreign blob tops that gallery, cropped on the blob."""
    content, style, ref = tmp_path / "content", tmp_path / "style", tmp_path / "reference"
    for folder in (content, style, ref):
        folder.mkdir()
    photo, painting = find(eval_content, "coffee"), find(eval_style, "shipwreck")
    shutil.copy(photo, content)
    shutil.copy(painting, style)
    r, ph, pa = clean["coffee"]
    Image.fromarray((foreign_blob(r, ph, pa, None) * 255).round().astype(np.uint8)).save(
        ref / f"{photo.stem}__{painting.stem}.png")
    done = subprocess.run([sys.executable, "-m", "brushwork.cli", "evaluate", "--methods", "lapstyle", "--content",
                           str(content), "--style", str(style), "--outputs", f"reference={ref}", "-o",
                           str(tmp_path / "report"), "--size", str(SIZE), "--timing-sizes", "none", "-q"],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    report = tmp_path / "report"
    runs = {r["method"]: r for r in json.loads((report / "results.json").read_text())["runs"].values()}
    assert set(runs) == {"lapstyle", "reference"}
    for run in runs.values():
        assert set(A.MEASURES) <= set(run) and run["faces_kept"] is None  # no face in a cup of coffee
    assert runs["reference"]["foreign_colors"] > runs["lapstyle"]["foreign_colors"] + 0.03
    header = (report / "results.csv").read_text().splitlines()[0].split(",")
    assert set(A.MEASURES) <= set(header)
    html = (report / "index.html").read_text()
    for name in A.MEASURES:
        assert f'id="worst-{name}"' in html
    top = Image.open(report / "crops" / "foreign_colors-0.jpg").convert("RGB")
    blob = np.asarray(top, np.float32)[top.height // 2, top.width // 2] / 255
    assert np.abs(blob - _far_colour(pa)).max() < 0.1  # the worst crop is centred on the painted blob
    assert 'src="crops/foreign_colors-0.jpg"' in html and "reference" in html

    # a report written before the measures existed gets them on the next run, without stylizing again
    from brushwork.evaluation.runner import evaluate

    data = json.loads((report / "results.json").read_text())
    for run in data["runs"].values():
        for name in (*A.MEASURES, "artifact_where", "artifacts_version"):
            run.pop(name)
    (report / "results.json").write_text(json.dumps(data))
    again = evaluate("lapstyle", content, style, report, size=SIZE, timing_sizes=(), progress=False,
                     outputs={"reference": ref})
    assert again["ran"] == 0
    rescored = {r["method"]: r for r in again["data"]["runs"].values()}
    for method, run in runs.items():
        for name in A.MEASURES:
            assert rescored[method][name] == pytest.approx(run[name], nan_ok=True) if run[name] is not None \
                else rescored[method][name] is None


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")), reason="no chromium")
def test_the_artifact_galleries_display_in_a_real_browser(tmp_path, eval_content, eval_style):
    """Every crop of the galleries loads in Chromium (nothing broken): the five worst results per measure that show
    its flaw, each beside the photo's crop; a note where no photo shows a face."""
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    from brushwork.evaluation.runner import evaluate

    content, style = tmp_path / "c", tmp_path / "s"
    content.mkdir(), style.mkdir()
    for f in (find(eval_content, "coffee"), find(eval_content, "chelsea")):
        shutil.copy(f, content)
    for f in (find(eval_style, "shipwreck"), find(eval_style, "wave"), find(eval_style, "mondrian")):
        shutil.copy(f, style)
    res = evaluate("lapstyle", content, style, tmp_path / "r", size=96, timing_sizes=(), progress=False)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or shutil.which("chromium-browser"),
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(res["report"].as_uri(), wait_until="load")
            crops = page.eval_on_selector_all(".crops img", "els => els.map(e => [e.getAttribute('src'), e.naturalWidth])")
            assert not [s for s, w in crops if w <= 0]
            runs = res["data"]["runs"].values()
            for name in A.MEASURES:  # the five worst, of the results that show the flaw at all
                flawed = [r for r in runs if r[name] is not None and (A.MEASURES[name][1] > 0 or r[name] > 0)]
                shown = [s for s, _ in crops if s.startswith(f"crops/{name}-") and not s.endswith("-photo.jpg")]
                assert len(shown) == min(5, len(flawed)), name
                photos = [s for s, _ in crops if s.startswith(f"crops/{name}-") and s.endswith("-photo.jpg")]
                assert len(photos) == len(shown), name  # each beside the photo at the same place
            assert "no photo shows a frontal face" in page.inner_text("#worst-faces_kept")
        finally:
            browser.close()
