"""The web page in Debian's Chromium (Playwright) against the real server: photo, style, sliders, brush, download."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from browser import eval_photo, needs_chromium, open_page
from serverproc import running_server

sync_api = pytest.importorskip("playwright.sync_api")
DOCS = Path(__file__).resolve().parents[1] / "docs"
SHOTS = os.environ.get("BRUSHWORK_PAGE_SHOTS")  # set to write the README's screenshots into docs/


@pytest.mark.slow
@needs_chromium
@pytest.mark.parametrize("viewport", [{"width": 1200, "height": 860}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_page_paints_a_photo(tmp_path, viewport):
    photo = eval_photo(tmp_path, 1, 640)
    shots = DOCS if SHOTS and viewport["width"] > 1000 else tmp_path
    with running_server(tmp=tmp_path) as (base, _), sync_api.sync_playwright() as p, \
            open_page(p, viewport, accept_downloads=True) as (page, errors):
        page.goto(base + "/")
        page.wait_for_selector("#gallery button[data-style='starry-night']")
        assert page.locator("#gallery button").count() >= 8
        assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth"), "the page is wider than the screen"
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


@pytest.mark.slow
@needs_chromium
def test_page_method_selector_favicon_and_gallery_loading(tmp_path):
    photo = eval_photo(tmp_path, 2, 320)
    with running_server(tmp=tmp_path) as (base, _), sync_api.sync_playwright() as p, \
            open_page(p, {"width": 1200, "height": 860}) as (page, errors):
        # the style list held back for a moment: the gallery says it is loading, then shows every thumbnail drawn
        release = []
        page.route("**/v1/styles", lambda route: release.append(route))
        page.goto(base + "/")
        page.wait_for_function("() => document.querySelector('#gallery-loading') !== null")
        assert page.locator("#gallery-loading").is_visible()
        assert page.locator("#gallery").get_attribute("aria-busy") == "true"
        page.wait_for_timeout(300)
        assert release, "the page did not ask for the styles"
        release[0].continue_()
        page.wait_for_selector("#gallery[data-ready=true]")
        assert page.locator("#gallery-loading").count() == 0
        drawn = page.evaluate("() => [...document.querySelectorAll('#gallery img')].map(i => i.complete && i.naturalWidth > 0)")
        assert len(drawn) >= 8 and all(drawn)
        # the favicon: linked from the page and served, also under its old name
        icon = page.locator("link[rel=icon]").get_attribute("href")
        for path in ("/" + icon, "/favicon.ico"):
            r = page.request.get(base + path)
            assert r.status == 200 and r.headers["content-type"].startswith("image/svg+xml") and b"<svg" in r.body()
        # the method selector: the painting is made with the chosen method
        page.set_input_files("#photo", str(photo))
        page.wait_for_selector("#stage:not(.empty)")
        page.select_option("#method", "adain")
        with page.expect_response(lambda r: r.url.endswith("/v1/stylize") and r.request.method == "POST") as sent:
            page.click("#gallery button[data-style='the-scream']")
        assert sent.value.status == 200
        assert 'name="method"\r\n\r\nadain\r\n' in sent.value.request.post_data_buffer.decode("latin-1")
        page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('done')",
                               timeout=120_000)
        assert page.locator("#result").get_attribute("data-kind") == "full"
        # optimize runs as a job with its progress on the page; choosing another method drops that job
        page.select_option("#size", "256")
        with page.expect_response(lambda r: r.url.endswith("/v1/jobs") and r.request.method == "POST") as made:
            page.select_option("#method", "optimize")
        job = made.value.json()
        assert made.value.status == 202 and job["secret"]
        page.wait_for_function("() => /painting: (queued|running) \\d+%/.test(document.querySelector('#status').textContent)",
                               timeout=60_000)
        fetched = []
        page.on("request", lambda r: fetched.append(r.url) if r.url.endswith(f"{job['id']}/result") else None)
        with page.expect_request(lambda r: r.method == "DELETE" and job["id"] in r.url):
            page.select_option("#method", "lapstyle")
        assert not fetched, "the job ran to its end instead of being dropped"
        page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('done')",
                               timeout=120_000)
        # a quality preset instead of a method: the server picks the method and size
        assert page.locator("#quality").is_visible()
        with page.expect_response(lambda r: r.url.endswith("/v1/stylize") and r.request.method == "POST") as sent:
            page.select_option("#quality", "fast")
        body = sent.value.request.post_data_buffer.decode("latin-1")
        assert sent.value.status == 200 and 'name="quality"\r\n\r\nfast\r\n' in body and 'name="method"' not in body
        assert page.locator("#method").is_disabled()
        page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('done')",
                               timeout=120_000)
        assert page.locator("#error").is_hidden(), page.locator("#error").text_content()
        assert not errors, errors
