"""Limits over real HTTP: GET /api/queues shows them and their use; POST and DELETE
/api/queues/{task}/limits change them for every process; pushes carry concurrency keys."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

from support.http import serve_app

from integration.test_job_pages import log_in

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

URL = "/api/queues/send_welcome_email/limits"


async def _queue(admin: httpx.AsyncClient, task: str = "send_welcome_email") -> dict[str, object]:
    queues = (await admin.get("/api/queues")).json()["queues"]
    return next(q for q in queues if q["task"] == task)


async def test_queues_show_the_codes_limits_and_an_override_until_it_is_deleted(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        before = await _queue(app.admin)
        assert {k: before[k] for k in ("global_concurrency", "per_key", "rate", "running",
                                       "tokens_left", "limits")} == {
            "global_concurrency": None, "per_key": None, "rate": None, "running": 0,
            "tokens_left": None, "limits": "code"}

        body = {"global_concurrency": 3, "rate": {"limit": 100, "per": 60}}
        changed = await app.admin.post(URL, json=body)
        assert changed.status_code == 200, changed.text
        shown = await _queue(app.admin)
        assert changed.json() == shown
        assert shown["global_concurrency"] == 3
        assert shown["rate"] == {"limit": 100, "per": 60.0, "per_key": False}
        assert shown["tokens_left"] == 1
        assert shown["limits"] == "override"

        restored = await app.admin.delete(URL)
        assert restored.status_code == 200, restored.text
        assert restored.json()["limits"] == "code"
        assert restored.json()["global_concurrency"] is None


async def test_invalid_limits_are_refused_naming_each_field(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        bad = await app.admin.post(URL, json={"global_concurrency": 0, "rate": {"limit": 5},
                                              "burst": 3})
        assert bad.status_code == 422, bad.text
        fields = bad.json()["error"]["fields"]
        assert set(fields) == {"$.global_concurrency", "$.rate.per", "$.burst"}
        assert (await app.admin.post(URL, json=[])).status_code == 422
        assert (await app.admin.post(URL, json={})).status_code == 422
        missing = await app.admin.post("/api/queues/nope/limits", json={"per_key": 1})
        assert missing.status_code == 404
        assert (await app.admin.delete("/api/queues/nope/limits")).status_code == 404
        assert (await _queue(app.admin))["limits"] == "code"


async def test_a_push_over_http_carries_its_concurrency_key(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        pushed = await app.admin.post("/api/jobs", json={
            "task": "send_welcome_email", "args": {"user_id": str(uuid.uuid4())},
            "concurrency_key": "customer-7"})
        assert pushed.status_code == 201, pushed.text
        assert await app.state.store.job_keyed_tasks() == ["send_welcome_email"]
        bad = await app.admin.post("/api/jobs", json={
            "task": "send_welcome_email", "args": {"user_id": str(uuid.uuid4())},
            "concurrency_key": ""})
        assert bad.status_code == 422, bad.text
        assert "$.concurrency_key" in bad.json()["error"]["fields"]


async def test_the_dashboards_queues_page_shows_the_limits_in_force(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        client = await log_in(app)
        before = (await client.get("/admin/queues")).text
        row = re.search(r"<tr><td><a [^>]*>send_welcome_email</a>.*?</tr>", before)
        assert row is not None
        assert '<td class="limits">-</td>' in row.group(0)

        await app.admin.post(URL, json={"global_concurrency": 3,
                                        "rate": {"limit": 100, "per": 60, "per_key": True}})
        after = (await client.get("/admin/queues")).text
        row = re.search(r"<tr><td><a [^>]*>send_welcome_email</a>.*?</tr>", after)
        assert row is not None
        assert ('<td class="limits">global 3, 100/60s per key (override)</td>'
                in row.group(0))
