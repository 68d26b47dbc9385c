"""The operator dashboard (``/admin``) over real HTTP: login, access, listing, detail, actions."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from support.http import ADMIN_TOKEN, Served, serve_app

from service.http.operator.auth import session_value
from service.jobs import Backoff, JobState
from service.jobs import _outcomes as outcomes
from service.jobs._store import JobInsert

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
TASK = "report<b>bold</b>"


def escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


async def hostile_job(app: Served, *, complete: bool = False) -> int:
    """A job whose args, task name and unique key hold markup; failed once with markup, or
    completed with a result holding markup."""
    store = app.state.store
    now = store.clock.now()
    [inserted] = await store.job_insert_many([JobInsert(
        task=TASK, args=json.dumps({"note": SCRIPT}), state=JobState.AVAILABLE, priority=0,
        max_attempts=3, run_at=now, created_at=now, unique_key=f"key-{SCRIPT}-{complete}",
    )])
    [claimed] = await store.job_claim(TASK, "test-owner", 1, now, now + 60)
    if complete:
        outcome = outcomes.completed(claimed, "test-owner", now, json.dumps({"html": IMG}))
    else:
        try:
            raise RuntimeError(IMG)
        except RuntimeError as exc:
            outcome = outcomes.failed(claimed, "test-owner", now, Backoff(), exc)
    assert await store.job_set_state_if_running_many([outcome]) == [True]
    return inserted.id


async def log_in(app: Served) -> httpx.AsyncClient:
    response = await app.client.post("/admin/login", data={"token": ADMIN_TOKEN})
    assert response.status_code == 303, response.text
    return app.client


def listed_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<td><a href="/admin/jobs/(\d+)">', page)]


async def push_welcome(app: Served, **options: object) -> int:
    body = {"task": "send_welcome_email",
            "args": {"user_id": "6c1f0a4e-7f5e-4a43-9d8a-2b9d6a0c1e11"}, **options}
    response = await app.admin.post("/api/jobs", json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def test_the_right_token_sets_an_httponly_strict_cookie_that_is_not_the_token(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        form = await app.client.get("/admin/login")
        assert form.status_code == 200
        assert "default-src 'none'" in form.headers["Content-Security-Policy"]
        assert 'type="password" name="token"' in form.text
        wrong = await app.client.post("/admin/login", data={"token": "not-" + ADMIN_TOKEN})
        assert wrong.status_code == 401
        assert "not the admin token" in wrong.text
        assert 'name="token"' in wrong.text
        assert "set-cookie" not in wrong.headers
        right = await app.client.post("/admin/login", data={"token": ADMIN_TOKEN})
        assert right.status_code == 303
        assert right.headers["Location"] == "/admin/jobs"
        cookie = right.headers["set-cookie"]
        value = cookie.split(";")[0].removeprefix("service_admin=")
        issued = int(value.partition(".")[0])
        assert abs(issued - app.state.store.clock.now()) < 60
        assert value == session_value(ADMIN_TOKEN, issued)
        assert ADMIN_TOKEN not in cookie
        flags = {part.strip().lower() for part in cookie.split(";")}
        assert {"httponly", "samesite=strict", "path=/admin"} <= flags
        assert "secure" not in flags, "plain http: a Secure cookie would never come back"
        assert (await app.client.get("/admin/jobs")).status_code == 200
        out = await app.client.post("/admin/logout")
        assert out.status_code == 303
        assert out.headers["Location"] == "/admin/login"
        assert (await app.client.get("/admin/jobs")).status_code == 303


async def test_a_forged_cookie_or_the_raw_token_as_cookie_is_not_a_session(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        now = app.state.store.clock.now()
        for value in ("x", ADMIN_TOKEN, session_value("other-token", now)):
            response = await app.client.get("/admin/jobs",
                                            headers={"Cookie": f"service_admin={value}"})
            assert response.status_code == 303
            assert response.headers["Location"] == "/admin/login"


async def test_without_a_configured_token_the_dashboard_is_closed(tmp_path: Path) -> None:
    async with serve_app(tmp_path, admin_token="") as app:
        page = await app.client.get("/admin/login")
        assert "closed" in page.text
        assert "SERVICE_ADMIN_TOKEN" in page.text
        assert 'name="token"' not in page.text
        for token in ("", ADMIN_TOKEN):
            attempt = await app.client.post("/admin/login", data={"token": token})
            assert attempt.status_code == 401
            assert "set-cookie" not in attempt.headers
        now = app.state.store.clock.now()
        for headers in ({"Cookie": f"service_admin={session_value('', now)}"},
                        {"Authorization": "Bearer x"}):
            response = await app.client.get("/admin/jobs", headers=headers)
            assert response.status_code == 303


async def test_pages_redirect_to_login_and_form_posts_answer_401_without_credentials(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        job_id = await push_welcome(app)
        wrong = {"Authorization": "Bearer not-" + ADMIN_TOKEN}
        for path in ("/admin/jobs", f"/admin/jobs/{job_id}", "/admin/jobs?state=nope"):
            for headers in ({}, wrong):
                response = await app.client.get(path, headers=headers)
                assert response.status_code == 303, path
                assert response.headers["Location"] == "/admin/login"
        for path in (f"/admin/jobs/{job_id}/retry", f"/admin/jobs/{job_id}/cancel",
                     "/admin/logout"):
            response = await app.client.post(path)
            assert response.status_code == 401, path
            assert response.headers["Content-Type"] == "text/html; charset=utf-8"
            assert "/admin/login" in response.text
        assert (await app.admin.get(f"/api/jobs/{job_id}")).json()["state"] == "available"


async def test_the_bearer_token_opens_the_dashboard_but_the_cookie_never_opens_the_api(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        assert (await app.admin.get("/admin/jobs")).status_code == 200
        now = app.state.store.clock.now()
        cookie = {"Cookie": f"service_admin={session_value(ADMIN_TOKEN, now)}"}
        assert (await app.client.get("/api/jobs", headers=cookie)).status_code == 401


async def test_the_listing_is_newest_first_with_state_and_task_filters_and_counts(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        client = await log_in(app)
        available = await push_welcome(app)
        scheduled = [await push_welcome(app, delay=600) for _ in range(3)]
        failed = await hostile_job(app)
        page = (await client.get("/admin/jobs")).text
        assert listed_ids(page) == [failed, *reversed(scheduled), available]
        assert "scheduled: 3" in page
        assert "available: 1" in page
        assert "retryable: 1" in page
        only = (await client.get("/admin/jobs", params={"state": "scheduled"})).text
        assert listed_ids(only) == list(reversed(scheduled))
        by_task = (await client.get("/admin/jobs", params={"task": TASK})).text
        assert listed_ids(by_task) == [failed]
        assert "scheduled: 0" in by_task
        first = (await client.get("/admin/jobs", params={"limit": "2"})).text
        assert listed_ids(first) == [failed, scheduled[2]]
        older = re.search(r'<a href="([^"]+)">Older jobs</a>', first)
        assert older is not None
        rest = (await client.get(older.group(1).replace("&amp;", "&"))).text
        assert listed_ids(rest) == [scheduled[1], scheduled[0]]
        capped = await client.get("/admin/jobs", params={"limit": "100000"})
        assert capped.status_code == 200
        assert 'name="limit" min="1" value="200"' in capped.text


async def test_bad_filters_are_a_400_page_naming_the_field(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        client = await log_in(app)
        for params, name in (({"state": "lost"}, "state"), ({"limit": "0"}, "limit"),
                             ({"limit": "ten"}, "limit"), ({"before": "-1"}, "before"),
                             ({"task": "x" * 101}, "task"), ({"state": SCRIPT}, "state")):
            response = await client.get("/admin/jobs", params=params)
            assert response.status_code == 400, params
            assert response.headers["Content-Type"] == "text/html; charset=utf-8"
            assert f"{name}: " in response.text
            assert SCRIPT not in response.text


async def test_hostile_payloads_errors_and_results_render_as_inert_text(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        client = await log_in(app)
        failed = await hostile_job(app)
        completed = await hostile_job(app, complete=True)
        listing = (await client.get("/admin/jobs")).text
        detail = await client.get(f"/admin/jobs/{failed}")
        result = (await client.get(f"/admin/jobs/{completed}")).text
        assert "default-src 'none'" in detail.headers["Content-Security-Policy"]
        for page in (listing, detail.text, result):
            assert SCRIPT not in page
            assert IMG not in page
            assert TASK not in page
            assert escaped(TASK) in page
        assert escaped(IMG) in listing, "the last error's excerpt"
        assert escaped(SCRIPT) in detail.text, "the payload"
        assert escaped(SCRIPT) in result, "the result"
        assert escaped(IMG) in detail.text
        assert "RuntimeError" in detail.text
        assert "Traceback (most recent call last)" in detail.text
        assert escaped(f"key-{SCRIPT}") in detail.text, "the unique key"
        assert escaped(IMG) in result, "the result"


async def test_the_listing_shows_a_last_error_only_while_it_explains_the_state(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        client = await log_in(app)
        job_id = await push_welcome(app)
        cancelled = await app.admin.post(f"/api/jobs/{job_id}/cancel",
                                         json={"reason": "duplicate"})
        assert cancelled.status_code == 200
        assert "<td>duplicate</td>" in (await client.get("/admin/jobs")).text, "cancelled"
        assert (await app.admin.post(f"/api/jobs/{job_id}/retry")).status_code == 200
        store = app.state.store
        now = store.clock.now()
        [claimed] = await store.job_claim("send_welcome_email", "test-owner", 1, now, now + 60)
        done = outcomes.completed(claimed, "test-owner", now, None)
        assert await store.job_set_state_if_running_many([done]) == [True]
        listing = (await client.get("/admin/jobs")).text
        assert f'<td><a href="/admin/jobs/{job_id}">{job_id}</a></td>' in listing
        assert "duplicate" not in listing, "a completed job lists no last error"
        detail = (await client.get(f"/admin/jobs/{job_id}")).text
        assert "duplicate" in detail, "its page keeps the cancel among its errors"


async def test_retry_and_cancel_forms_answer_303_back_to_the_job(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        client = await log_in(app)
        job_id = await push_welcome(app)
        page = (await client.get(f"/admin/jobs/{job_id}")).text
        assert f'action="/admin/jobs/{job_id}/cancel"' in page
        assert f'action="/admin/jobs/{job_id}/retry"' not in page, "available: nothing to retry"
        same_site = {"Origin": app.url}
        cancel = await client.post(f"/admin/jobs/{job_id}/cancel",
                                   data={"reason": f"dup {SCRIPT}"}, headers=same_site)
        assert cancel.status_code == 303
        assert cancel.headers["Location"] == f"/admin/jobs/{job_id}"
        job = (await app.admin.get(f"/api/jobs/{job_id}")).json()
        assert job["state"] == "cancelled"
        assert job["errors"][-1]["message"] == f"dup {SCRIPT}"
        again = await client.post(f"/admin/jobs/{job_id}/cancel")
        assert again.status_code == 409
        assert "Cannot cancel this job" in again.text
        assert SCRIPT not in again.text
        retry = await client.post(f"/admin/jobs/{job_id}/retry")
        assert retry.status_code == 303
        assert retry.headers["Location"] == f"/admin/jobs/{job_id}"
        assert (await app.admin.get(f"/api/jobs/{job_id}")).json()["state"] == "available"
        conflict = await client.post(f"/admin/jobs/{job_id}/retry")
        assert conflict.status_code == 409
        assert "Cannot retry this job" in conflict.text
        bearer = await app.admin.post(f"/admin/jobs/{job_id}/cancel")
        assert bearer.status_code == 303


async def test_form_posts_from_another_site_are_forbidden(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        client = await log_in(app)
        job_id = await push_welcome(app)
        for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                        {"Origin": app.url.replace("127.0.0.1", "localhost")},
                        {"Sec-Fetch-Site": "cross-site"}):
            for path in (f"/admin/jobs/{job_id}/cancel", f"/admin/jobs/{job_id}/retry",
                         "/admin/logout"):
                response = await client.post(path, headers=headers)
                assert response.status_code == 403, (path, headers)
            login = await app.client.post("/admin/login", data={"token": ADMIN_TOKEN},
                                          headers=headers)
            assert login.status_code == 403
            assert "set-cookie" not in login.headers
        assert (await app.admin.get(f"/api/jobs/{job_id}")).json()["state"] == "available"
        assert (await client.get("/admin/jobs")).status_code == 200, "still logged in"


async def test_unknown_jobs_are_a_404_page(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        client = await log_in(app)
        for path in ("/admin/jobs/999999", "/admin/jobs/abc", "/admin/jobs/" + "9" * 40):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.headers["Content-Type"] == "text/html; charset=utf-8"
            assert "Error 404" in response.text
        for action in ("retry", "cancel"):
            response = await client.post(f"/admin/jobs/999999/{action}")
            assert response.status_code == 404
            assert "Error 404" in response.text
