"""``GET /api/jobs/{id}?wait=N`` over real loopback: a long-poll answered by the outcome."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import pytest
import trio
from support.http import serve_app
from support.waiting import wait_until

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

    from service.jobs import JobStore


async def push(admin: httpx.AsyncClient) -> int:
    answer = await admin.post("/api/jobs", json={
        "task": "send_welcome_email", "args": {"user_id": str(uuid.uuid4())}})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def waiters(store: JobStore) -> int:
    """How many ``job_wait`` calls the store has running (private: no public count exists)."""
    return int(store._outcomes.waiters)  # type: ignore[attr-defined]


async def test_a_long_poll_answers_when_the_job_is_cancelled(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        job_id = await push(app.admin)
        answers: list[httpx.Response] = []

        async def long_poll() -> None:
            answers.append(await app.admin.get(f"/api/jobs/{job_id}", params={"wait": 30}))

        started = time.monotonic()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(long_poll)
            await wait_until("the request waits", lambda: waiters(app.state.store) == 1)
            cancel = await app.admin.post(f"/api/jobs/{job_id}/cancel")
            assert cancel.status_code == 200, cancel.text
        took = time.monotonic() - started

    [answer] = answers
    assert answer.status_code == 200
    assert answer.json()["state"] == "cancelled"
    assert took < 5


async def test_a_long_poll_ends_with_the_job_as_it_is(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        job_id = await push(app.admin)
        started = time.monotonic()
        answer = await app.admin.get(f"/api/jobs/{job_id}?wait=0.3")
        took = time.monotonic() - started

    assert answer.status_code == 200
    assert answer.json()["state"] == "available"
    assert 0.3 <= took < 5


async def test_a_final_job_is_answered_at_once(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        job_id = await push(app.admin)
        await app.admin.post(f"/api/jobs/{job_id}/cancel")
        started = time.monotonic()
        answer = await app.admin.get(f"/api/jobs/{job_id}?wait=60")
        took = time.monotonic() - started
        missing = await app.admin.get("/api/jobs/999999?wait=5")

    assert answer.status_code == 200
    assert answer.json()["state"] == "cancelled"
    assert took < 5
    assert missing.status_code == 404


@pytest.mark.parametrize("wait", ["61", "-1", "soon", "nan", "inf", "1e3"])
async def test_a_bad_wait_is_422_naming_it(tmp_path: Path, wait: str) -> None:
    async with serve_app(tmp_path) as app:
        job_id = await push(app.admin)
        answer = await app.admin.get(f"/api/jobs/{job_id}", params={"wait": wait})

    assert answer.status_code == 422, answer.text
    assert "wait" in answer.json()["error"]["fields"]


async def test_a_client_that_disconnects_frees_the_waiter(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        job_id = await push(app.admin)
        with trio.move_on_after(0.5):  # the client gives up and drops the connection
            await app.admin.get(f"/api/jobs/{job_id}?wait=60")
        assert waiters(app.state.store) == 1
        await wait_until("the waiter is freed", lambda: waiters(app.state.store) == 0)
