"""Test support: headless Chromium through Playwright, or a skip (a failure under CI=true)."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def browser_or_skip() -> Any:
    """``playwright.sync_api``; skips the test when Chromium is missing (fails it in CI)."""
    playwright = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        reason = "Chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; .ci/run installs it in CI", pytrace=False)
        pytest.skip(reason)
    return playwright


def launch(playwright: Any) -> Any:
    """Debian's Chromium, headless, quiet on the network."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
              "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync"],
    )
