"""Opening a report from disk in a real headless browser (Debian's chromium driven by Playwright).

`make test` installs both (`make browser`, the `dev` extra). Outside CI the tests skip when either is missing;
on CI (CI=true) a missing browser is a failure, so a broken install cannot pass silently.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_browser():
    """Playwright's ``sync_playwright``, or skip (fail on CI) when it or chromium is missing."""
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "playwright is not installed (pip install -e '.[dev]')"
    if not os.path.exists(CHROMIUM):
        missing = "Debian's chromium is not installed (make browser)"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    return sync_playwright


@contextmanager
def open_report(report: Path, wait: str = "load") -> Iterator[Any]:
    """The page of ``report`` in a fresh browser; ``page.problems`` collects console errors, page errors and
    failed requests."""
    sync_playwright = require_browser()
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url}"))
            page.problems = problems
            page.goto(report.as_uri(), wait_until=wait)
            yield page
        finally:
            browser.close()


def visible_cards(page) -> list[dict]:
    """The cards on screen: file key, top-1 score, case and text."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('section.case:not([hidden]) article.card')).map(c => ({
            key: c.dataset.key, score: parseFloat(c.dataset.score), case: c.closest('section.case').dataset.case,
            oe: c.dataset.oe === undefined ? null : parseFloat(c.dataset.oe),
            bm: c.dataset.bm === undefined ? null : parseFloat(c.dataset.bm), text: c.textContent}))"""
    )
