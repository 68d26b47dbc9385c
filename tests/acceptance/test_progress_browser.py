"""A running job's progress on the dashboard's job page, in headless Chromium: a bar at the
reported fraction with the task's message, no console error, no CSP violation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio
from integration.test_job_pages import push_welcome
from integration.test_progress_http import report
from support.browser import browser_or_skip, launch
from support.http import ADMIN_TOKEN, serve_app

from .test_dashboard_browser import RECORD_VIOLATIONS

if TYPE_CHECKING:
    from pathlib import Path


def _look(sync_api: Any, url: str, job_id: int) -> dict[str, Any]:
    seen: dict[str, Any] = {"console": []}
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        try:
            context = browser.new_context()
            context.add_init_script(RECORD_VIOLATIONS)
            page = context.new_page()
            page.on("console", lambda m: m.type in ("error", "warning")
                    and seen["console"].append(m.text))
            page.goto(f"{url}/admin/login")
            page.fill("input[name=token]", ADMIN_TOKEN)
            with page.expect_navigation():
                page.click("button[type=submit]")
            page.goto(f"{url}/admin/jobs/{job_id}")
            bar = page.locator("progress#job-progress")
            seen["visible"] = bar.is_visible()
            seen["value"] = page.evaluate("document.getElementById('job-progress').position")
            seen["text"] = page.locator("#job-progress-text").inner_text()
            seen["violations"] = page.evaluate("window.__violations")
        finally:
            browser.close()
    return seen


async def test_the_job_page_shows_the_reported_progress_as_a_bar(tmp_path: Path) -> None:
    sync_api = browser_or_skip()
    async with serve_app(tmp_path) as app:
        job_id = await push_welcome(app)
        await report(app, job_id, 0.4, "page 4 of 10")
        seen = await trio.to_thread.run_sync(_look, sync_api, app.url, job_id)

    assert seen["visible"]
    assert abs(seen["value"] - 0.4) < 1e-6
    assert seen["text"] == "40%: page 4 of 10"
    assert seen["violations"] == []
    assert seen["console"] == []
