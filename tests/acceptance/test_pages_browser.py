"""The users page and the operator dashboard in a real browser (headless Chromium, Playwright)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio
from integration.test_job_pages import IMG, SCRIPT, TASK, hostile_job
from support.browser import browser_or_skip, launch
from support.http import ADMIN_TOKEN, serve_app

from service.jobs._store import ScheduleDefinition

if TYPE_CHECKING:
    from pathlib import Path


def _sign_up_in_browser(sync_api: Any, url: str, shot: Path) -> dict[str, Any]:
    seen: dict[str, Any] = {"dialogs": []}
    with sync_api.sync_playwright() as p:
        browser = launch(p)
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
    sync_api = browser_or_skip()
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


def _operate_in_browser(sync_api: Any, url: str, job_id: int, shot: Path) -> dict[str, Any]:
    seen: dict[str, Any] = {"dialogs": []}
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page()
            page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
            page.goto(f"{url}/admin/jobs/{job_id}")
            seen["login_url"] = page.url
            page.fill("input[name=token]", "not-the-token")
            with page.expect_navigation():
                page.click("button[type=submit]")
            seen["wrong"] = page.locator("body").inner_text()
            page.fill("input[name=token]", ADMIN_TOKEN)
            with page.expect_navigation():
                page.click("button[type=submit]")
            seen["after_login"] = page.url
            seen["cookies"] = page.context.cookies()
            page.goto(f"{url}/admin/jobs/{job_id}")
            facts = page.locator("dl.facts dd")
            seen["task"] = facts.nth(0).inner_text()
            seen["states"] = [facts.nth(1).inner_text()]
            seen["payload"] = page.locator("pre").first.inner_text()
            seen["errors"] = page.locator("ol").inner_text()
            # The page's one script is the dashboard's own live refresh.
            seen["elements"] = page.locator("script:not([src='/admin/live.js']), img").count()
            page.fill("input[name=reason]", "<b>not</b> needed")
            with page.expect_navigation():
                page.click("text=Cancel job")
            seen["states"].append(facts.nth(1).inner_text())
            seen["last_error"] = page.locator("ol li").last.inner_text()
            with page.expect_navigation():
                page.click("text=Retry now")
            seen["states"].append(facts.nth(1).inner_text())
            seen["url_after"] = page.url
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    return seen


async def test_an_operator_logs_in_and_hostile_job_data_stays_text(tmp_path: Path) -> None:
    sync_api = browser_or_skip()
    async with serve_app(tmp_path) as app:
        job_id = await hostile_job(app)
        shot = tmp_path / "job.png"
        seen = await trio.to_thread.run_sync(_operate_in_browser, sync_api, app.url, job_id,
                                             shot)
    assert seen["login_url"].endswith("/admin/login")
    assert "not the admin token" in seen["wrong"]
    assert seen["after_login"].endswith("/admin/jobs")
    [cookie] = seen["cookies"]
    assert cookie["name"] == "service_admin"
    assert cookie["value"] != ADMIN_TOKEN
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert seen["task"] == TASK, "shown as text"
    assert SCRIPT in seen["payload"]
    assert IMG in seen["errors"]
    assert seen["elements"] == 0, "no markup became elements"
    assert seen["dialogs"] == [], "no script ran"
    assert seen["states"] == ["retryable", "cancelled", "available"]
    assert "<b>not</b> needed" in seen["last_error"]
    assert seen["url_after"].endswith(f"/admin/jobs/{job_id}")
    assert shot.stat().st_size > 1000


def _read_docs_in_browser(sync_api: Any, url: str, shot: Path) -> dict[str, Any]:
    seen: dict[str, Any] = {"console": []}
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page()
            page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
            page.goto(f"{url}/docs")
            seen["title"] = page.title()
            seen["operations"] = page.locator("section h3 code").count()
            seen["text"] = page.locator("body").inner_text()
            page.click("a[href='#schema-PushRequest']")
            seen["hash"] = page.evaluate("location.hash")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    return seen


def _schedules_in_browser(sync_api: Any, url: str) -> dict[str, Any]:
    seen: dict[str, Any] = {"dialogs": []}
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page()
            page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
            page.goto(f"{url}/admin/login")
            page.fill("input[name=token]", ADMIN_TOKEN)
            with page.expect_navigation():
                page.click("button[type=submit]")
            with page.expect_navigation():
                page.click("nav >> text=Schedules")
            seen["url"] = page.url
            row = page.locator("tr", has_text="cleanup-uploads")
            seen["before"] = row.inner_text()
            with page.expect_navigation():
                row.locator("text=Pause").click()
            seen["paused"] = page.locator("tr", has_text="cleanup-uploads").inner_text()
            with page.expect_navigation():
                page.locator("tr", has_text="cleanup-uploads").locator("text=Resume").click()
            seen["resumed"] = page.locator("tr", has_text="cleanup-uploads").inner_text()
            seen["orphan"] = page.locator("tr", has_text="orphaned").inner_text()
            # Only the dashboard's own live-refresh script; nothing the stored names injected.
            seen["elements"] = page.locator("img, script:not([src='/admin/live.js'])").count()
        finally:
            browser.close()
    return seen


async def test_the_api_docs_page_renders_under_the_csp(tmp_path: Path) -> None:
    sync_api = browser_or_skip()
    async with serve_app(tmp_path) as app:
        shot = tmp_path / "docs.png"
        document = (await app.client.get("/openapi.json")).json()
        seen = await trio.to_thread.run_sync(_read_docs_in_browser, sync_api, app.url, shot)
    operations = sum(len(ops) for ops in document["paths"].values())
    assert seen["console"] == [], "no CSP violation, no error"
    assert seen["title"].startswith("API: ")
    assert seen["operations"] == operations
    assert "POST /api/jobs" in seen["text"]
    assert seen["hash"] == "#schema-PushRequest"
    assert shot.stat().st_size > 1000


async def test_an_operator_pauses_and_resumes_a_schedule_in_the_browser(tmp_path: Path) -> None:
    sync_api = browser_or_skip()
    async with serve_app(tmp_path) as app:
        store = app.state.store
        await store.schedule_register([ScheduleDefinition(
            name=SCRIPT, cron="0 3 * * *", timezone="UTC", task=IMG, catch_up="latest")],
            store.clock.now())
        seen = await trio.to_thread.run_sync(_schedules_in_browser, sync_api, app.url)
    assert seen["url"].endswith("/admin/schedules")
    assert "*/15 * * * *" in seen["before"]
    assert "active" in seen["before"]
    assert "paused" in seen["paused"]
    assert "active" in seen["resumed"]
    assert SCRIPT in seen["orphan"], "a stored name is shown as text"
    assert seen["elements"] == 0
    assert seen["dialogs"] == []
