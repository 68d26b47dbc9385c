"""The operator API over real HTTP: jobs, queues, metrics, health, auth and error shapes."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
import trio
from support.http import ADMIN_TOKEN, serve_app
from support.lossy_task import LossyCharge
from support.waiting import wait_until

from service.jobs import Backoff
from service.jobs import _outcomes as outcomes

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

ADMIN_ROUTES = [
    ("GET", "/api/jobs"),
    ("GET", "/api/jobs/1"),
    ("POST", "/api/jobs"),
    ("POST", "/api/jobs/1/retry"),
    ("POST", "/api/jobs/1/cancel"),
    ("POST", "/api/workflows/1/cancel"),
    ("GET", "/api/queues"),
    ("POST", "/api/queues/send_welcome_email/pause"),
    ("POST", "/api/queues/send_welcome_email/resume"),
    ("POST", "/api/queues/send_welcome_email/limits"),
    ("DELETE", "/api/queues/send_welcome_email/limits"),
    ("GET", "/metrics"),
]


def welcome(user_id: uuid.UUID | None = None) -> dict[str, object]:
    return {"task": "send_welcome_email", "args": {"user_id": str(user_id or uuid.uuid4())}}


async def job_state(admin: httpx.AsyncClient, job_id: int) -> str:
    return str((await admin.get(f"/api/jobs/{job_id}")).json()["state"])


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code
    assert body["message"]
    return body  # type: ignore[no-any-return]


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
async def test_every_operator_route_refuses_a_missing_or_wrong_token(
    tmp_path: Path, method: str, path: str
) -> None:
    async with serve_app(tmp_path) as app:
        assert_error(await app.client.request(method, path), 401, "unauthorized")
        wrong = {"Authorization": "Bearer not-" + ADMIN_TOKEN}
        assert_error(await app.client.request(method, path, headers=wrong), 401, "unauthorized")
        basic = {"Authorization": f"Basic {ADMIN_TOKEN}"}
        assert_error(await app.client.request(method, path, headers=basic), 401, "unauthorized")


async def test_without_a_configured_token_the_operator_api_is_closed(tmp_path: Path) -> None:
    async with serve_app(tmp_path, admin_token="") as app:
        body = assert_error(await app.client.get("/api/jobs",
                                                 headers={"Authorization": "Bearer x"}),
                            401, "unauthorized")
        assert_error(await app.client.get("/api/jobs"), 401, "unauthorized")
        assert "SERVICE_ADMIN_TOKEN" in str(body["message"])


async def test_pushing_a_job_returns_it_whole(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        response = await app.admin.post("/api/jobs", json={**welcome(), "priority": 3})
        assert response.status_code == 201, response.text
        job = response.json()
        assert set(job) >= {"id", "task", "args", "state", "attempt", "max_attempts", "priority",
                            "run_at", "created_at", "finished_at", "errors", "result"}
        assert job["state"] == "available"
        assert job["attempt"] == 0
        assert job["priority"] == 3
        assert job["max_attempts"] == 10
        assert job["errors"] == []
        assert job["result"] is None
        assert job["unique"] == "inserted"
        fetched = await app.admin.get(f"/api/jobs/{job['id']}")
        assert fetched.json() == {k: v for k, v in job.items() if k != "unique"}


async def test_a_delayed_push_is_scheduled(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        delayed = await app.admin.post("/api/jobs", json={**welcome(), "delay": 3600})
        assert delayed.status_code == 201
        assert delayed.json()["state"] == "scheduled"
        at = await app.admin.post("/api/jobs",
                                  json={**welcome(), "run_at": "2099-01-01T00:00:00+00:00"})
        assert at.json()["state"] == "scheduled"
        assert at.json()["run_at"].startswith("2099-01-01T00:00:00")


async def test_a_unique_key_returns_the_existing_job(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        body = {**welcome(), "unique_key": "welcome:ada"}
        first = await app.admin.post("/api/jobs", json=body)
        again = await app.admin.post("/api/jobs", json=body)
        assert first.status_code == 201
        assert again.status_code == 200
        assert again.json()["id"] == first.json()["id"]
        assert (first.json()["unique"], again.json()["unique"]) == ("inserted", "kept")


async def test_a_push_says_whether_it_inserted_kept_or_replaced_the_job(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        user_id = str(uuid.uuid4())
        edit = {"task": "send_welcome_email", "args": {"user_id": user_id}, "delay": 30,
                "unique_key": "welcome:eve", "on_conflict": "replace"}
        first = await app.admin.post("/api/jobs", json=edit)
        other = str(uuid.uuid4())
        replaced = await app.admin.post("/api/jobs", json={**edit, "args": {"user_id": other},
                                                           "priority": 7})
        assert (first.status_code, first.json()["unique"]) == (201, "inserted")
        assert (replaced.status_code, replaced.json()["unique"]) == (200, "replaced")
        assert replaced.json()["id"] == first.json()["id"]
        assert replaced.json()["args"] == {"user_id": other}
        assert replaced.json()["priority"] == 7
        fetched = (await app.admin.get(f"/api/jobs/{first.json()['id']}")).json()
        assert fetched == {k: v for k, v in replaced.json().items() if k != "unique"}


async def test_a_push_with_an_expiry_shows_it(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        at = await app.admin.post("/api/jobs",
                                  json={**welcome(), "expires_at": "2099-01-01T01:00:00+01:00"})
        epoch = await app.admin.post("/api/jobs", json={**welcome(), "expires_at": 4102444800})
        after = await app.admin.post("/api/jobs", json={**welcome(), "expire_after": 60})
        assert at.status_code == 201, at.text
        assert at.json()["expires_at"].startswith("2099-01-01T00:00:00")
        assert epoch.json()["expires_at"].startswith("2100-01-01T00:00:00")
        assert after.json()["expires_at"] is not None
        plain = await app.admin.post("/api/jobs", json=welcome())
        assert plain.json()["expires_at"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"task": "no_such_task", "args": {}}, "$.task"),
        ({"task": "send_welcome_email", "args": {"user_id": "not-a-uuid"}}, "$.args.user_id"),
        ({"task": "send_welcome_email", "args": {}}, "$.args.user_id"),
        ({"task": "send_welcome_email", "args": {"user_id": str(uuid.uuid4()), "x": 1}},
         "$.args"),
        ({"args": {}}, "$.task"),
        ({**welcome(), "delay": "soon"}, "$.delay"),
        ({**welcome(), "delay": -5}, "$.delay"),
        ({**welcome(), "delay": 1e300}, "$.delay"),
        ({**welcome(), "run_at": "0001-01-01T00:00:00Z"}, "$.run_at"),
        ({**welcome(), "priority": 1.5}, "$.priority"),
        ({**welcome(), "surprise": True}, "$"),
        ({**welcome(), "delay": 5, "run_at": "2099-01-01T00:00:00Z"}, "$"),
        ({**welcome(), "expires_at": "next week"}, "$.expires_at"),
        ({**welcome(), "expires_at": "2099-01-01T00:00:00"}, "$.expires_at"),
        ({**welcome(), "expires_at": 1e300}, "$.expires_at"),
        ({**welcome(), "expire_after": -1}, "$.expire_after"),
        ({**welcome(), "expire_after": 5, "expires_at": 4e9}, "$.expires_at"),
        ({**welcome(), "unique_for": 60}, "$.unique_for"),
        ({**welcome(), "unique_key": "k", "unique_for": 0}, "$.unique_for"),
        ({**welcome(), "unique_key": "k", "on_conflict": "merge"}, "$.on_conflict"),
        ({**welcome(), "on_conflict": "replace"}, "$.on_conflict"),
    ],
)
async def test_bad_pushes_are_422_naming_the_field(
    tmp_path: Path, body: dict[str, object], field: str
) -> None:
    async with serve_app(tmp_path) as app:
        error = assert_error(await app.admin.post("/api/jobs", json=body), 422, "invalid")
        fields = error["fields"]
        assert isinstance(fields, dict)
        assert any(path.startswith(field) for path in fields), fields


async def test_malformed_json_is_400(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        headers = {"Content-Type": "application/json"}
        for raw in (b"{", b"[1,", b"\xff\xfe", b'{"task": NaN}', b"[" * 100_000):
            response = await app.admin.post("/api/jobs", content=raw, headers=headers)
            assert_error(response, 400, "malformed_json")


async def test_job_ids_that_are_not_numbers_or_unknown_are_404(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        for path in ("/api/jobs/abc", "/api/jobs/-1", "/api/jobs/99999", "/api/jobs/1e3",
                     "/api/jobs/" + "9" * 40):
            assert_error(await app.admin.get(path), 404, "not_found")


async def test_listing_pages_through_jobs_newest_first_with_filters(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        ids = []
        for n in range(7):
            response = await app.admin.post("/api/jobs", json={**welcome(), "delay": n and 600})
            ids.append(response.json()["id"])
        seen: list[int] = []
        cursor = None
        for _ in range(10):  # 7 jobs, 3 a page: a cursor that never ends fails, not hangs
            params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
            page = (await app.admin.get("/api/jobs", params=params)).json()
            seen += [job["id"] for job in page["jobs"]]
            cursor = page["next"]
            if cursor is None:
                break
        assert cursor is None, f"still paging after 10 pages; seen {seen}"
        assert seen == sorted(ids, reverse=True)
        scheduled = (await app.admin.get("/api/jobs", params={"state": "scheduled"})).json()
        assert len(scheduled["jobs"]) == 6
        assert scheduled["next"] is None
        by_task = (await app.admin.get("/api/jobs", params={"task": "process_upload"})).json()
        assert by_task["jobs"] == []
        assert_error(await app.admin.get("/api/jobs", params={"state": "lost"}), 422, "invalid")
        assert_error(await app.admin.get("/api/jobs", params={"limit": "0"}), 422, "invalid")
        assert_error(await app.admin.get("/api/jobs", params={"cursor": "x"}), 422, "invalid")


async def test_cancel_and_retry_follow_the_state_machine(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        job_id = (await app.admin.post("/api/jobs", json=welcome())).json()["id"]
        cancelled = await app.admin.post(f"/api/jobs/{job_id}/cancel",
                                         json={"reason": "duplicate signup"})
        assert cancelled.status_code == 200
        assert cancelled.json()["state"] == "cancelled"
        assert cancelled.json()["errors"][-1]["message"] == "duplicate signup"
        assert_error(await app.admin.post(f"/api/jobs/{job_id}/cancel"), 409, "conflict")
        retried = await app.admin.post(f"/api/jobs/{job_id}/retry")
        assert retried.status_code == 200
        assert retried.json()["state"] == "available"
        assert_error(await app.admin.post(f"/api/jobs/{job_id}/retry"), 409, "conflict")
        assert_error(await app.admin.post("/api/jobs/424242/retry"), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": 5}, "$.reason"),
        ({"reason": ["x"]}, "$.reason"),
        ({"reason": "dup", "why": "x"}, "$"),
        ([], "$"),
        ("null", "$"),  # JSON null is no object; only an empty body means "no reason"
    ],
)
async def test_a_cancel_body_that_does_not_fit_is_422_naming_the_field(
    tmp_path: Path, body: object, field: str
) -> None:
    async with serve_app(tmp_path) as app:
        job_id = (await app.admin.post("/api/jobs", json=welcome())).json()["id"]
        sent = ({"content": body, "headers": {"Content-Type": "application/json"}}
                if body == "null" else {"json": body})
        error = assert_error(await app.admin.post(f"/api/jobs/{job_id}/cancel", **sent),
                             422, "invalid")
        assert field in error["fields"], error  # type: ignore[operator]
        if field == "$" and isinstance(body, dict):
            assert "why" in str(error["fields"])
        assert await job_state(app.admin, job_id) == "available", "nothing was cancelled"


async def test_an_empty_cancel_body_or_reason_records_the_default_reason(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        for body in (None, {}, {"reason": ""}, {"reason": None}):
            job_id = (await app.admin.post("/api/jobs", json=welcome())).json()["id"]
            response = await app.admin.post(f"/api/jobs/{job_id}/cancel", json=body)
            assert response.status_code == 200, (body, response.text)
            assert response.json()["errors"][-1]["message"] == "cancelled by an operator", body
        job_id = (await app.admin.post("/api/jobs", json=welcome())).json()["id"]
        long = await app.admin.post(f"/api/jobs/{job_id}/cancel", json={"reason": "x" * 600})
        assert long.json()["errors"][-1]["message"] == "x" * 500


async def test_retrying_a_job_out_of_attempts_says_that_max_attempts_was_raised(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        pushed = await app.admin.post("/api/jobs", json={**welcome(), "max_attempts": 1})
        job_id = pushed.json()["id"]
        store = app.state.store
        now = store.clock.now()
        [claimed] = await store.job_claim("send_welcome_email", "test-owner", 1, now, now + 60)
        try:
            raise RuntimeError("smtp down")
        except RuntimeError as exc:
            outcome = outcomes.failed(claimed, "test-owner", now, Backoff(), exc)
        assert await store.job_set_state_if_running_many([outcome]) == [True]
        assert await job_state(app.admin, job_id) == "discarded"

        retried = await app.admin.post(f"/api/jobs/{job_id}/retry")
        assert retried.status_code == 200, retried.text
        job = retried.json()
        assert (job["state"], job["attempt"], job["max_attempts"]) == ("available", 1, 2)
        assert job["notice"] == (f"job {job_id} had used all 1 of its attempts: max_attempts"
                                 " raised from 1 to 2 so that it runs once more")

        other = (await app.admin.post("/api/jobs", json=welcome())).json()["id"]
        await app.admin.post(f"/api/jobs/{other}/cancel")
        plain = (await app.admin.post(f"/api/jobs/{other}/retry")).json()
        assert plain["notice"] is None
        assert plain["max_attempts"] == 10


async def test_queues_report_counts_and_pausing_stops_claims_until_resumed(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path, worker=True) as app:
        paused = await app.admin.post("/api/queues/send_welcome_email/pause")
        assert paused.status_code == 200
        assert paused.json()["paused"] is True
        job_id = (await app.admin.post("/api/jobs", json=welcome())).json()["id"]
        await trio.sleep(1.5)  # longer than the worker's poll bound: it would have claimed it
        assert (await app.admin.get(f"/api/jobs/{job_id}")).json()["state"] == "available"
        queues = {q["task"]: q for q in (await app.admin.get("/api/queues")).json()["queues"]}
        assert queues["send_welcome_email"]["counts"]["available"] == 1
        assert queues["send_welcome_email"]["paused"] is True
        assert queues["send_welcome_email"]["concurrency"] == 4
        assert queues["process_upload"]["paused"] is False
        await app.admin.post("/api/queues/send_welcome_email/resume")
        await wait_until(f"job {job_id} to leave available after the resume",
                         lambda: job_state(app.admin, job_id), lambda state: state != "available")
        assert_error(await app.admin.post("/api/queues/nope/pause"), 404, "not_found")


async def test_metrics_expose_jobs_by_task_and_state_and_http_requests(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        await app.admin.post("/api/jobs", json=welcome())
        response = await app.admin.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = response.text
        assert 'service_jobs{state="available",task="send_welcome_email"} 1' in text
        assert "# TYPE service_http_requests_total counter" in text
        assert 'method="POST",route="/api/jobs",status="201"' in text


async def test_health_needs_no_token_and_readiness_checks_the_database(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        health = await app.client.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        ready = await app.client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready"}


async def test_unknown_routes_and_methods_get_json_errors(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        assert_error(await app.client.get("/nope"), 404, "not_found")
        assert_error(await app.client.delete("/healthz"), 405, "method_not_allowed")


async def test_a_push_whose_task_would_not_decode_is_422_naming_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve_app(tmp_path) as app:
        monkeypatch.setitem(app.state.registry._by_name, "lossy_charge", LossyCharge)
        response = await app.admin.post(
            "/api/jobs", json={"task": "lossy_charge", "args": {"amount_cents": 12}}
        )
        error = assert_error(response, 422, "invalid")
        assert error["fields"] == {"$.args.amount_cents": "expected an integer, got 12.0"}
        assert "lossy_charge" in str(error["message"])
        assert (await app.admin.get("/api/jobs")).json()["jobs"] == []
