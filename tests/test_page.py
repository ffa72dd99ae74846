"""The web page in Debian's Chromium (Playwright) against the real server: photo, style, sliders, brush, download."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from conftest import EVAL_CONTENT
from serverproc import running_server

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parents[1] / "docs"
SHOTS = os.environ.get("BRUSHWORK_PAGE_SHOTS")  # set to write the README's screenshots into docs/


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize("viewport", [{"width": 1200, "height": 860}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_page_paints_a_photo(tmp_path, viewport):
    photo = tmp_path / "photo.jpg"
    im = Image.open(sorted(EVAL_CONTENT.iterdir())[1]).convert("RGB")
    im.thumbnail((640, 640))
    im.save(photo)
    shots = DOCS if SHOTS and viewport["width"] > 1000 else tmp_path
    with running_server(tmp=tmp_path) as (base, _), sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport=viewport, accept_downloads=True)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base + "/")
        page.wait_for_selector("#gallery button[data-style='starry-night']")
        assert page.locator("#gallery button").count() >= 8
        result = page.locator("#result")

        def renders():
            return int(result.get_attribute("data-renders"))

        def wait_more(n, kind="full"):
            """Wait for a new result of this kind (more renders than n), with no request in flight."""
            js = ("() => +document.querySelector('#result').dataset.renders > %d && "
                  "document.querySelector('#result').dataset.kind === '%s' && "
                  "!document.querySelector('#status').textContent.endsWith('…')") % (n, kind)
            try:
                page.wait_for_function(js, timeout=120_000)
            except sync_api.TimeoutError:
                raise AssertionError(f"no new {kind} result after {n}: {page.locator('#status').text_content()!r} "
                                     f"{page.locator('#error').text_content()!r}") from None
            assert page.locator("#error").is_hidden(), page.locator("#error").text_content()

        page.set_input_files("#photo", str(photo))
        page.wait_for_selector("#stage:not(.empty)")
        page.screenshot(path=str(shots / "page_photo.jpg"), quality=80)
        page.click("#gallery button[data-style='starry-night']")
        wait_more(0)
        first = result.get_attribute("src")
        page.locator("#gallery").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "page_gallery.jpg"), quality=80)
        page.click("#gallery button[data-style='great-wave']")
        wait_more(1)
        assert result.get_attribute("src") != first
        page.screenshot(path=str(shots / "page_result.jpg"), quality=80)
        # strength: dragging sends low-resolution previews, releasing the full size
        n = renders()
        page.locator("#strength").fill("40")  # input + change events, like a drag that ends
        wait_more(n)
        assert page.locator("#strength-out").text_content() == "40%"
        # the before/after slider uncovers the photo
        page.locator("#compare").fill("30")
        assert "70%" in page.locator("#after-wrap").evaluate("e => e.style.clipPath")
        # paint the top half of the photo to keep it as the photo
        page.check("input[name=brush][value=keep]")
        page.locator("#mask").scroll_into_view_if_needed()
        box = page.locator("#mask").bounding_box()
        n = renders()
        page.mouse.move(box["x"] + 5, box["y"] + 10)
        page.mouse.down()
        for i in range(1, 21):
            page.mouse.move(box["x"] + box["width"] * i / 20, box["y"] + 10 + (i % 2) * 20)
        page.mouse.up()
        wait_more(n)
        page.locator("#compare").fill("100")
        page.screenshot(path=str(shots / "page_region.jpg"), quality=80)
        with page.expect_download() as dl:
            page.click("#download")
        saved = tmp_path / "download.png"
        dl.value.save_as(saved)
        out = Image.open(saved)
        assert out.format == "PNG" and max(out.size) == 512
        # a fast stroke (two moves across the whole width) paints a continuous band, not a few dots
        page.locator("#mask").scroll_into_view_if_needed()
        box = page.locator("#mask").bounding_box()
        n = renders()
        y = box["y"] + box["height"] - 15
        page.mouse.move(box["x"] + 5, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] / 2, y)
        page.mouse.move(box["x"] + box["width"] - 5, y)
        page.mouse.up()
        wait_more(n)
        gaps = page.evaluate("""() => { const c = document.querySelector('#mask'), g = c.getContext('2d');
            const k = c.width / c.getBoundingClientRect().width, y = Math.round(c.height - 15 * k);
            const row = g.getImageData(0, y, c.width, 1).data; let gaps = 0;
            for (let x = Math.round(10 * k); x < c.width - 10 * k; x++) if (row[4 * x + 3] === 0) gaps++;
            return gaps; }""")
        assert gaps == 0, f"{gaps} unpainted pixels along a fast stroke"
        # an error from the server shows on the page, not as a blank page
        bad = tmp_path / "bad.jpg"
        bad.write_bytes(b"not a picture at all" * 100)
        page.set_input_files("#style-upload", str(bad))
        page.wait_for_selector("#error:not([hidden])", timeout=60_000)
        assert "not an image" in page.locator("#error").text_content()
        assert not errors, errors
        browser.close()
