"""The users page in a real browser (headless Chromium driven by Playwright)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import trio
from http_support import serve_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _browser_or_skip() -> Any:
    playwright = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        reason = "Chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; .ci/run installs it in CI", pytrace=False)
        pytest.skip(reason)
    return playwright


def _sign_up_in_browser(sync_api: Any, url: str, shot: Path) -> dict[str, Any]:
    seen: dict[str, Any] = {"dialogs": []}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        try:
            page = browser.new_page()
            page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
            page.goto(f"{url}/users")
            seen["empty"] = page.locator("tbody").inner_text()
            page.fill("input[name=name]", "<script>alert('x')</script> Ada")
            page.fill("input[name=email]", "ada@example.com")
            with page.expect_navigation():
                page.click("button[type=submit]")
            seen["url_after"] = page.url
            seen["row"] = page.locator("tbody tr").first.inner_text()
            page.fill("input[name=name]", "Ada again")
            page.fill("input[name=email]", "ADA@example.com")
            with page.expect_navigation():
                page.click("button[type=submit]")
            seen["duplicate"] = page.locator("body").inner_text()
            page.goto(f"{url}/users")
            seen["rows"] = page.locator("tbody tr").count()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    return seen


async def test_a_person_signs_up_through_the_form_and_markup_stays_text(tmp_path: Path) -> None:
    sync_api = _browser_or_skip()
    async with serve_app(tmp_path, worker=True) as app:
        shot = tmp_path / "users.png"
        seen = await trio.to_thread.run_sync(_sign_up_in_browser, sync_api, app.url, shot)
    assert "No users yet" in seen["empty"]
    assert seen["url_after"].endswith("/users")
    assert "<script>alert('x')</script> Ada" in seen["row"], "shown as text"
    assert "ada@example.com" in seen["row"]
    assert seen["dialogs"] == [], "no script ran"
    assert "already" in seen["duplicate"].lower() or "exists" in seen["duplicate"].lower()
    assert seen["rows"] == 1
    assert shot.stat().st_size > 1000
