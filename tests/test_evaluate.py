"""`brushwork evaluate` end to end: a 2 x 2 report that a real browser displays, caching, votes, clean errors."""
import csv
import dataclasses
from html import escape
import json
import os
import shutil
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest

from brushwork import api
from brushwork.errors import BrushworkError
from brushwork.evaluation.runner import evaluate
from brushwork.cli.evaluate import parse_sets
from brushwork.evaluation.votes import make_server, read_votes

from conftest import find

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]
OPTIONS = {"optimize": {"iterations": 5}}


def _folder(root: Path, files) -> Path:
    root.mkdir(parents=True)
    for f in files:
        shutil.copy(f, root / f.name)
    return root


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, eval_content, eval_style):
    root = tmp_path_factory.mktemp("inputs")
    return (_folder(root / "content", eval_content[:2]),
            _folder(root / "style", [find(eval_style, "starry"), find(eval_style, "wave")]))


@pytest.fixture(scope="module")
def report(tmp_path_factory, inputs):
    out = tmp_path_factory.mktemp("report")
    result = evaluate("optimize,adain", *inputs, out, size=64, options=OPTIONS, timing_sizes=(32, 64), progress=False)
    return out, result


@pytest.fixture(scope="module")
def served(report):
    out, _ = report
    server = make_server(out, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield out, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_report_has_every_result_and_number(report):
    out, result = report
    assert result["ran"] == 8 + 4 and result["skipped"] == 0  # 2 methods x 2 x 2 pairs, 2 methods x 2 timing sizes
    data = json.loads((out / "results.json").read_text())
    assert len(data["runs"]) == 8 and len(data["timings"]) == 4
    for r in data["runs"].values():
        assert max(r["width"], r["height"]) == 64 and (out / r["image"]).is_file()
        assert r["seconds"] > 0 and "peak_rss_mb" in r and 0 < r["content_loss"] and r["style_gram"] > 0
        assert -1 <= r["ssim"] <= 1 and r["color_swd"] > 0 and "style_gram_relu5_1" in r
    assert data["machine"]["cpu"] and data["machine"]["torch"]
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert sorted(r["kind"] for r in rows) == ["pair"] * 8 + ["timing"] * 4
    assert all(float(r["seconds"]) > 0 for r in rows)
    for name in ("index.html", "rate.html", "tradeoff.png", "cost_vs_size.png"):
        assert (out / name).stat().st_size > 0
    html = (out / "index.html").read_text()
    assert escape(data["machine"]["cpu"]) in html  # the machine the numbers were measured on
    assert html.count('src="images/') == 8


@pytest.mark.slow
def test_rerun_skips_finished_results_and_force_redoes_them(report, inputs, tmp_path):
    out, _ = report
    images = sorted((out / "images").iterdir())
    before = {p: p.stat().st_mtime_ns for p in images}
    again = evaluate("optimize,adain", *inputs, out, size=64, options=OPTIONS, timing_sizes=(32, 64), progress=False)
    assert again["ran"] == 0 and again["skipped"] == 8
    assert {p: p.stat().st_mtime_ns for p in images} == before
    # other options are other results; --force recomputes (a 1 x 1 report keeps this cheap)
    small = tmp_path / "small"
    one_content, one_style = tmp_path / "c", tmp_path / "s"
    _folder(one_content, sorted(inputs[0].iterdir())[:1])
    _folder(one_style, sorted(inputs[1].iterdir())[:1])
    first = evaluate("adain", one_content, one_style, small, size=48, timing_sizes=(), progress=False)
    assert first["ran"] == 1
    assert evaluate("adain", one_content, one_style, small, size=48, timing_sizes=(), progress=False)["ran"] == 0
    assert evaluate("adain", one_content, one_style, small, size=48, timing_sizes=(), progress=False,
                    options={"adain": {"strength": 0.5}})["ran"] == 1
    assert evaluate("adain", one_content, one_style, small, size=48, timing_sizes=(), progress=False,
                    options={"adain": {"strength": 0.5}}, force=True)["ran"] == 1
    # results of other shipped networks (another SHA256SUMS) are stale: new weights are scored afresh
    data = json.loads((small / "results.json").read_text())
    for rec in data["runs"].values():
        rec["models"] = "weights-of-another-session"
    (small / "results.json").write_text(json.dumps(data))
    assert evaluate("adain", one_content, one_style, small, size=48, timing_sizes=(), progress=False)["ran"] == 1


def _images_on(page, url):
    """[(src, naturalWidth)] of every <img> once the page has loaded (0 = it did not display)."""
    page.goto(url, wait_until="load")
    return page.eval_on_selector_all("img", "els => els.map(e => [e.getAttribute('src'), e.naturalWidth])")


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM, reason="chromium is not installed (apt-get install chromium), no browser to test in")
def test_report_displays_in_a_real_browser(report, served):
    sync_playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                                          "(pip install -e '.[test]')").sync_playwright

    out, _ = report
    _, url = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            page = browser.new_page()
            for name in ("index.html", "rate.html"):
                imgs = _images_on(page, (out / name).as_uri())
                assert len([src for src, _ in imgs if src.startswith("images/")]) == 8, imgs
                assert any(src.startswith("inputs/") for src, _ in imgs)
                broken = [src for src, width in imgs if width <= 0]
                assert not broken, f"{name}: pictures that did not display: {broken}"
            shown = {src for src, _ in _images_on(page, (out / "index.html").as_uri())}
            assert {"tradeoff.png", "cost_vs_size.png"} <= shown
            assert "optimize" in page.inner_text("body") and "adain" in page.inner_text("body")

            # from disk: votes stay in the page and can be downloaded as JSON
            page.goto((out / "rate.html").as_uri(), wait_until="load")
            page.click(".result >> nth=0 >> button.better")
            assert page.inner_text("#count") == "1 vote"
            with page.expect_download() as dl:
                page.click("#download")
            votes = json.loads(Path(dl.value.path()).read_text())
            assert len(votes) == 1 and votes[0]["vote"] == "better" and votes[0]["method"] in ("optimize", "adain")

            # served: a click is saved into votes.json on the server
            page = browser.new_context().new_page()
            page.goto(f"{url}/rate.html", wait_until="load")
            page.click(".result >> nth=1 >> button.worse")
            page.wait_for_function("document.getElementById('status').textContent.startsWith('saved')")
            saved = read_votes(out)
            assert saved[-1]["vote"] == "worse" and saved[-1]["size"] == 64
        finally:
            browser.close()


def test_a_damaged_results_file_is_an_error_and_force_recovers(inputs, tmp_path):
    """A results.json that is not ours stops the run with a clear error (nothing overwritten); --force redoes it."""
    one_content, one_style = tmp_path / "c", tmp_path / "s"
    _folder(one_content, sorted(inputs[0].iterdir())[:1])
    _folder(one_style, sorted(inputs[1].iterdir())[:1])
    out = tmp_path / "r"
    out.mkdir()
    (out / "results.json").write_text('{"runs": [1, 2')
    with pytest.raises(BrushworkError, match="not a brushwork results file"):
        evaluate("adain", one_content, one_style, out, size=48, timing_sizes=(), progress=False)
    assert (out / "results.json").read_text() == '{"runs": [1, 2'
    again = evaluate("adain", one_content, one_style, out, size=48, timing_sizes=(), progress=False, force=True)
    assert again["ran"] == 1 and len(json.loads((out / "results.json").read_text())["runs"]) == 1
    assert evaluate("adain", one_content, one_style, out, size=48, timing_sizes=(), progress=False)["ran"] == 0


def test_any_registered_method_can_be_evaluated(monkeypatch, inputs, tmp_path):
    """A method added to api.METHODS later (e.g. lapstyle) needs no change here: a stand-in proves it."""
    @dataclasses.dataclass
    class Options:
        size: int = 512

        def check(self):
            pass

    def stylize(content, styles, style_weights, masks, options, **kwargs):
        return 1.0 - content

    fake = types.ModuleType("fake_negative_method")
    fake.Options, fake.stylize = Options, stylize
    monkeypatch.setitem(sys.modules, "fake_negative_method", fake)
    monkeypatch.setitem(api.METHODS, "negative", "fake_negative_method")
    result = evaluate("negative", *inputs, tmp_path / "r", size=32, timing_sizes=(), progress=False)
    assert result["ran"] == 4
    assert 'src="images/negative__' in (tmp_path / "r" / "index.html").read_text()


@pytest.mark.slow
def test_method_variants_are_compared_side_by_side(inputs, tmp_path):
    """"adain@strength=0" runs as a method of its own: its options recorded, strength 0 keeping the photo."""
    result = evaluate("adain,adain@strength=0", *inputs, tmp_path / "r", size=48, timing_sizes=(), progress=False)
    runs = list(result["data"]["runs"].values())
    assert result["ran"] == 8
    full = [r for r in runs if r["method"] == "adain"]
    none = [r for r in runs if r["method"] == "adain@strength=0"]
    assert len(full) == len(none) == 4 and all(r["options"] == {"strength": 0} for r in none)
    assert max(r["content_loss"] for r in none) < 0.05 < min(r["content_loss"] for r in full)
    assert "adain@strength=0" in (tmp_path / "r" / "index.html").read_text()
    with pytest.raises(BrushworkError, match="METHOD@OPTION=VALUE"):
        evaluate("adain@strength", *inputs, tmp_path / "r")
    with pytest.raises(BrushworkError, match="strength must be between 0 and 1"):
        evaluate("adain@strength=2", *inputs, tmp_path / "r")


def test_bad_input_is_a_clear_error(inputs, tmp_path):
    with pytest.raises(BrushworkError, match="unknown method 'nope'"):
        evaluate("optimize,nope", *inputs, tmp_path / "r")
    with pytest.raises(BrushworkError, match="does not exist"):
        evaluate("adain", tmp_path / "missing", inputs[1], tmp_path / "r")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BrushworkError, match="no images"):
        evaluate("adain", tmp_path / "empty", inputs[1], tmp_path / "r")
    with pytest.raises(BrushworkError, match="no option"):
        evaluate("adain", *inputs, tmp_path / "r", options={"adain": {"iterations": 3}})
    (tmp_path / "file").write_text("x")
    with pytest.raises(BrushworkError, match="is a file"):
        evaluate("adain", *inputs, tmp_path / "file")
    with pytest.raises(BrushworkError, match="not an evaluation report"):
        make_server(tmp_path, port=0)
    assert parse_sets(["optimize.iterations=5", "optimize.style_loss=gram"]) == \
        {"optimize": {"iterations": 5, "style_loss": "gram"}}
    with pytest.raises(BrushworkError, match="METHOD.OPTION=VALUE"):
        parse_sets(["iterations=5"])


@pytest.mark.slow
def test_cli_writes_a_report_and_reports_errors_in_one_line(inputs, tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "brushwork.cli", *map(str, args)], capture_output=True,
                              text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})

    content = tmp_path / "c"
    _folder(content, sorted(inputs[0].iterdir())[:1])
    ok = run("evaluate", "--methods", "adain", "--content", content, "--style", inputs[1], "-o", tmp_path / "r",
             "--size", "48", "--timing-sizes", "none", "-q")
    assert ok.returncode == 0, ok.stderr
    assert len(json.loads((tmp_path / "r" / "results.json").read_text())["runs"]) == 2
    bad = run("evaluate", "--methods", "optimize,nope", "-o", tmp_path / "r2")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == ["brushwork: error: unknown method 'nope'; choose from "
                                               + ", ".join(api.METHODS)]
    assert not (tmp_path / "r2").exists()


@pytest.mark.slow
def test_outputs_of_another_tool_are_scored_like_the_methods(report, inputs, tmp_path):
    """A brushwork method's pictures, saved to a folder as <photo>__<style>.png, score as that method did."""
    out, result = report
    adain = [r for r in result["data"]["runs"].values() if r["method"] == "adain"]
    folder = tmp_path / "theirs"
    folder.mkdir()
    for r in adain[:-1]:  # one pair left out: skipped with a note
        shutil.copy(out / r["image"], folder / f"{Path(r['content_path']).stem}__{Path(r['style_path']).stem}.png")
    (folder / "unrelated.png").write_bytes((out / adain[0]["image"]).read_bytes())
    again = tmp_path / "report"
    shutil.copytree(out, again)
    res = evaluate("adain", *inputs, again, size=64, timing_sizes=(), progress=False, outputs=[f"theirs={folder}"])
    assert res["ran"] == 3  # adain itself reused from the report
    assert len(res["notes"]) == 1 and "1 of 4" in res["notes"][0]
    theirs = {(r["content"], r["style"]): r for r in res["data"]["runs"].values() if r["method"] == "theirs"}
    assert len(theirs) == 3
    for r in adain[:-1]:
        t = theirs[(r["content"], r["style"])]
        assert t["seconds"] is None and t["external"]
        for k in ("content_loss", "style_gram", "style_meanstd", "lite_content", "lite_style", "ssim", "color_swd"):
            assert t[k] == pytest.approx(r[k], rel=0.02, abs=1e-3), k  # the same pictures, up to 8-bit rounding
    html = (again / "index.html").read_text()
    assert "theirs" in html and "1 of 4 pairs" in html
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BrushworkError, match="holds no file named"):
        evaluate("adain", *inputs, again, size=64, outputs={"x": empty})
    with pytest.raises(BrushworkError, match="does not exist"):
        evaluate("adain", *inputs, again, size=64, outputs={"x": tmp_path / "nowhere"})
    with pytest.raises(BrushworkError, match="already used"):
        evaluate("adain", *inputs, again, size=64, outputs={"adain": folder})


def test_strength_sweep_expands_methods_and_charts_content_loss(inputs, tmp_path):
    """--strength-sweep runs each method at each strength; content loss grows with strength; the chart is drawn."""
    content = _folder(tmp_path / "c", sorted(inputs[0].iterdir())[:1])
    style = _folder(tmp_path / "s", sorted(inputs[1].iterdir())[:1])
    res = evaluate("adain", content, style, tmp_path / "r", size=48, timing_sizes=(), progress=False,
                   strength_sweep=[0, 0.5, 1])
    runs = {r["method"]: r for r in res["data"]["runs"].values()}
    assert sorted(runs) == ["adain@strength=0", "adain@strength=0.5", "adain@strength=1"]
    loss = [runs[f"adain@strength={s}"]["content_loss"] for s in ("0", "0.5", "1")]
    assert loss[0] < loss[1] < loss[2]
    assert (tmp_path / "r" / "strength_sweep.png").stat().st_size > 10_000
    assert 'src="strength_sweep.png"' in (tmp_path / "r" / "index.html").read_text()
    with pytest.raises(BrushworkError, match=r"in \[0, 1\]"):
        evaluate("adain", content, style, tmp_path / "r", strength_sweep=[0, 2])


@pytest.mark.slow
def test_cli_takes_outputs_and_a_strength_sweep(inputs, tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "brushwork.cli", *map(str, a)], capture_output=True,
                                    text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    bad = run("evaluate", "--methods", "adain", "--content", inputs[0], "--style", inputs[1], "-o", tmp_path / "r",
              "--outputs", f"x={tmp_path / 'nowhere'}")
    assert bad.returncode != 0 and bad.stderr.strip().startswith("brushwork: error: outputs folder")
    assert len(bad.stderr.strip().splitlines()) == 1
    bad = run("evaluate", "--methods", "adain", "-o", tmp_path / "r", "--strength-sweep", "0,half")
    assert bad.returncode != 0 and "brushwork: error: --strength-sweep takes numbers" in bad.stderr
