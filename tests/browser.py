"""Debian's Chromium under Playwright for the page tests: where it is, a skip mark when it is missing, and a page
that collects the page's JavaScript errors."""
from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from conftest import EVAL_CONTENT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                    reason="chromium is not installed (apt-get install chromium)")


def eval_photo(folder: Path, index: int, side: int) -> Path:
    """Eval photo number `index` as a JPEG in `folder`, its long side at most `side` px."""
    path = folder / "photo.jpg"
    im = Image.open(sorted(EVAL_CONTENT.iterdir())[index]).convert("RGB")
    im.thumbnail((side, side))
    im.save(path)
    return path


@contextmanager
def open_page(playwright, viewport: dict, args=(), **context):
    """(page, errors): a new Chromium page (headless, no sandbox, no GPU, plus `args`) and the list its uncaught
    JavaScript errors go to; the browser closes after."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", *args])
    try:
        page = browser.new_page(viewport=viewport, **context)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield page, errors
    finally:
        browser.close()
