"""``SERVICE_HTTP_MAX_IN_FLIGHT`` over real loopback: a request beyond the cap is answered 503
with ``Retry-After`` at once, the probes still answer, and the server takes requests again as
soon as a slot is free."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import trio
from support.http import serve_app
from support.waiting import wait_until

if TYPE_CHECKING:
    from pathlib import Path

    import httpx
    import pytest

    from service.jobs import JobStore


def waiters(store: JobStore) -> int:
    """How many ``job_wait`` calls the store has running (private: no public count exists)."""
    return int(store._outcomes.waiters)  # type: ignore[attr-defined]


def _body() -> dict[str, object]:
    return {"task": "send_welcome_email", "args": {"user_id": str(uuid.uuid4())}}


async def test_a_request_beyond_the_in_flight_cap_gets_503_with_retry_after_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve_app(tmp_path, http_max_in_flight="1") as app:
        first = await app.admin.post("/api/jobs", json=_body())
        assert first.status_code == 201, first.text
        job_id = first.json()["id"]
        held: list[httpx.Response] = []

        async def hold_the_only_slot() -> None:
            held.append(await app.admin.get(f"/api/jobs/{job_id}", params={"wait": 30}))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(hold_the_only_slot)
            await wait_until("the long-poll holds the slot",
                             lambda: waiters(app.state.store) == 1)
            with trio.fail_after(5):  # refused at once, not queued behind the long-poll
                refused = await app.admin.post("/api/jobs", json=_body())
            health = await app.client.get("/healthz")
            metrics = await app.admin.get("/metrics")
            await app.state.admin().cancel(job_id)  # the long-poll answers, the slot frees
        accepted = await app.admin.post("/api/jobs", json=_body())
        stored = await app.state.store.query("SELECT count(*) FROM jobs")

    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "1"
    error = refused.json()["error"]
    assert error["code"] == "unavailable"
    assert "SERVICE_HTTP_MAX_IN_FLIGHT" in error["message"]
    assert error["request_id"] == refused.headers["X-Request-ID"]
    assert "Connection" not in refused.headers  # its small body was read: the connection stays
    assert health.status_code == 200  # probes and /metrics are never refused
    assert metrics.status_code == 200
    assert 'route="overloaded",status="503"' in metrics.text
    [answer] = held
    assert answer.status_code == 200
    assert answer.json()["state"] == "cancelled"
    assert accepted.status_code == 201, accepted.text
    sheds = [r for r in caplog.records if getattr(r, "event", None) == "http.shed"]
    assert [getattr(r, "fields", {})["shed"] for r in sheds] == [1]
    assert stored == [(2,)]  # the refused push stored nothing
