"""A page in headless Chromium, driven by Playwright: Debian's browser at /usr/bin/chromium (the
Makefile installs it), never one that Playwright downloads."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying to reach Google's hosts, which
# this machine's closed network refuses; as root it needs --no-sandbox. Playwright adds
# --headless and a new, empty --user-data-dir itself.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def browser_page(width: int = 1800, height: int = 1100) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def page_text_when(page: Page, ready: Callable[[str], bool], seconds: float, what: str) -> str:
    """The page's visible text once `ready` holds for it (pages fill in after they load)."""
    deadline = time.monotonic() + seconds
    while True:
        text = page.inner_text("body")
        if ready(text):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}; the page showed:\n{text[:3000]}")
        time.sleep(0.5)
