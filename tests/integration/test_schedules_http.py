"""Schedules over real HTTP: the operator API and the dashboard page."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from support.http import ADMIN_TOKEN, serve_app

from service.jobs._store import ScheduleDefinition

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

FIELDS = {"name", "cron", "timezone", "task", "catch_up", "next_run_at", "last_tick",
          "last_job_id", "paused", "orphaned"}


def by_name(response: httpx.Response) -> dict[str, dict[str, object]]:
    assert response.status_code == 200, response.text
    return {s["name"]: s for s in response.json()["schedules"]}


async def test_the_api_lists_the_apps_schedules_and_stored_orphans(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        store = app.state.store
        await store.schedule_register([ScheduleDefinition(
            name="old-report", cron="0 3 * * *", timezone="Europe/Paris", task="report",
            catch_up="all")], store.clock.now())
        schedules = by_name(await app.admin.get("/api/schedules"))
        cleanup = schedules["cleanup-uploads"]
        assert set(cleanup) == FIELDS
        assert cleanup["cron"] == "*/15 * * * *"
        assert cleanup["timezone"] == "UTC"
        assert cleanup["task"] == "cleanup_uploads"
        assert cleanup["catch_up"] == "latest"
        assert cleanup["paused"] is False
        assert cleanup["orphaned"] is False
        assert str(cleanup["next_run_at"]).endswith("+00:00")
        old = schedules["old-report"]
        assert old["orphaned"] is True
        assert old["next_run_at"] is None
        assert (old["cron"], old["timezone"], old["catch_up"]) == (
            "0 3 * * *", "Europe/Paris", "all")


async def test_the_api_pauses_and_resumes_a_schedule(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        paused = await app.admin.post("/api/schedules/cleanup-uploads/pause")
        assert paused.status_code == 200, paused.text
        assert paused.json()["paused"] is True
        assert paused.json()["next_run_at"] is None
        assert by_name(await app.admin.get("/api/schedules"))["cleanup-uploads"]["paused"]
        resumed = await app.admin.post("/api/schedules/cleanup-uploads/resume")
        assert resumed.status_code == 200, resumed.text
        assert set(resumed.json()) == FIELDS
        assert resumed.json()["paused"] is False
        missing = await app.admin.post("/api/schedules/nope/pause")
        assert missing.status_code == 404
        assert missing.json()["error"]["message"] == "no schedule 'nope'"


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/schedules"), ("POST", "/api/schedules/cleanup-uploads/pause"),
    ("POST", "/api/schedules/cleanup-uploads/resume"),
])
async def test_the_schedule_routes_need_the_operator_token(
    tmp_path: Path, method: str, path: str,
) -> None:
    async with serve_app(tmp_path) as app:
        response = await app.client.request(method, path)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


async def test_the_dashboard_shows_schedules_and_pauses_one(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        assert (await app.client.get("/admin/schedules")).status_code == 303  # to the login
        login = await app.client.post("/admin/login", data={"token": ADMIN_TOKEN})
        assert login.status_code == 303
        page = await app.client.get("/admin/schedules")
        assert page.status_code == 200
        assert "cleanup-uploads" in page.text
        assert "*/15 * * * *" in page.text
        assert 'action="/admin/schedules/cleanup-uploads/pause"' in page.text
        assert 'href="/admin/schedules"' in (await app.client.get("/admin/jobs")).text
        posted = await app.client.post("/admin/schedules/cleanup-uploads/pause")
        assert posted.status_code == 303
        assert posted.headers["Location"] == "/admin/schedules"
        page = await app.client.get("/admin/schedules")
        assert 'action="/admin/schedules/cleanup-uploads/resume"' in page.text
        assert ">paused<" in page.text
        assert (await app.client.post("/admin/schedules/nope/pause")).status_code == 404
