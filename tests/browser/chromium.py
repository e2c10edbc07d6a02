"""Headless Chromium (Debian's, driven by Playwright) for the tests of the HTML pages:
open a local file, collect console errors and page errors, take a screenshot."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class RenderedPage:
    page: Any
    """playwright.sync_api.Page, still open inside the `rendered` block."""
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Debian chromium is not installed (scripts/setup.sh installs it as root)")
    return path


@contextmanager
def rendered(
    html: Path, screenshot: Path | None = None, width: int = 1400
) -> Iterator[RenderedPage]:
    """`html` loaded in headless Chromium; console errors and failed requests are recorded,
    and `screenshot` (full page PNG) is taken once the page has loaded."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = chromium_path()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            result = RenderedPage(page)
            page.on(
                "console",
                lambda m: result.console_errors.append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: result.console_errors.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: result.failed_requests.append(r.url))
            page.goto(html.resolve().as_uri(), wait_until="load")
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
            yield result
        finally:
            browser.close()
