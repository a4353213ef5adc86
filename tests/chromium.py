"""What the browser tests share (tests/test_browser.py: JupyterLab; tests/test_book.py: the book): the system
Chromium, its flags, and the rule for a missing dependency. The `browser` fixture is in conftest.py."""

from __future__ import annotations

import importlib.util
import os

import pytest

CHROMIUM = "/usr/bin/chromium"  # the Debian package; Playwright never downloads a browser here
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def require(ok: bool, reason: str) -> None:
    """Skip when a dependency is missing, except in CI, which must run the test."""
    if ok:
        return
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{reason} (CI={os.environ['CI']}: this test must run in CI)")
    pytest.skip(reason)


def importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None
