"""Where a point takes its style from, over HTTP (POST /v1/explain) and on the page (click a point of the result),
against the real server and the real attention network."""
from __future__ import annotations

import base64
import io
import re
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from brushwork.core.images import to_pil
from browser import eval_photo, needs_chromium, open_page
from serverproc import running_server
from test_server_hardening import open_upload
from test_attention import GRASS, NIGHT_SKY, OCHRE_FIELD, SKY, two_regions



def png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def grey(data: bytes) -> np.ndarray:
    """A PNG's pixels as grey levels in [0, 1]."""
    im = Image.open(io.BytesIO(data))
    assert im.format == "PNG"
    return np.asarray(im.convert("RGB"), dtype=np.float64).mean(2) / 255


def logged(proc, pattern: str, count: int = 1, wait: float = 10.0) -> list:
    """The matches of `pattern` among the server's request lines, once there are `count` (a line is written just
    after its response is sent, so it may lag the client by a moment)."""
    deadline = time.time() + wait
    while True:
        found = re.findall(pattern, Path(proc.log_path).read_text())
        if len(found) >= count or time.time() > deadline:
            return found
        time.sleep(0.1)


def json_error(r, status: int, words: str) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and words in detail and "Traceback" not in detail, detail
    return detail


@pytest.mark.slow
def test_explain_over_http_lights_the_matching_half_and_refuses_bad_requests(tmp_path):
    photo = png(to_pil(two_regions(SKY, GRASS, size=256)))
    painting = png(to_pil(two_regions(NIGHT_SKY, OCHRE_FIELD, size=256, seed=1)))

    def ask(base, x, y, headers=None, **extra):
        return httpx.post(base + "/v1/explain", headers=headers, timeout=120,
                          files={"content": ("p.png", photo, "image/png"), "style_image": ("s.png", painting, "image/png")},
                          data={"x": str(x), "y": str(y), **extra})

    with running_server("--workers", "1", "--queue-size", "0", tmp=tmp_path) as (base, proc):
        left, right = ask(base, 0.2, 0.5), ask(base, 0.8, 0.5)
        for r in (left, right):
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == "image/png"
        a, b = grey(left.content), grey(right.content)
        assert a.shape == b.shape and max(a.shape) == 384  # the painting, as in explain's middle panel
        half = a.shape[1] // 2
        lit_left = (a - b)[:, :half].mean()  # brighter under the heat map: the left point's heat is on the left
        lit_right = (a - b)[:, half:].mean()
        assert lit_left > 0.05 and lit_left > lit_right + 0.05, (lit_left, lit_right)
        # a built-in style by name, and a JPEG answer
        r = httpx.post(base + "/v1/explain", files={"content": ("p.png", photo, "image/png")},
                       data={"style": "starry-night", "x": "0.5", "y": "0.5", "format": "jpeg"}, timeout=120)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", r.text
        assert Image.open(io.BytesIO(r.content)).format == "JPEG"
        # bad requests: one-line JSON errors
        json_error(ask(base, 1.5, 0.5), 422, "outside the photo")
        json_error(ask(base, 0.5, -0.1), 422, "outside the photo")
        json_error(ask(base, "nan", 0.5), 422, "outside the photo")
        json_error(httpx.post(base + "/v1/explain", files={"content": ("p.png", photo, "image/png")},
                              data={"style": "starry-night", "x": "0.5"}, timeout=60), 422, "y")
        json_error(httpx.post(base + "/v1/explain", files={"content": ("p.png", photo, "image/png")},
                              data={"x": "0.5", "y": "0.5"}, timeout=60), 400, "exactly one")
        json_error(httpx.post(base + "/v1/explain", files={"content": ("p.png", b"not a picture" * 50, "image/png")},
                              data={"style": "starry-night", "x": "0.5", "y": "0.5"}, timeout=60), 415, "not an image")
        # another site may not use it
        json_error(ask(base, 0.2, 0.5, headers={"Origin": "http://evil.example"}), 403, "evil.example")
        assert logged(proc, "POST /v1/explain explain at 0.2,0.5 200")
        # it counts toward the server's concurrency like stylize: one place here, taken by an upload on its way in
        for holder, other in (("/v1/explain", "/v1/stylize"), ("/v1/stylize", "/v1/explain")):
            with open_upload(base, 100_000, path=holder):
                time.sleep(0.5)
                r = httpx.post(base + other, files={"content": ("p.png", photo, "image/png")},
                               data={"style": "starry-night", "x": "0.5", "y": "0.5"}, timeout=60)
                json_error(r, 503, "busy")
                assert int(r.headers["Retry-After"]) >= 1
            deadline = time.time() + 30
            while ask(base, 0.5, 0.5).status_code != 200:  # the place comes back when that client goes
                assert time.time() < deadline
                time.sleep(0.3)
        # a photo as large as /v1/stylize takes (over the 1 MB of other addresses) is taken and shrunk
        noise = np.random.default_rng(0).integers(0, 256, (900, 900, 3), dtype=np.uint8)
        big = png(Image.fromarray(noise))
        assert len(big) > 1.5 * 2**20
        r = httpx.post(base + "/v1/explain", files={"content": ("big.png", big, "image/png")},
                       data={"style": "starry-night", "x": "0.1", "y": "0.9"}, timeout=120)
        assert r.status_code == 200, r.text
    assert "Traceback" not in Path(proc.log_path).read_text()


@pytest.mark.slow
@needs_chromium
def test_page_click_on_an_attention_result_shows_where_the_point_takes_its_style_from(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    photo = eval_photo(tmp_path, 1, 320)
    with running_server(tmp=tmp_path) as (base, proc), sync_api.sync_playwright() as p, \
            open_page(p, {"width": 1200, "height": 860}) as (page, errors):
        page.goto(base + "/")
        page.wait_for_selector("#gallery[data-ready=true]")
        page.set_input_files("#photo", str(photo))
        page.wait_for_selector("#stage:not(.empty)")
        page.select_option("#method", "attention")
        with page.expect_response(lambda r: r.url.endswith("/v1/stylize") and r.request.method == "POST") as sent:
            page.click("#gallery button[data-style='starry-night']")
        assert sent.value.status == 200
        page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('done')",
                               timeout=120_000)
        assert logged(proc, "POST /v1/stylize attention 512px 200")  # the server's request line: the method used
        assert page.locator("#explain").is_hidden()
        assert page.locator("#explain-hint").is_visible()
        heat = page.locator("#explain-heat")
        answers = []
        for fx, fy in ((0.12, 0.15), (0.88, 0.85)):  # two far-apart points
            page.locator("#result").scroll_into_view_if_needed()
            box = page.locator("#result").bounding_box()
            cx, cy = box["x"] + fx * box["width"], box["y"] + fy * box["height"]
            n = int(heat.get_attribute("data-explains"))
            with page.expect_response(lambda r: r.url.endswith("/v1/explain")) as answer:
                page.mouse.click(cx, cy)
            assert answer.value.status == 200, answer.value.text()
            asked = logged(proc, r"POST /v1/explain explain at ([0-9.e-]+),([0-9.e-]+) 200", len(answers) + 1)
            assert asked and abs(float(asked[-1][0]) - fx) < 0.01 and abs(float(asked[-1][1]) - fy) < 0.01, (asked, fx, fy)
            page.wait_for_function(f"() => +document.querySelector('#explain-heat').dataset.explains > {n}",
                                   timeout=120_000)
            assert page.locator("#error").is_hidden(), page.locator("#error").text_content()
            assert page.locator("#explain").is_visible()
            assert heat.evaluate("i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0")
            assert "where this point takes its style from" in page.locator("#explain figcaption").text_content().lower()
            dot = page.locator("#explain-dot").bounding_box()  # the clicked point is marked on the result
            assert abs(dot["x"] + dot["width"] / 2 - cx) < 2 and abs(dot["y"] + dot["height"] / 2 - cy) < 2, (dot, cx, cy)
            shown = heat.evaluate("""i => { const c = document.createElement('canvas');
                c.width = i.naturalWidth; c.height = i.naturalHeight; c.getContext('2d').drawImage(i, 0, 0);
                return c.toDataURL('image/png'); }""")  # the heat map as the page shows it
            answers.append(grey(base64.b64decode(shown.split(",", 1)[1])))
        a, b = answers
        assert a.shape == b.shape
        assert np.abs(a - b).mean() > 0.01, "two far-apart points show the same heat map"
        # another style: the old heat map goes away with the old point
        page.click("#gallery button[data-style='great-wave']")
        assert page.locator("#explain").is_hidden() and page.locator("#explain-dot").is_hidden()
        assert not errors, errors
