"""Every dashboard page in headless Chromium: it renders (a screenshot that is not blank), logs
no console error and breaks no CSP rule; and the live refresh, bulk actions and Pause work in a
real browser."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any

import trio
from integration.test_job_pages import hostile_job
from PIL import Image
from support.browser import browser_or_skip, launch
from support.conformance import Email, make_job
from support.http import ADMIN_TOKEN, serve_app

from service.http.operator.dashboard_html import NAV
from service.jobs import JobState, WorkerBeat

if TYPE_CHECKING:
    from pathlib import Path

#: Records CSP violations the page reports (init scripts run outside the page's CSP).
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


def _log_in(page: Any, url: str) -> None:
    page.goto(f"{url}/admin/login")
    page.fill("input[name=token]", ADMIN_TOKEN)
    with page.expect_navigation():
        page.click("button[type=submit]")


def _colours(png: bytes) -> int:
    """How many colours a screenshot has (up to 256): 1 for a blank page."""
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256)
    return len(image.getcolors(256) or [])


def _visit_every_page(sync_api: Any, url: str, paths: list[str], shots: Path) -> dict[str, Any]:
    seen: dict[str, Any] = {"console": [], "page_errors": [], "pages": {}}
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.add_init_script(RECORD_VIOLATIONS)
            page = context.new_page()
            page.on("console", lambda m: m.type in ("error", "warning")
                    and seen["console"].append(f"{page.url}: {m.text}"))
            page.on("pageerror", lambda e: seen["page_errors"].append(f"{page.url}: {e}"))
            _log_in(page, url)
            for path in paths:
                response = page.goto(f"{url}{path}")
                page.wait_for_load_state("networkidle")
                png = page.screenshot(path=str(shots / f"{len(seen['pages'])}.png"),
                                      full_page=True)
                seen["pages"][path] = {
                    "status": response.status if response else None,
                    "colours": _colours(png),
                    "heading": page.locator("h1").first.inner_text(),
                    "violations": page.evaluate("window.__violations"),
                    "live_switch": page.locator("#live-toggle").is_visible(),
                }
        finally:
            browser.close()
    return seen


async def test_every_dashboard_page_renders_without_console_errors_or_csp_violations(
    tmp_path: Path,
) -> None:
    sync_api = browser_or_skip()
    async with serve_app(tmp_path, worker=True) as app:
        job_id = await hostile_job(app)
        await make_job(app.state.store, JobState.COMPLETED, Email(to="a@example.com"))
        paths = [path for _, path in NAV] + [
            f"/admin/jobs/{job_id}", "/admin/jobs?state=failed",
            "/admin/jobs/bulk?action=retry&state=failed", "/admin/login",
        ]
        seen = await trio.to_thread.run_sync(_visit_every_page, sync_api, app.url, paths,
                                             tmp_path)
    assert seen["console"] == []
    assert seen["page_errors"] == []
    for path in paths:
        page = seen["pages"][path]
        assert page["status"] == 200, path
        assert page["colours"] > 8, f"{path}: the screenshot is blank"
        assert page["heading"], path
        assert page["violations"] == [], path
        assert page["live_switch"] == (path != "/admin/login" and "bulk" not in path), path


def _operate(sync_api: Any, url: str, job_id: int, push_later: Any) -> dict[str, Any]:
    seen: dict[str, Any] = {"console": []}
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page()
            page.on("console", lambda m: m.type == "error" and seen["console"].append(m.text))
            _log_in(page, url)
            # Live refresh: counts change without a reload; text typed in the filter stays.
            page.goto(f"{url}/admin/jobs")
            page.evaluate("window.__notReloaded = true")
            page.fill("input[name=task]", "typed by the operator")
            page.locator("h1").click()  # the form loses the focus: refreshes resume
            trio.from_thread.run(push_later)
            # (A locator, not wait_for_function: the page's CSP forbids eval.)
            page.locator("#state-counts", has_text="discarded: 3").wait_for(timeout=15_000)
            seen["not_reloaded"] = page.evaluate("window.__notReloaded === true")
            seen["typed"] = page.input_value("input[name=task]")
            seen["status"] = page.locator("#live-status").inner_text()
            # Bulk retry of the failed filter, through its confirmation page.
            page.select_option("select[name=state]", "failed")
            page.fill("input[name=task]", "")
            with page.expect_navigation():
                page.click("text=Filter")
            with page.expect_navigation():
                page.click("text=Retry\u2026")
            seen["confirm"] = page.locator("h1").inner_text()
            with page.expect_navigation():
                page.click("form[action='/admin/jobs/bulk'] button")
            seen["bulk_notice"] = page.locator(".notice").inner_text()
            # Pause and resume a queue.
            page.goto(f"{url}/admin/queues")
            with page.expect_navigation():
                page.click("button[aria-label='Pause send_welcome_email']")
            seen["paused"] = page.locator(".notice").inner_text()
            seen["resume_button"] = page.locator(
                "button[aria-label='Resume send_welcome_email']").count()
            page.goto(f"{url}/admin/workers")
            seen["workers"] = page.locator("#workers").inner_text()
            # A traceback opened on a job's page stays open through a refresh.
            page.goto(f"{url}/admin/jobs/{job_id}")
            page.click("summary")
            page.locator("#live-status", has_text="updated").wait_for(timeout=15_000)
            seen["traceback_open"] = page.locator("details[open]").count()
        finally:
            browser.close()
    return seen


async def test_an_operator_watches_live_counts_retries_in_bulk_and_pauses_a_queue(
    tmp_path: Path,
) -> None:
    sync_api = browser_or_skip()
    async with serve_app(tmp_path) as app:
        store = app.state.store
        failed_once = await hostile_job(app)  # retryable, with a traceback

        async def push_later() -> None:
            for n in range(3):
                await make_job(store, JobState.DISCARDED, Email(to=f"u{n}@example.com"))
            now = store.clock.now()
            await store.worker_beat(WorkerBeat(owner="h:1:x", host="box-1", pid=1, tasks=(),
                                               in_flight=0, started_at=now, seen_at=now,
                                               interval=5.0))

        seen = await trio.to_thread.run_sync(_operate, sync_api, app.url, failed_once,
                                             push_later)
    assert seen["console"] == []
    assert seen["not_reloaded"] is True, "refreshed in place, not reloaded"
    assert seen["typed"] == "typed by the operator"
    assert seen["status"].startswith("updated ")
    assert seen["confirm"] == "Retry 4 jobs?"
    assert seen["bulk_notice"] == "4 jobs retried."
    assert seen["paused"] == "Queue send_welcome_email paused."
    assert seen["resume_button"] == 1
    assert re.search(r"live\s+box-1", seen["workers"])
    assert seen["traceback_open"] == 1
